"""Response models: they document the API in the OpenAPI schema. Handlers return JSON built by
`tracehound.views` directly (for speed); tests validate responses against these models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong, in a few words")
    message: str = Field(description="Details: which parameter, which value, what is allowed")


class Pagination(BaseModel):
    offset: int
    limit: int
    total: int = Field(description="How many items match, over all pages")


class Span(BaseModel):
    trace_id: str = Field(description="32 hex characters")
    span_id: str = Field(description="16 hex characters")
    thread_id: str | None
    parent_span_id: str | None
    operation_name: str
    start_time_us: int
    finish_time_us: int
    attribute: dict[str, Any] = Field(description="Span attributes; vllora.* keys are promoted")
    child_attribute: dict[str, Any] | None = Field(
        description="Attributes of the earliest model_call child, as vLLora gives them"
    )
    run_id: str | None
    duration_ms: float
    kind: str = Field(description="llm, tool, agent, chain, retriever, embedding or other")
    is_error: bool
    error_message: str | None
    model: str | None
    provider: str | None
    cost: float | None
    cost_source: Literal["provided", "computed", "unpriced"] | None
    input_tokens: int | None
    output_tokens: int | None
    cached_tokens: int | None


class SpanPage(BaseModel):
    pagination: Pagination
    data: list[Span]


class Run(BaseModel):
    run_id: str
    thread_ids: list[str]
    trace_ids: list[str] = Field(description="Traces of the run's root spans")
    root_span_ids: list[str]
    request_models: list[str]
    used_models: list[str]
    used_tools: list[str]
    mcp_template_definition_ids: list[str]
    llm_calls: int
    cost: float = Field(description="Counted once per call: see docs/conventions.md")
    input_tokens: int | None
    output_tokens: int | None
    start_time_us: int
    finish_time_us: int
    errors: list[str] = Field(description="Distinct error messages")
    duration_ms: float
    status: Literal["running", "completed", "failed"]
    has_errors: bool
    error_count: int
    span_count: int
    cached_tokens: int | None
    tool_calls: int
    labels: list[str]


class RunPage(BaseModel):
    pagination: Pagination
    data: list[Run]


class GroupKey(BaseModel):
    time_bucket: int | None = None
    thread_id: str | None = None
    run_id: str | None = None


class Group(BaseModel):
    group_by: Literal["time", "thread", "run"]
    group_key: GroupKey
    time_bucket: int | None
    thread_id: str | None
    run_id: str | None
    thread_ids: list[str]
    trace_ids: list[str]
    run_ids: list[str]
    root_span_ids: list[str]
    request_models: list[str]
    used_models: list[str]
    llm_calls: int
    cost: float
    input_tokens: int | None
    output_tokens: int | None
    start_time_us: int
    finish_time_us: int
    errors: list[str]
    duration_ms: float
    has_errors: bool
    error_count: int
    span_count: int
    status: Literal["running", "completed", "failed"] | None = Field(
        default=None, description="Only for group_by=run"
    )


class GroupPage(BaseModel):
    pagination: Pagination
    data: list[Group]


class GroupSpans(BaseModel):
    spans: list[Span]
    pagination: Pagination


class BatchSpans(BaseModel):
    data: dict[str, GroupSpans] = Field(description="Keyed time-<bucket>, thread-<id> or run-<id>")


class Thread(BaseModel):
    thread_id: str
    start_time_us: int
    finish_time_us: int
    run_ids: list[str]
    input_models: list[str]
    cost: float
    title: str | None
    duration_ms: float
    has_errors: bool
    error_count: int
    span_count: int
    llm_calls: int
    input_tokens: int | None
    output_tokens: int | None
    labels: list[str]


class ThreadPage(BaseModel):
    data: list[Thread]
    pagination: Pagination


class ThreadResponse(BaseModel):
    thread: Thread


class Label(BaseModel):
    name: str
    count: int = Field(description="Spans carrying this label")


class Labels(BaseModel):
    labels: list[Label]


class Project(BaseModel):
    id: str
    name: str
    slug: str
    description: str | None
    created_at: str
    updated_at: str
    settings: dict[str, Any]
    is_default: bool
    archived_at: str | None
    run_count: int
    thread_count: int
    span_count: int


class PartialSuccess(BaseModel):
    rejectedSpans: int | None = None
    errorMessage: str | None = None


class ExportResponse(BaseModel):
    partialSuccess: PartialSuccess | None = None


class SlowSpan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    span_id: str
    operation_name: str
    kind: str
    duration_ms: float
    percent_of_total: float | None = Field(description="100 * duration / the run's wall time")
    self_time_ms: float = Field(description="Duration minus the union of its children's intervals")


class CostlySpan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    span_id: str
    operation_name: str
    model: str | None
    cost: float
    percent_of_cost: float | None = Field(description="100 * cost / the run's cost")


class PathEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    span_id: str | None = Field(description="null for time where no span of the path runs")
    operation_name: str = Field(description="`other` for such a gap")
    kind: str
    path_ms: float = Field(description="The span's own time on the critical path")


class TimeByKind(BaseModel):
    model_config = ConfigDict(extra="forbid")
    llm_ms: float
    tool_ms: float
    other_ms: float


class Outlier(BaseModel):
    model_config = ConfigDict(extra="forbid")
    span_id: str
    operation_name: str
    model: str | None
    duration_ms: float
    p95_ms: float = Field(description="Nearest-rank p95 of the same operation and model")
    sample_size: int = Field(description="Spans in that reference population")


class OutlierReference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window_days: int
    min_sample: int = Field(description="Fewer reference spans and no span is called an outlier")
    max_sample: int = Field(description="Most recent spans of the operation and model used")
    max_scan: int = Field(description="Most recent spans of the operation looked through")
    cache_ttl_s: float = Field(description="A reference p95 is reused this long")


class Bottlenecks(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_id: str
    status: Literal["running", "completed", "failed"]
    span_count: int
    truncated: bool = Field(description="The run has more spans than were analysed")
    wall_time_ms: float = Field(description="Latest finish - earliest start over the run's spans")
    slowest_spans: list[SlowSpan]
    expensive_spans: list[CostlySpan]
    critical_path: list[PathEntry] = Field(description="Entries' ms add up to wall_time_ms")
    time_by_kind: TimeByKind
    parallelism: float | None = Field(description="Sum of self times / wall time")
    outliers: list[Outlier]
    outlier_reference: OutlierReference


class TimeseriesBucket(BaseModel):
    start_time_us: int = Field(description="Bucket start: floor(t / interval) * interval, µs (UTC)")
    value: float | None = Field(description="0 when empty; null for a rate or latency of nothing")


class TimeseriesTrend(BaseModel):
    slope_per_interval: float | None = Field(description="Least-squares slope over non-null buckets")
    relative_change: float | None = Field(description="(second-half mean - first-half mean) / first")
    direction: Literal["increasing", "decreasing", "flat"]


class TimeseriesAnomaly(BaseModel):
    start_time_us: int
    value: float
    score: float = Field(description="|value - median| / scale")


class TimeseriesBaseline(BaseModel):
    median: float
    mad: float = Field(description="Median absolute deviation from the median")
    scale: float | None = Field(description="1.4826 * MAD, or 1.253314 * mean deviation when MAD is 0")


class TimeseriesSeries(BaseModel):
    buckets: list[TimeseriesBucket]
    trend: TimeseriesTrend
    anomalies: list[TimeseriesAnomaly]
    baseline: TimeseriesBaseline | None = Field(description="null when no bucket has a value")


class TimeseriesHead(BaseModel):
    metric: str
    interval: str
    interval_us: int
    start_us: int = Field(description="The requested start, echoed")
    end_us: int = Field(description="The requested end (exclusive), echoed")
    partial_from_us: int | None = Field(
        description="Start of the first bucket not yet over (the current one, or later): trend and "
        "anomalies leave it and those after it out; null when every bucket is over"
    )


class Timeseries(TimeseriesSeries, TimeseriesHead):
    group_by: None


class ModelSeries(TimeseriesSeries):
    key: str | None = Field(description="The model; null for calls without one")


class TimeseriesByModel(TimeseriesHead):
    group_by: Literal["model"]
    truncated: bool = Field(description="More series matched than max_series")
    series_count: int = Field(description="Series that matched, before the cap")
    series: list[ModelSeries] = Field(description="Largest first")


class ModelUsage(BaseModel):
    model: str | None = Field(description="null gathers calls and billed spans without a model")
    provider: str | None = Field(description="The provider most of the model's spans name")
    calls: int = Field(description="LLM-call spans")
    cost: float = Field(description="Cost of the billed calls (spans whose usage counts)")
    input_tokens: int = Field(description="Of the billed calls; includes cached tokens")
    output_tokens: int
    cached_tokens: int
    errors: int = Field(description="LLM-call spans with an error")
    p50_latency_ms: float | None = Field(description="Nearest-rank p50 of the LLM calls' durations")
    p95_latency_ms: float | None


class RunDetails(Run):
    by_model: list[ModelUsage] = Field(description="The run's calls and cost by model, costliest first")


class TopError(BaseModel):
    message: str
    count: int = Field(description="Error spans carrying this message")
    runs: int = Field(description="Runs with such a span")
    last_run_id: str = Field(description="The latest-starting of those runs")


class UnpricedModel(BaseModel):
    model: str | None = Field(description="null: billed calls with tokens but no model")
    calls: int = Field(description="Billed calls with tokens but no price (cost_source unpriced)")


class PeriodStats(BaseModel):
    start_us: int = Field(description="Window start, µs (inclusive)")
    end_us: int = Field(description="Window end, µs (exclusive)")
    total_runs: int = Field(description="Runs that started in the window")
    completed_runs: int
    failed_runs: int
    running_runs: int
    success_rate: float | None = Field(description="completed / (completed + failed); null when both are 0")
    total_cost: float = Field(description="Sum of the runs' costs")
    avg_duration_ms: float | None = Field(description="Over the runs that are not running")
    p50_duration_ms: float | None
    p95_duration_ms: float | None
    llm_calls: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int


class Stats(PeriodStats):
    p90_duration_ms: float | None
    p99_duration_ms: float | None
    top_errors: list[TopError] = Field(description="At most 10, most frequent first")
    by_model: list[ModelUsage] = Field(description="Costliest first; the costs add up to total_cost")
    unpriced_models: list[UnpricedModel]
    previous_period: PeriodStats | None = Field(description="The window of equal length just before")


class UsageRow(BaseModel):
    model: str | None = Field(None, description="The key, when by=model")
    provider: str | None = Field(None, description="The key when by=provider; with by=model, its provider")
    label: str | None = Field(None, description="The key, when by=label")
    thread_id: str | None = Field(None, description="The key, when by=thread")
    calls: int
    cost: float
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    errors: int
    p50_latency_ms: float | None
    p95_latency_ms: float | None


class UsageBreakdown(BaseModel):
    by: Literal["model", "provider", "label", "thread"]
    start_us: int
    end_us: int
    total: int = Field(description="Rows over all keys; `data` holds the first `limit`")
    data: list[UsageRow] = Field(description="Costliest first")


class ToolUsageRow(BaseModel):
    tool: str = Field(description="The tool's name, or the span's operation name without one")
    calls: int = Field(description="Spans of kind tool that started in the window")
    errors: int
    error_rate: float = Field(description="errors / calls")
    p50_latency_ms: float | None = Field(description="Nearest-rank p50 of the calls' durations")
    p95_latency_ms: float | None


class ToolUsage(BaseModel):
    start_us: int
    end_us: int
    total: int = Field(description="Tools over the window; `data` holds the first `limit`")
    data: list[ToolUsageRow] = Field(description="Most called first")


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A parameter is malformed or out of range"},
    401: {"model": ErrorBody, "description": "API keys are configured and the request sent no valid one"},
    404: {"model": ErrorBody, "description": "Not found, or in a project outside the API key's"},
}
