"""Response models of GET /spans/summary (docs/analytics.md defines each figure)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tracehound.api.schemas import ModelUsage


class SummaryFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    thread_ids: list[str]
    run_ids: list[str]
    labels: list[str]


class SummaryStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    success: int
    error: int = Field(
        description="Error spans: OTLP status ERROR, an `error` attribute or an exception event"
    )


class SummaryLatency(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(description="LLM calls")
    p50_ms: float | None = Field(description="Nearest-rank percentiles of the LLM calls' durations")
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class SummaryTtft(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(description="LLM calls that report a time to first token")
    p50_ms: float | None
    p95_ms: float | None
    avg_ms: float | None


class SummaryTool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    count: int = Field(description="Tool spans naming this tool")
    errors: int = Field(description="Of them, error spans")


class SummaryErrorSpan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    span_id: str
    operation_name: str
    kind: str
    error_message: str | None
    start_time_us: int


class SemanticErrorSpan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    span_id: str
    operation_name: str
    kind: str
    detected_pattern: str = Field(description="The pattern found (docs/analytics.md lists them)")
    severity: int = Field(description="100, 80, 60 or 10")
    snippet: str = Field(description="The text around the first match, at most 160 characters")


class ToolCallError(BaseModel):
    model_config = ConfigDict(extra="forbid")
    span_id: str = Field(description="The tool span, or the api_invoke whose request holds the result")
    operation_name: str
    tool_name: str | None
    source: Literal["output", "tool_result"] = Field(
        description="output: a tool span's output; tool_result: a role=tool message of a request"
    )
    detected_pattern: str
    severity: int
    message: str = Field(description="The text around the first match, at most 160 characters")


class SummarySlowSpan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    span_id: str
    operation_name: str
    kind: str
    model: str | None
    tool_name: str | None
    duration_ms: float
    ttft_ms: float | None


class SummaryCostlySpan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    span_id: str
    operation_name: str
    model: str | None
    cost: float


class RepeatedFailure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["tool", "operation"]
    name: str
    count: int = Field(description="Failures of the tool, or error spans of the operation (at least 2)")
    span_ids: list[str] = Field(description="The first three spans involved")


class SemanticScan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(description="false when asked with semantic=false: no finding is reported")
    texts: int = Field(
        description="Outputs and tool results of the selected spans that were scanned (at ingest)"
    )
    max_chars: int = Field(description="Characters scanned at the start of each text")


class SummaryTruncated(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by_operation: bool
    model_breakdown: bool
    tool_usage: bool
    error_spans: bool
    semantic_error_spans: bool
    tool_call_errors: bool
    slowest_spans: bool
    expensive_spans: bool
    repeated_failures: bool


class SpansSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filters: SummaryFilters
    total_spans: int
    run_count: int
    start_time_us: int | None = Field(description="Earliest start over the spans")
    finish_time_us: int | None = Field(description="Latest finish over the spans")
    total_duration_ms: float = Field(description="Time covered by at least one span (union of intervals)")
    by_operation: dict[str, int] = Field(description="Span count per operation, most frequent first")
    by_status: SummaryStatus
    llm_calls: int
    total_cost: float = Field(description="Each billed call counted once (the ancestor rule)")
    total_input_tokens: int
    total_output_tokens: int
    total_cached_tokens: int
    cache_hit_rate: float | None = Field(description="100 * cached / input tokens; null without input tokens")
    unpriced_calls: int = Field(description="Billed calls with tokens but no price")
    latency: SummaryLatency
    ttft: SummaryTtft
    model_breakdown: list[ModelUsage] = Field(description="Costliest first")
    tool_usage: list[SummaryTool] = Field(description="Most used first")
    error_spans: list[SummaryErrorSpan] = Field(description="By start time")
    semantic_error_count: int = Field(description="Outputs with a pattern, before the cap")
    semantic_error_spans: list[SemanticErrorSpan] = Field(description="Most severe first, then by start")
    tool_call_error_count: int = Field(description="Tool results with a pattern, before the cap")
    tool_call_errors: list[ToolCallError] = Field(description="Most severe first, then by start")
    slowest_spans: list[SummarySlowSpan] = Field(description="LLM calls and tool spans, longest first")
    expensive_spans: list[SummaryCostlySpan] = Field(description="Billed spans, costliest first")
    repeated_failures: list[RepeatedFailure] = Field(description="Most frequent first")
    semantic_scan: SemanticScan
    truncated: SummaryTruncated = Field(description="Which lists were cut at their cap")
