"""OpenInference conventions (Arize: Phoenix and the openinference-instrumentation-* packages).
See docs/conventions.md for the attribute table."""

from __future__ import annotations

from typing import Any

from tracehound.conventions.base import as_count, as_money, as_str, decide, set_field
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

_KINDS: dict[str, str] = {
    "LLM": KIND_LLM,
    "EMBEDDING": KIND_EMBEDDING,
    "CHAIN": KIND_CHAIN,
    "RETRIEVER": KIND_RETRIEVER,
    # Reranking is the second half of a retrieval step.
    "RERANKER": KIND_RETRIEVER,
    "TOOL": KIND_TOOL,
    "AGENT": KIND_AGENT,
    "GUARDRAIL": KIND_OTHER,
    "EVALUATOR": KIND_OTHER,
    "PROMPT": KIND_OTHER,
    "UNKNOWN": KIND_OTHER,
}


class OpenInferenceMapper:
    name = "openinference"

    def apply(self, raw: RawSpan, span: Span) -> bool:
        attrs = raw.attributes
        session = attrs.get("session.id")
        if session is not None:
            # `session.id` is also a general OTel attribute, so it fills the thread without
            # making the span OpenInference.
            set_field(span, "thread_id", as_str(session), "session.id")

        kind_value = attrs.get("openinference.span.kind")
        # Spans without `openinference.span.kind` (older instrumentations, hand-made spans)
        # still count when they carry its LLM attributes. Plain `in` tests: this runs per span.
        if (
            kind_value is None
            and "llm.model_name" not in attrs
            and "llm.token_count.prompt" not in attrs
            and "llm.token_count.completion" not in attrs
        ):
            return False

        if isinstance(kind_value, str):
            kind = _KINDS.get(kind_value.upper())
            if kind is not None:
                decide(span, "kind", kind, "openinference.span.kind")
                decide(span, "is_llm_call", kind_value.upper() == "LLM", "openinference.span.kind")

        _model(attrs, span)
        _provider(attrs, span)
        _get_count(attrs, span, "input_tokens", "llm.token_count.prompt")
        _get_count(attrs, span, "output_tokens", "llm.token_count.completion")
        _get_count(attrs, span, "cached_tokens", "llm.token_count.prompt_details.cache_read")
        cost = attrs.get("llm.cost.total")
        if cost is not None:
            set_field(span, "cost", as_money(cost), "llm.cost.total")
        tool = attrs.get("tool.name")
        if tool is not None:
            set_field(span, "tool_name", as_str(tool), "tool.name")
        agent = attrs.get("agent.name")
        if agent is not None:
            # OpenInference has no free-form label; the agent name is the grouping users ask for.
            set_field(span, "label", as_str(agent), "agent.name")
        return True


def _model(attrs: dict[str, Any], span: Span) -> None:
    requested = as_str(attrs.get("llm.request.model_name"))
    if requested is not None:
        set_field(span, "request_model", requested, "llm.request.model_name")
    # `llm.model_name` is the response model when known, else the requested one.
    for key in ("llm.model_name", "llm.response.model_name", "embedding.model_name", "reranker.model_name"):
        model = as_str(attrs.get(key))
        if model is not None:
            set_field(span, "model", model, key)
            return
    if requested is not None:
        set_field(span, "model", requested, "llm.request.model_name")


def _provider(attrs: dict[str, Any], span: Span) -> None:
    # `llm.provider` is who hosts and bills the model (azure); `llm.system` the model family.
    for key in ("llm.provider", "llm.system"):
        provider = as_str(attrs.get(key))
        if provider is not None:
            set_field(span, "provider", provider.lower(), key)
            return


def _get_count(attrs: dict[str, Any], span: Span, name: str, key: str) -> None:
    value = attrs.get(key)
    if value is not None:
        set_field(span, name, as_count(value), key)


MAPPER = OpenInferenceMapper()
