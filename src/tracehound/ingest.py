"""The ingest pipeline shared by the gRPC and HTTP receivers.

Decoding and normalising run in decoding processes (or one thread); all writes go through one
writer thread fed by a queue, which commits several waiting requests in one transaction (group
commit) and answers each only after that commit.

Both stages are bounded (backpressure): request bodies waiting to be decoded, in bytes, and
decoded spans waiting for the writer. An export that would pass either bound is refused with
`Overloaded` (HTTP 503 + Retry-After, gRPC RESOURCE_EXHAUSTED + RetryInfo), which OTLP exporters
retry, so memory stays bounded and nothing is dropped without the exporter being told.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracehound.config import Settings
from tracehound.model import Span
from tracehound.otlp import decoder_process, normalizing
from tracehound.otlp.decode import OtlpError
from tracehound.otlp.limits import Limits
from tracehound.otlp.normalizing import Normalized
from tracehound.storage import TraceStore, WriteResult
from tracehound.storage.errors import StoreUnavailable

T = TypeVar("T")

log = logging.getLogger(__name__)

# Group commit: take waiting requests until this many spans are in one transaction.
MAX_SPANS_PER_COMMIT = 20_000
GC_THRESHOLD = 100_000
# Refused exports are logged at most this often, with a count.
REFUSAL_LOG_EVERY_S = 10.0


class Overloaded(OtlpError):
    """Ingest is behind: the export is refused whole, to be retried after `retry_after_s`."""


@dataclass(slots=True)
class IngestResult:
    accepted: int
    duplicates: int
    rejected: int
    message: str


@dataclass(slots=True)
class _Job:
    spans: list[Span]
    future: Future[WriteResult]


class _Backlog:
    """What waits in one stage of the pipeline, against a bound. One request is always let in
    when the stage is empty, so a request larger than the bound is slow, never refused forever."""

    def __init__(self, bound: int, what: str, setting: str) -> None:
        self.bound = bound
        self.what = what
        self.setting = setting
        self.size = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.size and self.size + n > self.bound:
                return False
            self.size += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.size -= n


def _not_stored(exc: Exception) -> OtlpError:
    return OtlpError(503, f"the spans could not be stored: {exc}; retry the export")


def tune_gc() -> None:
    """Ingest allocates many short-lived containers that reference counting frees; with the
    default thresholds the cycle collector runs every 700 allocations and rescans everything
    alive (whole batches of spans), which costs as much as decoding them. Collect far less often,
    and leave start-up objects out of the scans."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 50, 100)


def _start_decoder(parent: int) -> None:
    decoder_process.bind_to_parent(parent)
    tune_gc()


class Ingestor:
    def __init__(self, store: TraceStore, settings: Settings) -> None:
        self.store = store
        self.limits = Limits.of(settings)
        self.retry_after_s = settings.retry_after_s
        self._bodies = _Backlog(
            settings.max_pending_bytes, "bytes of requests are waiting to be decoded", "max-pending-bytes"
        )
        self._spans = _Backlog(
            settings.max_pending_spans, "spans are waiting to be written", "max-pending-spans"
        )
        self.refused = 0  # exports refused by backpressure, since start
        self._refusal_logged_at = -REFUSAL_LOG_EVERY_S
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        # Decoding is pure Python. In decoding processes it runs beside the writer on another
        # core; with none, one thread does it (more threads would only contend for the GIL),
        # overlapping the writer's SQLite work, which releases the GIL.
        self._processes = settings.decode_processes
        self._decoder: Executor = self._new_decoder()
        self._thread = threading.Thread(target=self._run, name="tracehound-writer", daemon=True)
        self._thread.start()

    def _new_decoder(self) -> Executor:
        if self._processes > 0:
            # spawn, not fork: the parent runs threads (gRPC, the writer) that fork would copy
            # in whatever state they are in.
            return ProcessPoolExecutor(
                self._processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_decoder,
                initargs=(os.getpid(),),
            )
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracehound-decode")

    # -- front door -----------------------------------------------------------------------

    async def normalize_http(
        self, body: bytes, content_type: str | None, content_encoding: str | None, project: str | None
    ) -> Normalized:
        """Bytes to normalised spans; raises OtlpError for a request that cannot be read, and
        Overloaded when too many bytes already wait to be decoded."""
        fn = normalizing.normalize_body if self._processes == 0 else normalizing.normalize_body_packed
        return await self._decode(len(body), fn, body, content_type, content_encoding, project)

    async def normalize_grpc(self, request: ExportTraceServiceRequest, project: str | None) -> Normalized:
        if self._processes == 0:
            return await self._decode(request.ByteSize(), normalizing.normalize_request, request, project)
        data = request.SerializeToString()
        return await self._decode(len(data), normalizing.normalize_request_packed, data, project)

    async def _decode(self, size: int, fn: Callable[..., Any], *args: Any) -> Normalized:
        self._admit(self._bodies, size)
        try:
            result = await self._in_decoder(fn, *args, self.limits)
        finally:
            self._bodies.give(size)
        return result if isinstance(result, Normalized) else normalizing.unpack(result)

    def _admit(self, backlog: _Backlog, n: int) -> None:
        if backlog.take(n):
            return
        self.refused += 1
        now = time.monotonic()
        if now - self._refusal_logged_at >= REFUSAL_LOG_EVERY_S:
            log.warning(
                "ingest is behind: %d exports refused with 503 / RESOURCE_EXHAUSTED so far (%s)",
                self.refused,
                backlog.setting,
            )
            self._refusal_logged_at = now
        raise Overloaded(
            503,
            f"ingest is behind: {backlog.size:,} {backlog.what} (--{backlog.setting} "
            f"{backlog.bound}); retry after {self.retry_after_s} s",
            self.retry_after_s,
        )

    async def _in_decoder(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._decoder, fn, *args)
        except BrokenExecutor:
            # A decoding process died (killed, out of memory): start new ones; the exporter
            # retries this request after the 503.
            log.error("a decoding process died; restarting the decoder pool")
            self._decoder = self._new_decoder()
            raise OtlpError(503, "the decoder restarted; retry the export") from None

    async def submit(self, normalized: Normalized) -> IngestResult:
        """Commit spans; return once they are durable in the store. Raises Overloaded when too
        many spans already wait for the writer."""
        result = WriteResult(inserted=0, duplicates=0)
        if normalized.spans:
            # Released by the writer once the job is committed, even if the caller has gone.
            self._admit(self._spans, len(normalized.spans))
            future: Future[WriteResult] = Future()
            # The job is committed even if its exporter gives up waiting (a deadline, a closed
            # connection) and this await is cancelled: a running future cannot be cancelled, so
            # the writer's set_result never meets a cancelled one.
            future.set_running_or_notify_cancel()
            self._queue.put(_Job(normalized.spans, future))
            result = await asyncio.wrap_future(future)
        return IngestResult(
            accepted=result.inserted,
            duplicates=result.duplicates,
            rejected=normalized.rejected,
            message=normalized.message,
        )

    def close(self) -> None:
        self._decoder.shutdown(wait=True, cancel_futures=True)
        self._queue.put(None)
        self._thread.join(timeout=30)

    # -- writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            size = len(job.spans)
            stop = False
            while size < MAX_SPANS_PER_COMMIT:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                jobs.append(more)
                size += len(more.spans)
            try:
                self._commit(jobs)
            except Exception as exc:
                # The writer must outlive any one failure, or ingest would stop for good.
                log.exception("the writer failed on %d spans", size)
                for j in jobs:
                    if not j.future.done():
                        j.future.set_exception(_not_stored(exc))
            finally:
                self._spans.give(size)
            if stop:
                return

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            results = self._write_together(jobs)
        except StoreUnavailable as exc:
            # The database is away: every job would fail alike, so none is retried alone. Not
            # committed, so not acknowledged; exporters retry after Retry-After.
            log.warning("%d exports refused with 503 / UNAVAILABLE: %s", len(jobs), exc)
            for job in jobs:
                job.future.set_exception(
                    OtlpError(
                        503, f"the spans could not be stored: {exc}; retry the export", self.retry_after_s
                    )
                )
            return
        except Exception:
            # One bad request must not fail its neighbours: retry each on its own.
            for job in jobs:
                self._write_alone(job)
            return
        for job, result in zip(jobs, results, strict=True):
            job.future.set_result(result)

    def _write_together(self, jobs: list[_Job]) -> list[WriteResult]:
        if len(jobs) == 1:
            return [self.store.write(jobs[0].spans)]
        spans = [s for job in jobs for s in job.spans]
        total = self.store.write(spans)
        # Duplicates inside one group commit are attributed to the first job with spare spans;
        # callers only report accepted counts, so exact attribution is not needed.
        out: list[WriteResult] = []
        dupes = total.duplicates
        for job in jobs:
            d = min(dupes, len(job.spans))
            dupes -= d
            out.append(WriteResult(inserted=len(job.spans) - d, duplicates=d))
        return out

    def _write_alone(self, job: _Job) -> None:
        try:
            job.future.set_result(self.store.write(job.spans))
        except Exception as exc:
            if isinstance(exc, StoreUnavailable):
                log.warning("failed to store %d spans: %s", len(job.spans), exc)
            else:
                log.exception("failed to store %d spans", len(job.spans))
            # Not acknowledged, so not lost: the exporter retries after the 503 / UNAVAILABLE
            # (the file locked by another process past the busy timeout, a full disk).
            job.future.set_exception(
                OtlpError(503, f"the spans could not be stored: {exc}; retry the export", self.retry_after_s)
            )
