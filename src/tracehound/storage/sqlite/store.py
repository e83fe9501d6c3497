"""The embedded SQLite backend: one file in WAL mode, one writer connection, and one read
connection per thread (WAL lets readers run beside the writer)."""

from __future__ import annotations

import fcntl
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from tracehound.model import Span
from tracehound.storage.errors import ReadOnlyStore, StoreLocked, StoreMissing
from tracehound.storage.queries import GroupKey, GroupQuery, RunQuery, SpanQuery
from tracehound.storage.rows import LabelCount, Page, ProjectRow, RollupRow, SpanRow, TimeBucketRow
from tracehound.storage.series import model_aggregates, model_values, on_hour_parts, on_span_hours
from tracehound.storage.sqlite import retention as sqlite_retention
from tracehound.storage.sqlite import runs as sqlite_runs
from tracehound.storage.sqlite import spans as sqlite_spans
from tracehound.storage.sqlite import stats as sqlite_stats
from tracehound.storage.sqlite import summary as sqlite_summary
from tracehound.storage.sqlite.bottlenecks import recent_durations, run_timings
from tracehound.storage.sqlite.schema import check_current, migrate
from tracehound.storage.sqlite.stats_hours import StatsCache, hour_durations, hour_model_cells
from tracehound.storage.sqlite.timeseries import bucket_aggregates, bucket_values
from tracehound.storage.sqlite.tools import tool_calls
from tracehound.storage.sqlite.writer import write_spans
from tracehound.storage.stats_hours import ModelCell
from tracehound.storage.types import (
    BucketAggregate,
    BucketValues,
    Expired,
    OpModel,
    RunTimings,
    SeriesQuery,
    StatsData,
    StatsFilter,
    SummaryData,
    SummarySelection,
    ToolCalls,
    WriteResult,
)
from tracehound.storage.usage import Usage, UsageKey

log = logging.getLogger(__name__)

DB_FILENAME = "tracehound.db"
LOCK_FILENAME = "tracehound.lock"


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL mode keeps every commit atomic and consistent; a power cut may lose the last
    # commits but never corrupts the file. Issue-level durability (kill -9) is unaffected.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute("PRAGMA temp_store = MEMORY")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
        # Reads through mmap share the OS page cache across connections, so a request on a
        # thread whose connection is new still finds hot pages without a read() per page.
        conn.execute("PRAGMA mmap_size = 1073741824")
    return conn


def lock_data_dir(data_dir: Path) -> IO[bytes]:
    """One writer per database file: the writer de-duplicates spans on the assumption that no
    other process inserts into the same file."""
    handle = open(data_dir / LOCK_FILENAME, "wb")  # noqa: SIM115 - held open while the store lives
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StoreLocked(f"{data_dir} is in use by another tracehound process") from None
    return handle


class _Checkpointer:
    """Keeps the WAL short without stalling commits. Every `interval_s` it copies the WAL into
    the database file (a PASSIVE checkpoint, beside the writer), then copies the small tail
    written meanwhile while holding the write lock: with the WAL fully copied, the next commit
    starts it over from the beginning."""

    def __init__(self, path: Path, write_lock: threading.Lock, interval_s: float = 1.0) -> None:
        self._conn = connect(path, readonly=False)
        self._write_lock = write_lock
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracehound-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                _, wal_frames, _ = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if wal_frames > 0:
                    with self._write_lock:
                        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error:
                log.exception("WAL checkpoint failed; will retry")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._conn.close()


class SqliteStore:
    """`readonly=True` opens the file beside a running server (the CLI and `tracehound mcp`
    reading the database directly): no lock, no writer, no checkpoints, and no migration; and no
    cache of /stats' past hours, which only the writer of the file can keep current.
    `stats_cache_bytes` bounds that cache (0: none)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        idle_timeout_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        readonly: bool = False,
        stats_cache_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.path = data_dir / DB_FILENAME
        self.where = str(self.path)
        self.idle_timeout_us = int(idle_timeout_s * 1_000_000)
        self.clock = clock
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._lock_file: IO[bytes] | None = None
        self._writer: sqlite3.Connection | None = None
        self._checkpointer: _Checkpointer | None = None
        self.stats_cache: StatsCache | None = None
        if readonly:
            if not self.path.is_file():
                raise StoreMissing(f"no tracehound database at {self.path}")
            check_current(self._read())
            return
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = lock_data_dir(data_dir)
        writer = connect(self.path, readonly=False)
        try:
            migrate(writer)
        except BaseException:
            # A file this tracehound cannot open must not stay locked by the failed attempt.
            writer.close()
            self._lock_file.close()
            raise
        # Checkpoints copy the WAL into the database file and fsync it: done inside a commit they
        # stall ingest, so a background thread runs them on its own connection instead.
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        # After a burst the WAL file is cut back to this size once it starts over.
        writer.execute("PRAGMA journal_size_limit = 67108864")
        self._writer = writer
        self._checkpointer = _Checkpointer(self.path, self._write_lock)
        if stats_cache_bytes > 0:
            self.stats_cache = StatsCache(stats_cache_bytes)

    # -- plumbing -------------------------------------------------------------------------

    def _read(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def cutoff_us(self) -> int:
        """Runs whose last span arrived after this instant, with no root yet, are running."""
        return self.now_us() - self.idle_timeout_us

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def close(self) -> None:
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._writer is not None:
            with self._write_lock:
                self._writer.execute("PRAGMA optimize")
                self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._writer.close()
        if self._lock_file is not None:
            self._lock_file.close()

    # -- writes ---------------------------------------------------------------------------

    def write(self, spans: list[Span]) -> WriteResult:
        if not spans:
            return WriteResult(inserted=0, duplicates=0)
        if self._writer is None:
            raise ReadOnlyStore(f"{self.path} was opened read-only")
        versions = None if self.stats_cache is None else self.stats_cache.versions
        with self._write_lock:
            return write_spans(self._writer, spans, versions)

    # -- reads ----------------------------------------------------------------------------

    def list_runs(self, q: RunQuery) -> Page[RollupRow]:
        return sqlite_runs.list_runs(self._read(), q, self.cutoff_us())

    def get_run(self, project_id: str, run_id: str) -> RollupRow | None:
        return sqlite_runs.get_run(self._read(), project_id, run_id, self.cutoff_us())

    def run_spans(self, project_id: str, run_id: str, limit: int, offset: int) -> Page[SpanRow]:
        key = GroupKey(group_by="run", run_id=run_id)
        return sqlite_spans.group_spans(self._read(), project_id, key, limit, offset)

    def list_spans(self, q: SpanQuery) -> Page[SpanRow]:
        return sqlite_spans.list_spans(self._read(), q)

    def list_groups(self, q: GroupQuery) -> Page[RollupRow | TimeBucketRow]:
        conn = self._read()
        if q.group_by == "time":
            return sqlite_spans.list_time_groups(conn, q)
        if q.group_by == "thread":
            return sqlite_runs.list_threads(conn, q, self.cutoff_us())
        return sqlite_runs.list_run_groups(conn, q, self.cutoff_us())

    def group_spans(
        self, project_id: str, key: GroupKey, limit: int, offset: int, labels: tuple[str, ...] = ()
    ) -> Page[SpanRow]:
        return sqlite_spans.group_spans(self._read(), project_id, key, limit, offset, labels)

    def list_threads(self, q: GroupQuery) -> Page[RollupRow]:
        return sqlite_runs.list_threads(self._read(), q, self.cutoff_us())

    def get_thread(self, project_id: str, thread_id: str) -> RollupRow | None:
        return sqlite_runs.get_thread(self._read(), project_id, thread_id, self.cutoff_us())

    def list_labels(self, project_id: str, thread_id: str | None, limit: int) -> list[LabelCount]:
        return sqlite_spans.list_labels(self._read(), project_id, thread_id, limit)

    def list_projects(self) -> list[ProjectRow]:
        return sqlite_spans.list_projects(self._read())

    def stats(self, f: StatsFilter, window: tuple[int, int], previous: tuple[int, int] | None) -> StatsData:
        return sqlite_stats.stats_data(self._read(), f, window, previous, self.cutoff_us(), self.stats_cache)

    def usage_breakdown(self, f: StatsFilter, start_us: int, end_us: int, key: UsageKey) -> Usage:
        return sqlite_stats.breakdown(self._read(), f, start_us, end_us, key, self.stats_cache)

    def run_usage(self, project_id: str, run_id: str) -> Usage:
        return sqlite_stats.run_usage(self._read(), project_id, run_id)

    def run_timings(self, project_id: str, run_id: str, max_spans: int) -> RunTimings | None:
        return run_timings(self._read(), project_id, run_id, self.cutoff_us(), max_spans)

    def recent_durations(
        self,
        project_id: str,
        pairs: list[OpModel],
        since_us: int,
        until_us: int,
        max_sample: int,
        max_scan: int,
    ) -> dict[OpModel, list[int]]:
        return recent_durations(self._read(), project_id, pairs, since_us, until_us, max_sample, max_scan)

    def timeseries_aggregates(self, q: SeriesQuery) -> list[BucketAggregate]:
        if on_span_hours(q):
            return model_aggregates(q.metric, self._model_cells(q))
        return bucket_aggregates(self._read(), q, self.cutoff_us())

    def _model_cells(self, q: SeriesQuery) -> list[ModelCell]:
        # By model by whole hours: the spans parts /stats keeps (a week is 168 cached hours,
        # not a scan of every LLM call of the week).
        buckets = (q.start_us, q.end_us, q.interval_us)
        return hour_model_cells(self._read(), q.project_id, buckets, self.stats_cache)

    def timeseries_values(self, q: SeriesQuery) -> list[BucketValues]:
        if on_span_hours(q):
            return model_values(self._model_cells(q))
        if self.stats_cache is None or not on_hour_parts(q):
            return bucket_values(self._read(), q, self.cutoff_us())
        # Durations of runs by whole hours: the parts /stats keeps.
        buckets = (q.start_us, q.end_us, q.interval_us)
        cells = hour_durations(self._read(), q.project_id, buckets, self.cutoff_us(), self.stats_cache)
        return [BucketValues(None, start, durations) for start, durations in cells]

    def tool_calls(self, project_id: str, start_us: int, end_us: int) -> list[ToolCalls]:
        return tool_calls(self._read(), project_id, start_us, end_us)

    def span_summary(self, sel: SummarySelection, findings: bool = True) -> SummaryData:
        return sqlite_summary.summary_data(self._read(), sel, findings)

    def span_attributes(self, project_id: str, refs: Sequence[int]) -> dict[int, bytes]:
        return sqlite_summary.span_attributes(self._read(), project_id, refs)

    # -- retention ------------------------------------------------------------------------

    def retention_policies(self) -> dict[str, int | None]:
        return sqlite_retention.policies(self._read())

    def projects(self) -> list[str]:
        return sqlite_retention.projects(self._read())

    def expire(self, project_id: str, cutoff_us: int, max_runs: int) -> Expired:
        """One batch of `sqlite_retention.expire`; the write lock is held for that batch only,
        so ingest waits at most one short transaction."""
        if self._writer is None:
            raise ReadOnlyStore(f"{self.path} was opened read-only")
        with self._write_lock:
            return sqlite_retention.expire(self._writer, project_id, cutoff_us, self.now_us(), max_runs)
