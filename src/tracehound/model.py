"""The span shapes every layer agrees on: what the OTLP decoder hands to the convention
mappers (`RawSpan`) and what the mappers hand to the store (`Span`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import orjson

# OTLP status codes (opentelemetry.proto.trace.v1.Status.StatusCode).
STATUS_UNSET = 0
STATUS_OK = 1
STATUS_ERROR = 2

CostSource = Literal["provided", "computed", "unpriced"]
RunStatus = Literal["running", "completed", "failed"]
RUN_STATUSES: tuple[RunStatus, ...] = ("running", "completed", "failed")

# Span kinds as tracehound classifies them (not the OTLP SpanKind).
KIND_LLM = "llm"
KIND_TOOL = "tool"
KIND_AGENT = "agent"
KIND_CHAIN = "chain"
KIND_RETRIEVER = "retriever"
KIND_EMBEDDING = "embedding"
KIND_OTHER = "other"


class Finding(NamedTuple):
    """An error pattern found in a text a span carries (docs/analytics.md, semantic errors):
    its output (`source` "output", `position` 0) or a tool result it handed to the model
    (`source` "tool_result", `position` its place after the last assistant message)."""

    source: str
    position: int
    tool_name: str | None
    pattern: str
    severity: int
    snippet: str


@dataclass(slots=True)
class SpanEvent:
    name: str
    time_us: int
    attributes: dict[str, Any]


@dataclass(slots=True)
class RawSpan:
    """One decoded OTLP span, ids already validated and rendered as lowercase hex."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_time_us: int
    finish_time_us: int
    attributes: dict[str, Any]
    events: list[SpanEvent] = field(default_factory=list)
    status_code: int = STATUS_UNSET
    status_message: str = ""
    otlp_kind: int = 0
    resource: dict[str, Any] = field(default_factory=dict)
    scope_name: str = ""
    project_header: str | None = None


@dataclass(slots=True)
class Span:
    """A span normalised to typed fields. `rules` names, per field, the attribute (or rule)
    that produced it, so that "why is this field what it is?" always has an answer."""

    project_id: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    run_id: str
    thread_id: str | None
    operation_name: str
    start_time_us: int
    finish_time_us: int
    kind: str = KIND_OTHER
    is_llm_call: bool = False
    status_code: int = STATUS_UNSET
    status_message: str | None = None
    is_error: bool = False
    error_message: str | None = None
    model: str | None = None
    request_model: str | None = None
    provider: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    cost: float | None = None
    cost_source: CostSource | None = None
    label: str | None = None
    tool_name: str | None = None
    title: str | None = None
    ttft_us: int | None = None
    convention: str | None = None
    rules: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    scope_name: str = ""
    received_us: int = 0
    # The JSON forms of attributes, events and resource, when made ahead of the writer (by a
    # decoding process, so that only strings cross the process boundary).
    attributes_json: str | None = None
    events_json: str | None = None
    resource_json: str | None = None
    # The semantic scan, done once at ingest on the full attribute values: the patterns found
    # and how many texts were scanned (None: not scanned at ingest, e.g. a replayed span).
    findings: list[Finding] = field(default_factory=list)
    texts_scanned: int | None = None

    @property
    def has_usage(self) -> bool:
        """Carries billing for a call: a cost or token counts."""
        return self.cost is not None or self.input_tokens is not None or self.output_tokens is not None


def to_json(value: Any) -> str:
    """How span attributes, events and resources are stored: JSON text, with anything JSON has
    no type for rendered as a string."""
    return orjson.dumps(value, default=str).decode()


def events_to_json(events: list[SpanEvent]) -> str | None:
    if not events:
        return None
    return to_json([{"name": e.name, "time_us": e.time_us, "attributes": e.attributes} for e in events])
