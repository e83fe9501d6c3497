"""The interface every storage backend implements, split by role.

The rest of tracehound sees storage only through these protocols, the records of `types.py` and
the errors of `errors.py`; `factory.py` picks a backend from a database URL. A backend is one
package (`storage/sqlite/`, `storage/postgres/`) and may be written from this file alone:

- `SpanWriter`: ingest. `write` stores spans and every rollup they change in one transaction and
  returns only after it committed; a span already stored (an exporter retry, possibly through
  another process) is counted as a duplicate and changes nothing.
- `RunReader`: runs, spans, groups, threads, labels and projects, as the vLLora-compatible API
  lists them (rows are plain dicts in the API's field names; `tracehound.views` shapes them).
- `AnalyticsReader`: the plain data behind /stats, breakdowns, bottlenecks, time series, span
  summaries and tool statistics. The arithmetic lives in `tracehound.analytics`.
- `Maintenance`: what the retention sweeper needs.
- `KeyStore`: API keys, read by the authenticator and written by `tracehound keys`.
- `Backend`: opening a store and the administrative commands (check, retention settings, keys),
  which also run beside a serving process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tracehound.model import Span
from tracehound.storage.queries import GroupKey, GroupQuery, RunQuery, SpanQuery
from tracehound.storage.rows import LabelCount, Page, ProjectRow, RollupRow, SpanRow, TimeBucketRow
from tracehound.storage.types import (
    BucketAggregate,
    BucketValues,
    CheckReport,
    Expired,
    KeyRecord,
    OpModel,
    Progress,
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


class SpanWriter(Protocol):
    def write(self, spans: list[Span]) -> WriteResult:
        """Store spans and their rollups in one transaction; return only after commit."""
        ...

    def now_us(self) -> int:
        """The store's clock, so that tests can move time."""
        ...


class RunReader(Protocol):
    def list_runs(self, q: RunQuery) -> Page[RollupRow]: ...

    def get_run(self, project_id: str, run_id: str) -> RollupRow | None: ...

    def run_spans(self, project_id: str, run_id: str, limit: int, offset: int) -> Page[SpanRow]: ...

    def list_spans(self, q: SpanQuery) -> Page[SpanRow]: ...

    def list_groups(self, q: GroupQuery) -> Page[RollupRow | TimeBucketRow]: ...

    def group_spans(
        self, project_id: str, key: GroupKey, limit: int, offset: int, labels: tuple[str, ...] = ()
    ) -> Page[SpanRow]: ...

    def list_threads(self, q: GroupQuery) -> Page[RollupRow]: ...

    def get_thread(self, project_id: str, thread_id: str) -> RollupRow | None: ...

    def list_labels(self, project_id: str, thread_id: str | None, limit: int) -> list[LabelCount]: ...

    def list_projects(self) -> list[ProjectRow]: ...


class AnalyticsReader(Protocol):
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

    def tool_calls(self, project_id: str, start_us: int, end_us: int) -> list[ToolCalls]:
        """Tool spans that started in [start_us, end_us), by tool (/stats/tools)."""
        ...


class Maintenance(Protocol):
    def retention_policies(self) -> dict[str, int | None]:
        """Each project's own retention in days (None: keep forever, whatever the default)."""
        ...

    def projects(self) -> list[str]: ...

    def expire(self, project_id: str, cutoff_us: int, max_runs: int) -> Expired:
        """Delete the spans of at most `max_runs` runs of the project that ended and went silent
        before `cutoff_us`, in one short transaction; rollups stay."""
        ...


class TraceStore(SpanWriter, RunReader, AnalyticsReader, Maintenance, Protocol):
    @property
    def where(self) -> str:
        """Where the data lives, for logs and messages (a path, or a URL without password)."""
        ...

    def close(self) -> None: ...


class KeyStore(Protocol):
    def version(self) -> int:
        """A number that changes whenever a key is added, revoked or deleted, in any process."""
        ...

    def load(self) -> tuple[int, list[KeyRecord]]:
        """The version and every key, read together."""
        ...

    def add(self, record: KeyRecord) -> bool:
        """False when a key with this id exists."""
        ...

    def revoke(self, key_id: str, at_us: int) -> bool: ...

    def delete_revoked(self, key_id: str) -> bool: ...

    def record_use(self, used: dict[str, int]) -> None:
        """Set keys' last use (µs); this does not change which keys are valid."""
        ...

    def close(self) -> None: ...


class Backend(Protocol):
    """One storage backend: how to open its store, and the administrative commands. Those take
    the same `StoreConfig` and must work beside a running `serve`."""

    def open_store(self, config: StoreConfig, *, readonly: bool = False) -> TraceStore:
        """`readonly`: a reader beside any running server (CLI, `tracehound mcp`); it never
        migrates, and refuses a database that is not at its schema version."""
        ...

    def open_keys(self, config: StoreConfig, *, create: bool = False) -> KeyStore:
        """`create`: make the database when missing (`keys create` before the first `serve`)."""
        ...

    def check(
        self, config: StoreConfig, *, repair: bool = False, progress: Progress | None = None
    ) -> CheckReport:
        """Recompute every rollup from the spans and compare (and with `repair`, replace)."""
        ...

    def set_retention(
        self, config: StoreConfig, project_id: str, days: int | None, *, clear: bool = False
    ) -> None: ...

    def retention_policies(self, config: StoreConfig) -> dict[str, int | None]: ...
