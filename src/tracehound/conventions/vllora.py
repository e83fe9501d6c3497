"""vLLora conventions: the gateway's spans (`api_invoke`, `model_call`, provider spans, `tools`)
and the vLLora SDK's renamed spans (`run`, `agent`, `task`, `tool`). See docs/conventions.md.

vLLora encodes structured values as JSON inside string attributes (`usage`, `request`, the
`model_call` cost), so those are decoded here, each at most once and only on the operations
that carry them.
"""

from __future__ import annotations

from typing import Any

from tracehound.conventions.base import (
    as_count,
    as_json,
    as_money,
    as_str,
    decide,
    set_field,
)
from tracehound.model import (
    KIND_AGENT,
    KIND_CHAIN,
    KIND_LLM,
    KIND_OTHER,
    KIND_TOOL,
    RawSpan,
    Span,
)

_PROVIDER_OPS = frozenset({"openai", "anthropic", "gemini", "bedrock", "cache"})

_KINDS: dict[str, str] = {
    "model_call": KIND_LLM,
    "openai": KIND_LLM,
    "anthropic": KIND_LLM,
    "gemini": KIND_LLM,
    "bedrock": KIND_LLM,
    "cache": KIND_LLM,
    "tools": KIND_TOOL,
    "tool": KIND_TOOL,
    "agent": KIND_AGENT,
    # Orchestration around the call: a run of steps, a step, the whole gateway request.
    "run": KIND_CHAIN,
    "task": KIND_CHAIN,
    "api_invoke": KIND_CHAIN,
    # Transport and routing plumbing, not application logic.
    "cloud_api_invoke": KIND_OTHER,
    "request_routing": KIND_OTHER,
}

# Names nobody but vLLora uses: recognised on the name alone.
_DISTINCT_OPS = frozenset({"api_invoke", "cloud_api_invoke", "model_call", "request_routing"})

# Generic names ("agent", "tools", "openai"...) that other frameworks use too (LangGraph has
# nodes called "agent" and "tools"). They count as vLLora only with a vLLora marker, or with
# the attribute vLLora always puts on that operation.
_OP_HINTS: dict[str, str] = {
    "openai": "retries_left",
    "anthropic": "retries_left",
    "gemini": "retries_left",
    "bedrock": "retries_left",
    "cache": "cache_state",
    "tools": "tool_calls",
    "tool": "vllora.tool_name",
    "agent": "vllora.agent_name",
    "task": "vllora.task_name",
    "run": "vllora.run_id",
}

# Baggage copied onto every gateway span, and what the SDK adds to every span it exports.
_MARKERS = (
    "vllora.run_id",
    "vllora.thread_id",
    "vllora.tenant",
    "vllora.project_id",
    "vllora.client_name",
    "vllora.label",
)


class VlloraMapper:
    name = "vllora"

    def apply(self, raw: RawSpan, span: Span) -> bool:
        attrs = raw.attributes
        hit = False

        # Only string values are promoted, as vLLora itself does.
        run_id = attrs.get("vllora.run_id")
        if isinstance(run_id, str) and run_id and not span.run_id:
            span.run_id = run_id
            span.rules["run_id"] = "vllora.run_id"
            hit = True
        thread_id = as_str(attrs.get("vllora.thread_id"))
        if thread_id is not None:
            set_field(span, "thread_id", thread_id, "vllora.thread_id")
            hit = True
        # vLLora re-inserts `vllora.label` as `label` unless `label` exists, so `label` wins.
        label = as_str(attrs.get("label"))
        if label is not None:
            set_field(span, "label", label, "label")
        else:
            vlabel = as_str(attrs.get("vllora.label"))
            if vlabel is not None:
                set_field(span, "label", vlabel, "vllora.label")
                hit = True

        op = raw.name
        kind = _KINDS.get(op)
        if kind is None:
            return hit
        if op not in _DISTINCT_OPS and not (hit or _OP_HINTS.get(op, "") in attrs or _has_marker(attrs)):
            return False

        if op == "task" and (
            attrs.get("vllora.task_name") == "call_llm" or attrs.get("openinference.span.kind") == "LLM"
        ):
            # The SDK renames LLM spans to `task`; keep what the span really is.
            kind = KIND_LLM
        decide(span, "kind", kind, "operation_name")
        # Only `model_call` is an LLM call: api_invoke and the provider span describe the same
        # call, and vLLora's llm_calls counts model_call alone.
        decide(span, "is_llm_call", op == "model_call", "operation_name")

        if op == "model_call":
            set_field(span, "model", as_str(attrs.get("model_name")), "model_name")
            set_field(span, "provider", as_str(attrs.get("provider_name")), "provider_name")
            _usage_cost_ttft(attrs, span)
        elif op == "api_invoke":
            _request_model(attrs.get("request"), span)
            set_field(span, "title", as_str(attrs.get("title")), "title")
            _usage_cost_ttft(attrs, span)
        elif op in _PROVIDER_OPS:
            if op != "cache":
                set_field(span, "provider", op, "operation_name")
            _usage_cost_ttft(attrs, span)
        elif op == "tools":
            tool = as_str(attrs.get("tool.name"))
            if tool is not None:
                set_field(span, "tool_name", tool, "tool.name")
            else:
                # Bedrock writes the tool names into `label` instead of `tool.name`.
                set_field(span, "tool_name", label, "label")
        elif op == "tool":
            set_field(span, "tool_name", as_str(attrs.get("vllora.tool_name")), "vllora.tool_name")
        return True


def _has_marker(attrs: dict[str, Any]) -> bool:
    return any(key in attrs for key in _MARKERS)


def _request_model(value: Any, span: Span) -> None:
    # The request JSON holds the whole conversation: decoded only on api_invoke, and only once.
    if value is None:
        return
    request = as_json(value)
    if not isinstance(request, dict):
        return
    model = as_str(request.get("model"))
    if model is None:
        return
    set_field(span, "request_model", model, "request.model")
    set_field(span, "model", model, "request.model")
    provider, sep, _ = model.partition("/")
    if sep and provider:
        # Gateway model names are `<provider>/<model>`.
        set_field(span, "provider", provider, "request.model")


def _usage_cost_ttft(attrs: dict[str, Any], span: Span) -> None:
    usage_value = attrs.get("usage")
    if usage_value is not None:
        usage = as_json(usage_value)
        if isinstance(usage, dict):
            _usage(usage, span)

    cost_value = attrs.get("cost")
    if cost_value is not None:
        # A numeric string on api_invoke and provider spans, an object on model_call.
        rule = "cost"
        if isinstance(cost_value, str) and cost_value[:1] == "{":
            cost_value = as_json(cost_value)
        if isinstance(cost_value, dict):
            cost_value = cost_value.get("cost")
            rule = "cost.cost"
        set_field(span, "cost", as_money(cost_value), rule)

    ttft = attrs.get("ttft")
    if ttft is not None:
        set_field(span, "ttft_us", as_count(ttft), "ttft")


def _usage(usage: dict[str, Any], span: Span) -> None:
    value = usage.get("input_tokens")
    if value is not None:
        set_field(span, "input_tokens", as_count(value), "usage.input_tokens")
    else:
        set_field(span, "input_tokens", as_count(usage.get("prompt_tokens")), "usage.prompt_tokens")
    value = usage.get("output_tokens")
    if value is not None:
        set_field(span, "output_tokens", as_count(value), "usage.output_tokens")
    else:
        set_field(span, "output_tokens", as_count(usage.get("completion_tokens")), "usage.completion_tokens")
    details = usage.get("prompt_tokens_details")
    if isinstance(details, dict):
        set_field(
            span,
            "cached_tokens",
            as_count(details.get("cached_tokens")),
            "usage.prompt_tokens_details.cached_tokens",
        )


MAPPER = VlloraMapper()
