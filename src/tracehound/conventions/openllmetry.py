"""OpenLLMetry conventions (Traceloop SDK and the opentelemetry-instrumentation-* packages of
traceloop/openllmetry). See docs/conventions.md.

OpenLLMetry writes model, provider and token counts under `gen_ai.*` names (current and
deprecated ones); the GenAI mapper, which runs right after this one, reads those. This module
only knows what is OpenLLMetry's own: `llm.request.type`, the `traceloop.*` attributes and
`llm.usage.*`.
"""

from __future__ import annotations

from tracehound.conventions.base import as_count, as_str, decide, set_field
from tracehound.model import (
    KIND_AGENT,
    KIND_CHAIN,
    KIND_EMBEDDING,
    KIND_LLM,
    KIND_OTHER,
    KIND_RETRIEVER,
    KIND_TOOL,
    RawSpan,
    Span,
)

# llm.request.type -> (kind, is an LLM call)
_REQUEST_TYPES: dict[str, tuple[str, bool]] = {
    "chat": (KIND_LLM, True),
    "completion": (KIND_LLM, True),
    "embedding": (KIND_EMBEDDING, False),
    "rerank": (KIND_RETRIEVER, False),
}

# traceloop.span.kind, set by the @workflow/@task/@agent/@tool decorators.
_SPAN_KINDS: dict[str, str] = {
    "workflow": KIND_CHAIN,
    "task": KIND_CHAIN,
    "agent": KIND_AGENT,
    "tool": KIND_TOOL,
    "unknown": KIND_OTHER,
}


class OpenLLMetryMapper:
    name = "openllmetry"

    def apply(self, raw: RawSpan, span: Span) -> bool:
        attrs = raw.attributes
        request_type = attrs.get("llm.request.type")
        span_kind = attrs.get("traceloop.span.kind")
        workflow = attrs.get("traceloop.workflow.name")
        if request_type is None and span_kind is None and workflow is None:
            return False

        if isinstance(request_type, str) and request_type in _REQUEST_TYPES:
            kind, is_llm = _REQUEST_TYPES[request_type]
            decide(span, "kind", kind, "llm.request.type")
            decide(span, "is_llm_call", is_llm, "llm.request.type")
        elif isinstance(span_kind, str) and span_kind in _SPAN_KINDS:
            decide(span, "kind", _SPAN_KINDS[span_kind], "traceloop.span.kind")
            # Decorator spans wrap application code; the LLM call is a child span.
            decide(span, "is_llm_call", False, "traceloop.span.kind")
            if span_kind == "tool":
                set_field(
                    span, "tool_name", as_str(attrs.get("traceloop.entity.name")), "traceloop.entity.name"
                )

        if workflow is not None:
            # Propagated to every span inside a workflow: the name users group runs by.
            set_field(span, "label", as_str(workflow), "traceloop.workflow.name")
        cached = attrs.get("llm.usage.cache_read_input_tokens")
        if cached is not None:
            set_field(span, "cached_tokens", as_count(cached), "llm.usage.cache_read_input_tokens")
        return True


MAPPER = OpenLLMetryMapper()
