"""The typed rows that the run, thread, span and group reads return, on every backend.

They hold tracehound's own fields, not any API's: `views.py` is the one place that shapes them into
vLLora's JSON (renaming `key` to `run_id`, adding the fields vLLora has and we do not fill). A
backend builds them with `storage/shape.py`, so the two backends cannot drift apart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tracehound.model import RunStatus

T = TypeVar("T", covariant=True)


@dataclass(frozen=True, slots=True)
class RollupRow:
    """A run's or a thread's rollup (`key` is the run id or the thread id), with the computed
    fields: `status` from the clock, `duration_ms` over all its spans."""

    key: str
    thread_ids: list[str]
    run_ids: list[str]
    trace_ids: list[str]  # of its root spans
    all_trace_ids: list[str]
    root_span_ids: list[str]
    request_models: list[str]
    used_models: list[str]
    used_tools: list[str]
    labels: list[str]
    errors: list[str]
    llm_calls: int
    tool_calls: int
    cost: float
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    start_time_us: int
    finish_time_us: int
    root_start_us: int | None
    root_finish_us: int | None
    duration_ms: float
    status: RunStatus
    error_count: int
    span_count: int
    spans_expired_us: int | None = None  # runs: when retention deleted its spans
    title: str | None = None  # threads

    @property
    def has_errors(self) -> bool:
        return self.error_count > 0


@dataclass(frozen=True, slots=True)
class TimeBucketRow:
    """The spans of one time bucket, aggregated (`key` is the bucket's start in µs)."""

    key: int
    thread_ids: list[str]
    trace_ids: list[str]
    run_ids: list[str]
    root_span_ids: list[str]
    request_models: list[str]
    used_models: list[str]
    errors: list[str]
    llm_calls: int
    cost: float
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    start_time_us: int
    finish_time_us: int
    duration_ms: float
    error_count: int
    span_count: int

    @property
    def has_errors(self) -> bool:
        return self.error_count > 0


@dataclass(frozen=True, slots=True)
class SpanRow:
    """A stored span: its typed fields, and its attributes (and those of its earliest
    `model_call` child, which vLLora shows as `child_attribute`) as the JSON text stored."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    thread_id: str | None
    run_id: str | None
    operation_name: str
    start_time_us: int
    finish_time_us: int
    kind: str
    is_error: bool
    error_message: str | None
    model: str | None
    provider: str | None
    cost: float | None
    cost_source: str | None
    input_tokens: int | None
    output_tokens: int | None
    cached_tokens: int | None
    attributes: str
    child_attributes: str | None

    @property
    def duration_ms(self) -> float:
        return (self.finish_time_us - self.start_time_us) / 1000


@dataclass(frozen=True, slots=True)
class ProjectRow:
    id: str
    created_at_us: int
    run_count: int
    thread_count: int
    span_count: int


@dataclass(frozen=True, slots=True)
class LabelCount:
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: Sequence[T]
    total: int
    limit: int
    offset: int
