"""The PostgreSQL backend: a pool of connections per process, any number of processes on one
database. Writes take per-trace advisory locks (writer.py), so every process may ingest; reads
take a pooled connection per call, and the reads that must agree with each other run in one
REPEATABLE READ snapshot (each module says which)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tracehound.model import Span
from tracehound.storage.errors import ReadOnlyStore
from tracehound.storage.postgres import bottlenecks as pg_bottlenecks
from tracehound.storage.postgres import retention as pg_retention
from tracehound.storage.postgres import runs as pg_runs
from tracehound.storage.postgres import spans as pg_spans
from tracehound.storage.postgres import stats as pg_stats
from tracehound.storage.postgres import stats_hours as pg_stats_hours
from tracehound.storage.postgres import summary as pg_summary
from tracehound.storage.postgres import timeseries as pg_timeseries
from tracehound.storage.postgres import tools as pg_tools
from tracehound.storage.postgres.connect import Conn, Pool, describe, startup
from tracehound.storage.postgres.schema import check_current, migrate
from tracehound.storage.postgres.stats_hours import StatsCache
from tracehound.storage.postgres.writer import write_spans
from tracehound.storage.queries import GroupKey, GroupQuery, RunQuery, SpanQuery
from tracehound.storage.rows import LabelCount, Page, ProjectRow, RollupRow, SpanRow, TimeBucketRow
from tracehound.storage.series import model_aggregates, model_values, on_span_hours
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
    StoreConfig,
    SummaryData,
    SummarySelection,
    ToolCalls,
    WriteResult,
)
from tracehound.storage.usage import Usage, UsageKey


class PostgresStore:
    """`readonly=True` (the CLI and `tracehound mcp` in process): no migration, and a database
    not at this tracehound's schema is refused; its sessions are read-only."""

    def __init__(self, config: StoreConfig, *, readonly: bool = False) -> None:
        url = config.url or ""
        self.url = url
        self.where = describe(url)
        self.readonly = readonly
        self.idle_timeout_us = int(config.idle_timeout_s * 1_000_000)
        self.clock: Callable[[], float] = config.clock
        with startup(url) as conn:
            if readonly:
                check_current(conn)
            else:
                migrate(conn)
        self._pool = Pool(
            url,
            size=config.pool_size,
            statement_timeout_ms=config.statement_timeout_ms,
            readonly=readonly,
        )
        self.stats_cache = StatsCache(config.stats_cache_bytes) if config.stats_cache_bytes > 0 else None

    def cutoff_us(self) -> int:
        """Runs whose last span arrived after this instant, with no root yet, are running."""
        return self.now_us() - self.idle_timeout_us

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def close(self) -> None:
        self._pool.close()

    # -- writes ---------------------------------------------------------------------------

    def write(self, spans: list[Span]) -> WriteResult:
        if not spans:
            return WriteResult(inserted=0, duplicates=0)
        if self.readonly:
            raise ReadOnlyStore(f"{self.where} was opened read-only")
        with self._pool.connection() as conn:
            return write_spans(conn, spans)

    # -- reads ----------------------------------------------------------------------------

    def list_runs(self, q: RunQuery) -> Page[RollupRow]:
        with self._pool.connection() as conn:
            return pg_runs.list_runs(conn, q, self.cutoff_us())

    def get_run(self, project_id: str, run_id: str) -> RollupRow | None:
        with self._pool.connection() as conn:
            return pg_runs.get_run(conn, project_id, run_id, self.cutoff_us())

    def run_spans(self, project_id: str, run_id: str, limit: int, offset: int) -> Page[SpanRow]:
        key = GroupKey(group_by="run", run_id=run_id)
        with self._pool.connection() as conn:
            return pg_spans.group_spans(conn, project_id, key, limit, offset)

    def list_spans(self, q: SpanQuery) -> Page[SpanRow]:
        with self._pool.connection() as conn:
            return pg_spans.list_spans(conn, q)

    def list_groups(self, q: GroupQuery) -> Page[RollupRow | TimeBucketRow]:
        with self._pool.connection() as conn:
            if q.group_by == "time":
                return pg_spans.list_time_groups(conn, q)
            if q.group_by == "thread":
                return pg_runs.list_threads(conn, q, self.cutoff_us())
            return pg_runs.list_run_groups(conn, q, self.cutoff_us())

    def group_spans(
        self, project_id: str, key: GroupKey, limit: int, offset: int, labels: tuple[str, ...] = ()
    ) -> Page[SpanRow]:
        with self._pool.connection() as conn:
            return pg_spans.group_spans(conn, project_id, key, limit, offset, labels)

    def list_threads(self, q: GroupQuery) -> Page[RollupRow]:
        with self._pool.connection() as conn:
            return pg_runs.list_threads(conn, q, self.cutoff_us())

    def get_thread(self, project_id: str, thread_id: str) -> RollupRow | None:
        with self._pool.connection() as conn:
            return pg_runs.get_thread(conn, project_id, thread_id, self.cutoff_us())

    def list_labels(self, project_id: str, thread_id: str | None, limit: int) -> list[LabelCount]:
        with self._pool.connection() as conn:
            return pg_spans.list_labels(conn, project_id, thread_id, limit)

    def list_projects(self) -> list[ProjectRow]:
        with self._pool.connection() as conn:
            return pg_spans.list_projects(conn)

    def stats(self, f: StatsFilter, window: tuple[int, int], previous: tuple[int, int] | None) -> StatsData:
        with self._pool.connection() as conn:
            return pg_stats.stats_data(conn, f, window, previous, self.cutoff_us(), self.stats_cache)

    def usage_breakdown(self, f: StatsFilter, start_us: int, end_us: int, key: UsageKey) -> Usage:
        with self._pool.connection() as conn:
            return pg_stats.breakdown(conn, f, start_us, end_us, key, self.stats_cache)

    def run_usage(self, project_id: str, run_id: str) -> Usage:
        with self._pool.connection() as conn:
            return pg_stats.run_usage(conn, project_id, run_id)

    def run_timings(self, project_id: str, run_id: str, max_spans: int) -> RunTimings | None:
        with self._pool.connection() as conn:
            return pg_bottlenecks.run_timings(conn, project_id, run_id, self.cutoff_us(), max_spans)

    def recent_durations(
        self,
        project_id: str,
        pairs: list[OpModel],
        since_us: int,
        until_us: int,
        max_sample: int,
        max_scan: int,
    ) -> dict[OpModel, list[int]]:
        with self._pool.connection() as conn:
            return pg_bottlenecks.recent_durations(
                conn, project_id, pairs, since_us, until_us, max_sample, max_scan
            )

    def timeseries_aggregates(self, q: SeriesQuery) -> list[BucketAggregate]:
        with self._pool.connection() as conn:
            if on_span_hours(q):
                return model_aggregates(q.metric, self._model_cells(conn, q))
            return pg_timeseries.bucket_aggregates(conn, q, self.cutoff_us())

    def _model_cells(self, conn: Conn, q: SeriesQuery) -> list[ModelCell]:
        # By model by whole hours: the spans parts /stats keeps (a week is 168 cached hours,
        # not a scan of every LLM call of the week).
        buckets = (q.start_us, q.end_us, q.interval_us)
        return pg_stats_hours.hour_model_cells(conn, q.project_id, buckets, self.stats_cache)

    def timeseries_values(self, q: SeriesQuery) -> list[BucketValues]:
        with self._pool.connection() as conn:
            if on_span_hours(q):
                return model_values(self._model_cells(conn, q))
            return pg_timeseries.bucket_values(conn, q, self.cutoff_us(), self.stats_cache)

    def tool_calls(self, project_id: str, start_us: int, end_us: int) -> list[ToolCalls]:
        with self._pool.connection() as conn:
            return pg_tools.tool_calls(conn, project_id, start_us, end_us)

    def span_summary(self, sel: SummarySelection, findings: bool = True) -> SummaryData:
        with self._pool.connection() as conn:
            return pg_summary.summary_data(conn, sel, findings)

    def span_attributes(self, project_id: str, refs: Sequence[int]) -> dict[int, bytes]:
        with self._pool.connection() as conn:
            return pg_summary.span_attributes(conn, project_id, refs)

    # -- retention ------------------------------------------------------------------------

    def retention_policies(self) -> dict[str, int | None]:
        with self._pool.connection() as conn:
            return pg_retention.policies(conn)

    def projects(self) -> list[str]:
        with self._pool.connection() as conn:
            return pg_retention.projects(conn)

    def expire(self, project_id: str, cutoff_us: int, max_runs: int) -> Expired:
        if self.readonly:
            raise ReadOnlyStore(f"{self.where} was opened read-only")
        with self._pool.connection() as conn:
            return pg_retention.expire(conn, project_id, cutoff_us, self.now_us(), max_runs)
