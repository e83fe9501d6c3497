"""OpenTelemetry GenAI semantic conventions (`gen_ai.*`), including the deprecated names that
instrumentations still send. OpenLLMetry and OpenLIT write these names too, so this mapper
also fills their model, provider and token fields. See docs/conventions.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracehound.conventions.base import as_count, as_float, as_money, as_str, decide, set_field
from tracehound.model import (
    KIND_AGENT,
    KIND_CHAIN,
    KIND_EMBEDDING,
    KIND_LLM,
    KIND_RETRIEVER,
    KIND_TOOL,
    RawSpan,
    Span,
)

_LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "completion"})

_KINDS: dict[str, str] = {
    "chat": KIND_LLM,
    "text_completion": KIND_LLM,
    "generate_content": KIND_LLM,
    "completion": KIND_LLM,
    "embeddings": KIND_EMBEDDING,
    "execute_tool": KIND_TOOL,
    "create_agent": KIND_AGENT,
    "invoke_agent": KIND_AGENT,
    "invoke_workflow": KIND_CHAIN,
    "retrieval": KIND_RETRIEVER,
}

# (field, current name, deprecated or vendor names): the first present value wins.
_COUNTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("input_tokens", ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")),
    ("output_tokens", ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")),
    ("cached_tokens", ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")),
)

_TTFT_SECONDS = ("gen_ai.response.time_to_first_chunk", "gen_ai.response.time_to_first_token")


class GenAIMapper:
    name = "genai"

    def apply(self, raw: RawSpan, span: Span) -> bool:
        attrs = raw.attributes
        conversation = attrs.get("gen_ai.conversation.id")
        if conversation is not None:
            set_field(span, "thread_id", as_str(conversation), "gen_ai.conversation.id")

        operation = attrs.get("gen_ai.operation.name")
        # Plain `in` tests, cheapest first for the common non-GenAI span.
        if (
            operation is None
            and "gen_ai.request.model" not in attrs
            and "gen_ai.response.model" not in attrs
            and "gen_ai.provider.name" not in attrs
            and "gen_ai.system" not in attrs
        ):
            return conversation is not None

        if isinstance(operation, str):
            kind = _KINDS.get(operation)
            if kind is not None:
                decide(span, "kind", kind, "gen_ai.operation.name")
                decide(span, "is_llm_call", operation in _LLM_OPERATIONS, "gen_ai.operation.name")

        requested = as_str(attrs.get("gen_ai.request.model"))
        if requested is not None:
            set_field(span, "request_model", requested, "gen_ai.request.model")
        response_model = as_str(attrs.get("gen_ai.response.model"))
        if response_model is not None:
            set_field(span, "model", response_model, "gen_ai.response.model")
        elif requested is not None:
            set_field(span, "model", requested, "gen_ai.request.model")
        _first(attrs, span, "provider", ("gen_ai.provider.name", "gen_ai.system"), _lower_str)

        for field, keys in _COUNTS:
            _first(attrs, span, field, keys, as_count)
        # Not in the semantic conventions; OpenLIT's name, which other backends read too.
        cost = attrs.get("gen_ai.usage.cost")
        if cost is not None:
            set_field(span, "cost", as_money(cost), "gen_ai.usage.cost")
        tool = attrs.get("gen_ai.tool.name")
        if tool is not None:
            set_field(span, "tool_name", as_str(tool), "gen_ai.tool.name")
        agent = attrs.get("gen_ai.agent.name")
        if agent is not None:
            # No free-form label in the conventions; the agent name is the grouping users ask for.
            set_field(span, "label", as_str(agent), "gen_ai.agent.name")
        _first(attrs, span, "ttft_us", _TTFT_SECONDS, _seconds_to_us)
        return True


def _first(
    attrs: dict[str, Any], span: Span, field: str, keys: tuple[str, ...], convert: Callable[[Any], Any]
) -> None:
    for key in keys:
        value = attrs.get(key)
        if value is not None:
            converted = convert(value)
            if converted is not None:
                set_field(span, field, converted, key)
                return


def _lower_str(value: Any) -> str | None:
    # `gen_ai.system` arrives as "OpenAI" from some instrumentations and "openai" from others.
    text = as_str(value)
    return text.lower() if text is not None else None


def _seconds_to_us(value: Any) -> int | None:
    seconds = as_float(value)
    if seconds is None or not (0.0 <= seconds < 1e9):
        return None
    return round(seconds * 1_000_000)


MAPPER = GenAIMapper()
