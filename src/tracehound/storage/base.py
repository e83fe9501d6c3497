"""The narrow interface every storage backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from tracehound.model import Span
from tracehound.storage.queries import GroupKey, GroupQuery, Page, RunQuery, SpanQuery
from tracehound.storage.sqlite_bottlenecks import OpModel, RunTimings
from tracehound.storage.sqlite_stats import StatsFilter
from tracehound.storage.sqlite_stats_parts import StatsData
from tracehound.storage.sqlite_summary import SummaryData, SummarySelection
from tracehound.storage.sqlite_timeseries import BucketAggregate, BucketValues, SeriesQuery
from tracehound.storage.sqlite_tools import ToolCalls
from tracehound.storage.sqlite_writer import WriteResult
from tracehound.storage.usage import Usage, UsageKey


class TraceStore(Protocol):
    def write(self, spans: list[Span]) -> WriteResult:
        """Store spans and their rollups in one transaction; return only after commit."""
        ...

    def now_us(self) -> int:
        """The store's clock, so that tests can move time."""
        ...

    def list_runs(self, q: RunQuery) -> Page: ...

    def get_run(self, project_id: str, run_id: str) -> dict[str, Any] | None: ...

    def run_spans(self, project_id: str, run_id: str, limit: int, offset: int) -> Page: ...

    def list_spans(self, q: SpanQuery) -> Page: ...

    def list_groups(self, q: GroupQuery) -> Page: ...

    def group_spans(
        self, project_id: str, key: GroupKey, limit: int, offset: int, labels: tuple[str, ...] = ()
    ) -> Page: ...

    def list_threads(self, q: GroupQuery) -> Page: ...

    def get_thread(self, project_id: str, thread_id: str) -> dict[str, Any] | None: ...

    def list_labels(self, project_id: str, thread_id: str | None, limit: int) -> list[dict[str, Any]]: ...

    def list_projects(self) -> list[dict[str, Any]]: ...

    def stats(self, f: StatsFilter, window: tuple[int, int], previous: tuple[int, int] | None) -> StatsData:
        """/stats: the runs of `window` [start, end) and of `previous` by status, their error
        messages, and the usage of their spans by model, all read in one snapshot."""
        ...

    def usage_breakdown(self, f: StatsFilter, start_us: int, end_us: int, key: UsageKey) -> Usage:
        """/stats/breakdown: the usage of the spans of the window's runs, by `key`."""
        ...

    def run_usage(self, project_id: str, run_id: str) -> Usage:
        """The usage of one run's spans by model (/runs/{run_id}/details)."""
        ...

    def run_timings(self, project_id: str, run_id: str, max_spans: int) -> RunTimings | None:
        """A run's rollup and its first `max_spans` spans by start (typed timing and cost
        columns only), for /runs/{run_id}/bottlenecks; None for an unknown run."""
        ...

    def recent_durations(
        self,
        project_id: str,
        pairs: list[OpModel],
        since_us: int,
        until_us: int,
        max_sample: int,
        max_scan: int,
    ) -> dict[OpModel, list[int]]:
        """Per (operation, model), durations (µs, ascending) of spans that started in
        [since_us, until_us]: of the `max_scan` most recent of the operation, the `max_sample`
        most recent with the model."""
        ...

    def timeseries_aggregates(self, q: SeriesQuery) -> list[BucketAggregate]:
        """Per-bucket sums, counts and rate parts for /metrics/timeseries."""
        ...

    def timeseries_values(self, q: SeriesQuery) -> list[BucketValues]:
        """Per-bucket raw durations (µs), for the percentile metrics."""
        ...

    def span_summary(self, sel: SummarySelection, findings: bool = True) -> SummaryData:
        """/spans/summary: the typed columns of the selected spans (by start), their usage by
        model and (when `findings`) the semantic findings made at ingest, read in one snapshot."""
        ...

    def span_attributes(self, project_id: str, refs: Sequence[int]) -> dict[int, bytes]:
        """The stored attribute JSON of a few spans, by the `ref` of their `SpanFacts`: what the
        semantic scan reads of spans stored before it ran at ingest."""
        ...

    def close(self) -> None: ...

    def tool_calls(self, project_id: str, start_us: int, end_us: int) -> list[ToolCalls]: ...
