"""The records storage hands to the rest of tracehound: what the protocols in `protocols.py` take
and return. Every backend returns these same types, so the analytics, the API, MCP and the CLI
never see a backend's rows."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from tracehound.model import Finding, RunStatus
from tracehound.storage.usage import Usage


@dataclass(slots=True)
class WriteResult:
    inserted: int
    duplicates: int


class SpanTiming(NamedTuple):
    span_id: str
    parent_span_id: str | None
    operation_name: str
    kind: str
    model: str | None
    start_us: int
    finish_us: int
    cost: float | None
    usage_counted: int


@dataclass(frozen=True, slots=True)
class RunTimings:
    run_id: str
    status: RunStatus
    span_count: int
    start_us: int
    finish_us: int
    cost: float
    spans: list[SpanTiming]
    truncated: bool


# Operation and model of a span; the model may be None, which matches None only.
OpModel = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class StatsFilter:
    """Which runs: those of a project, narrowed as /runs narrows them."""

    project_id: str
    thread_ids: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    model_name: str | None = None


@dataclass(slots=True)
class RunFigures:
    """The runs that started in a window, by status, with their rollup sums."""

    total: int = 0
    running: int = 0
    failed: int = 0
    cost: float = 0.0
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    # Durations of the runs that are not running, ascending.
    durations_us: list[int] = field(default_factory=list)
    # Latest finish over the window's runs: no span of theirs starts after it.
    max_finish_us: int | None = None

    @property
    def completed(self) -> int:
        return self.total - self.running - self.failed


@dataclass(slots=True)
class ErrorTally:
    """One error message over some runs: the error spans carrying it, the runs with such a span
    and the latest-starting of them (start, run id; ties: the greatest id)."""

    count: int = 0
    runs: int = 0
    last: tuple[int, str] = (-(2**63), "")

    def add(self, count: int, runs: int, last: tuple[int, str]) -> None:
        self.count += count
        self.runs += runs
        if last > self.last:
            self.last = last


@dataclass(slots=True)
class StatsData:
    current: RunFigures
    previous: RunFigures | None
    errors: dict[str, ErrorTally]
    usage: Usage


@dataclass(frozen=True, slots=True)
class SummarySelection:
    project_id: str
    thread_ids: tuple[str, ...] = ()
    run_ids: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()


class SpanFacts(NamedTuple):
    """One selected span, typed columns only. `ref` is the store's handle on the row, for
    `span_attributes`. `texts_scanned` is None for a span stored before the semantic scan ran at
    ingest."""

    ref: int
    span_id: str
    run_id: str
    operation_name: str
    kind: str
    is_llm_call: int
    start_us: int
    finish_us: int
    is_error: int
    error_message: str | None
    model: str | None
    tool_name: str | None
    ttft_us: int | None
    cost: float | None
    usage_counted: int
    input_tokens: int | None
    output_tokens: int | None
    cached_tokens: int | None
    unpriced: int
    texts_scanned: int | None


@dataclass(slots=True)
class SummaryData:
    spans: list[SpanFacts] = field(default_factory=list)  # by start time, then span id
    usage: Usage = field(default_factory=Usage)  # by model
    findings: list[tuple[SpanFacts, Finding]] = field(default_factory=list)  # made at ingest


SeriesMetric = Literal[
    "runs",
    "failed_runs",
    "error_rate",
    "cost",
    "llm_calls",
    "input_tokens",
    "output_tokens",
    "duration",
]


# The metrics that can be grouped by model: the per-span ones (the rest are run figures).
BY_MODEL_METRICS: frozenset[SeriesMetric] = frozenset(
    {"llm_calls", "error_rate", "duration", "cost", "input_tokens", "output_tokens"}
)


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """Buckets [start_us, end_us) of `interval_us`; both bounds on bucket boundaries.
    `duration` stands for every percentile metric: it asks for the raw values."""

    project_id: str
    metric: SeriesMetric
    start_us: int
    end_us: int
    interval_us: int
    by_model: bool = False
    thread_ids: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    model_name: str | None = None


@dataclass(frozen=True, slots=True)
class BucketAggregate:
    """One (model, bucket) cell: `total` is the sum or count the metric adds up, or the numerator
    of a rate, whose denominator is `count` (None for sums). `key` is the model (None when not
    grouped, or for calls without a model). Cells may be missing, or present with nothing."""

    key: str | None
    bucket_start_us: int
    total: float
    count: int | None = None


@dataclass(frozen=True, slots=True)
class BucketValues:
    """One (model, bucket) cell's raw values: durations in µs, in no particular order."""

    key: str | None
    bucket_start_us: int
    values: list[int]


@dataclass(frozen=True, slots=True)
class ToolCalls:
    tool: str
    errors: int
    durations_us: list[int]  # ascending, one per call


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    name: str | None
    key_hash: str
    # Empty when the key covers every project.
    projects: tuple[str, ...]
    all_projects: bool
    created_at_us: int
    last_used_at_us: int | None = None
    revoked_at_us: int | None = None


DAY_US = 86_400_000_000


@dataclass(frozen=True, slots=True)
class Expired:
    runs: int
    spans: int


# Examples a check lists per table, at most.
MAX_LISTED = 20

Progress = Callable[[int, int], None]


@dataclass
class TableDiff:
    table: str
    missing: int = 0  # rows the spans imply that are not stored
    extra: int = 0  # stored rows no span implies
    different: int = 0  # same key, other values
    skipped: int = 0  # rows retention made uncheckable: their spans were deleted on purpose
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.different)

    def note(self, example: str) -> None:
        if len(self.examples) < MAX_LISTED:
            self.examples.append(example)


@dataclass
class CheckReport:
    spans: int
    tables: list[TableDiff]

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """How to open a store. `url` None (or `sqlite:` URLs) is the embedded SQLite file under
    `data_dir`; `postgresql://…` a PostgreSQL database, shared by any number of processes."""

    url: str | None = None
    data_dir: Path = Path("~/.tracehound")
    idle_timeout_s: float = 300.0
    clock: Callable[[], float] = time.time
    # The in-process cache of /stats' whole past hours (0: none).
    stats_cache_bytes: int = 64 * 1024 * 1024
    # PostgreSQL only: connections per process, and the longest a statement may run.
    pool_size: int = 10
    statement_timeout_ms: int = 30_000
