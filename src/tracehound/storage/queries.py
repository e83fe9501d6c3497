"""Query descriptions shared by every front door (API, MCP, CLI) and every backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tracehound.model import RunStatus

RunSort = Literal["start_time", "duration", "cost", "llm_calls"]
Order = Literal["asc", "desc"]
TypeFilter = Literal["model", "mcp"]
GroupBy = Literal["time", "thread", "run"]
SpanSort = Literal["start_time", "finish_time", "duration", "cost"]
SpanStatus = Literal["ok", "error"]


@dataclass(frozen=True, slots=True)
class ListFilter:
    """A CSV filter in vLLora's dialect: values, or `null` (IS NULL), or `!null` (IS NOT NULL)."""

    values: tuple[str, ...] = ()
    is_null: bool = False
    not_null: bool = False


NO_FILTER = ListFilter()


@dataclass(frozen=True, slots=True)
class RunQuery:
    project_id: str
    run_ids: tuple[str, ...] = ()
    thread_ids: tuple[str, ...] = ()
    trace_ids: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    model_name: str | None = None
    type_filter: TypeFilter | None = None
    start_min_us: int | None = None
    start_max_us: int | None = None
    statuses: tuple[RunStatus, ...] = ()
    min_duration_us: int | None = None
    min_cost: float | None = None
    sort_by: RunSort = "start_time"
    order: Order = "desc"
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class SpanQuery:
    project_id: str
    span_ids: ListFilter = NO_FILTER
    trace_ids: ListFilter = NO_FILTER
    thread_ids: ListFilter = NO_FILTER
    run_ids: ListFilter = NO_FILTER
    operation_names: ListFilter = NO_FILTER
    parent_span_ids: ListFilter = NO_FILTER
    labels: tuple[str, ...] = ()
    start_min_us: int | None = None
    start_max_us: int | None = None
    status: SpanStatus | None = None
    models: tuple[str, ...] = ()
    # Substring of the span's attributes (input, output, error ...), matched literally.
    text: str | None = None
    sort_by: SpanSort = "start_time"
    order: Order = "desc"
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class GroupQuery:
    project_id: str
    group_by: GroupBy = "time"
    bucket_size_s: int = 3600
    thread_ids: tuple[str, ...] = ()
    trace_ids: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    model_name: str | None = None
    type_filter: TypeFilter | None = None
    start_min_us: int | None = None
    start_max_us: int | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class GroupKey:
    """One group: a time bucket (with its size), a thread, or a run."""

    group_by: GroupBy
    time_bucket_us: int | None = None
    bucket_size_s: int = 3600
    thread_id: str | None = None
    run_id: str | None = None
