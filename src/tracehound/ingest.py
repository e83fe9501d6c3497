"""The ingest pipeline shared by the gRPC and HTTP receivers.

Decoding and normalising run on worker threads; all writes go through one writer thread fed by
a queue, which commits several waiting requests in one transaction (group commit) and answers
each only after that commit.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracehound.conventions import normalize
from tracehound.model import Span
from tracehound.otlp.decode import Decoded, decompress, parse_request, raw_spans
from tracehound.storage import TraceStore, WriteResult

log = logging.getLogger(__name__)

# Group commit: take waiting requests until this many spans are in one transaction.
MAX_SPANS_PER_COMMIT = 20_000
DECODER_THREADS = 1


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


class Ingestor:
    def __init__(self, store: TraceStore, *, max_decompressed_bytes: int) -> None:
        self.store = store
        self.max_decompressed_bytes = max_decompressed_bytes
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        # Decoding is pure Python: under the GIL, more threads would only contend. One decoder
        # thread and the writer thread make a two-stage pipeline, the writer's SQLite work
        # (which releases the GIL) overlapping the next request's decoding.
        self._decoder = ThreadPoolExecutor(
            max_workers=DECODER_THREADS, thread_name_prefix="tracehound-decode"
        )
        self._thread = threading.Thread(target=self._run, name="tracehound-writer", daemon=True)
        self._thread.start()

    # -- front door -----------------------------------------------------------------------

    async def decode_http(
        self, body: bytes, content_type: str | None, content_encoding: str | None, project: str | None
    ) -> tuple[list[Span], Decoded]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._decoder, self.decode, body, content_type, content_encoding, project
        )

    async def decode_grpc(
        self, request: ExportTraceServiceRequest, project: str | None
    ) -> tuple[list[Span], Decoded]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._decoder, self.from_request, request, project)

    def decode(
        self, body: bytes, content_type: str | None, content_encoding: str | None, project: str | None
    ) -> tuple[list[Span], Decoded]:
        """Bytes to normalised spans; raises OtlpError for a request that cannot be read."""
        data = decompress(body, content_encoding, self.max_decompressed_bytes)
        return self.from_request(parse_request(data, content_type), project)

    def from_request(
        self, request: ExportTraceServiceRequest, project: str | None
    ) -> tuple[list[Span], Decoded]:
        decoded = raw_spans(request, project)
        received_us = int(time.time() * 1_000_000)
        return [normalize(raw, received_us) for raw in decoded.spans], decoded

    async def submit(self, spans: list[Span], decoded: Decoded) -> IngestResult:
        """Commit spans; return once they are durable in the store."""
        result = WriteResult(inserted=0, duplicates=0)
        if spans:
            future: Future[WriteResult] = Future()
            self._queue.put(_Job(spans, future))
            result = await asyncio.wrap_future(future)
        return IngestResult(
            accepted=result.inserted,
            duplicates=result.duplicates,
            rejected=decoded.rejected,
            message=decoded.message,
        )

    def submit_sync(self, spans: list[Span]) -> WriteResult:
        future: Future[WriteResult] = Future()
        self._queue.put(_Job(spans, future))
        return future.result()

    def close(self) -> None:
        self._decoder.shutdown(wait=True)
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
            self._commit(jobs)
            if stop:
                return

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            results = self._write_together(jobs)
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
            log.exception("failed to store %d spans", len(job.spans))
            job.future.set_exception(exc)
