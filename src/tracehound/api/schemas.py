"""Response models: they document the API in the OpenAPI schema. Handlers return JSON built by
`tracehound.views` directly (for speed); tests validate responses against these models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


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


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A parameter is malformed or out of range"},
    404: {"model": ErrorBody, "description": "Not found"},
}
