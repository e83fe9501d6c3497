"""Span trees as vLLora's gateway and SDK emit them (reference §2), built with the SDK."""

from __future__ import annotations

import json
from dataclasses import dataclass

from opentelemetry.trace import Span

from tests.spans import TraceBuilder


@dataclass
class GatewayCall:
    api_invoke: Span
    model_call: Span
    provider: Span


def gateway_call(
    t: TraceBuilder,
    parent: Span | None,
    start: float,
    end: float,
    *,
    run_id: str,
    thread_id: str | None = None,
    model: str = "openai/gpt-4o-mini",
    cost: float = 0.0000165,
    input_tokens: int = 10,
    output_tokens: int = 25,
    label: str | None = None,
    error: str | None = None,
    tool: str | None = None,
    ttft_us: int = 412345,
    title: str = "Find flights to Paris please",
) -> GatewayCall:
    """cloud_api_invoke → api_invoke → model_call → provider (→ tools): cost on three of them,
    as the gateway records it."""
    provider_name, _, short = model.partition("/")
    base = {"vllora.run_id": run_id}
    if thread_id:
        base["vllora.thread_id"] = thread_id
    if label:
        base["vllora.label"] = label
    usage = json.dumps(
        {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "is_cache_used": False,
        }
    )
    cloud = t.span(
        "cloud_api_invoke",
        start,
        end,
        parent=parent,
        attrs={**base, "http.request.method": "POST", "status": 200},
    )
    api_attrs = {
        **base,
        "request": json.dumps({"model": model, "messages": [{"role": "user", "content": "Find flights"}]}),
        "response": "Here are three options",
        "title": title,
        "cost": repr(cost),
        "usage": usage,
    }
    if error:
        api_attrs["error"] = error
    api = t.span("api_invoke", start + 1, end - 1, parent=cloud, attrs=api_attrs)
    model_call = t.span(
        "model_call",
        start + 2,
        end - 2,
        parent=api,
        attrs={
            **base,
            "model_name": model,
            "provider_name": provider_name,
            "inference_model_name": short,
            "cost": json.dumps(
                {"cost": cost, "per_input_token": 0.15, "per_output_token": 0.6, "is_cache_used": False}
            ),
            "usage": usage,
            "ttft": ttft_us,
        },
    )
    provider = t.span(
        provider_name,
        start + 3,
        end - 3,
        parent=model_call,
        attrs={**base, "cost": repr(cost), "retries_left": 0},
    )
    if tool:
        t.span(
            "tools",
            end - 3,
            end - 3,
            parent=provider,
            attrs={**base, "tool.name": tool, "tool_calls": json.dumps([{"function": {"name": tool}}])},
        )
    return GatewayCall(api, model_call, provider)
