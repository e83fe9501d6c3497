"""GET /stats/tools and vLLora's get_recent_stats MCP tool: tool calls by tool over a window,
from spans of kind tool in three conventions, with exact counts and nearest-rank latencies."""

from __future__ import annotations

import time
from typing import Any

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import Server, get_json
from tests.spans import SpanFactory
from tracehound.api.schemas import ToolUsage

S = 1_000_000


def send_tools(spans: SpanFactory, base_s: int) -> None:
    """search: 4 calls (GenAI), 100/200/300/400 ms, one failed; lookup: 2 calls (OpenInference),
    50 and 150 ms; an OpenLLMetry tool named by its entity; one tool span an hour earlier."""
    t = spans.trace(base_s * 1_000_000_000)
    root = t.span("agent", 0, 5000, attrs={"openinference.span.kind": "AGENT"})
    for i, ms in enumerate((100, 200, 300, 400)):
        t.span(
            "execute_tool search",
            1000 * i,
            1000 * i + ms,
            parent=root,
            attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
            error="HTTP 503" if i == 2 else None,
        )
    for start, ms in ((4000, 50), (4100, 150)):
        t.span(
            "lookup",
            start,
            start + ms,
            parent=root,
            attrs={"openinference.span.kind": "TOOL", "tool.name": "lookup"},
        )
    t.span(
        "fetch",
        4500,
        4510,
        parent=root,
        attrs={"traceloop.span.kind": "tool", "traceloop.entity.name": "fetch"},
    )
    spans.send(t)
    old = spans.trace((base_s - 3600) * 1_000_000_000)
    old.span("old", 0, 10, attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"})
    spans.send(old)


def test_tool_usage(api: httpx.Client, spans: SpanFactory) -> None:
    base_s = int(time.time()) - 600
    send_tools(spans, base_s)
    body = get_json(api, "/stats/tools", {"start": base_s * S, "end": (base_s + 60) * S})
    ToolUsage.model_validate(body)
    assert body == {
        "start_us": base_s * S,
        "end_us": (base_s + 60) * S,
        "total": 3,
        "data": [
            {
                "tool": "search",
                "calls": 4,
                "errors": 1,
                "error_rate": 0.25,
                "p50_latency_ms": 200.0,
                "p95_latency_ms": 400.0,
            },
            {
                "tool": "lookup",
                "calls": 2,
                "errors": 0,
                "error_rate": 0.0,
                "p50_latency_ms": 50.0,
                "p95_latency_ms": 150.0,
            },
            {
                "tool": "fetch",
                "calls": 1,
                "errors": 0,
                "error_rate": 0.0,
                "p50_latency_ms": 10.0,
                "p95_latency_ms": 10.0,
            },
        ],
    }
    hour = get_json(api, "/stats/tools", {"period": "last_hour", "limit": 1})
    assert hour["total"] == 3 and [r["tool"] for r in hour["data"]] == ["search"]
    assert hour["data"][0]["calls"] == 4  # the older span is outside the hour
    day = get_json(api, "/stats/tools", {"period": "last_day"})
    assert day["data"][0]["calls"] == 5
    empty = get_json(api, "/stats/tools", {"start": 0, "end": S})
    assert empty["total"] == 0 and empty["data"] == []
    assert "limit" in get_json(api, "/stats/tools", {"limit": 100_000}, status=400)["message"]


def test_vllora_get_recent_stats(server: Server, project: str, spans: SpanFactory) -> None:
    base_s = int(time.time()) - 600
    send_tools(spans, base_s)

    async def go() -> Any:
        async with (
            httpx2.AsyncClient(headers={"x-project-id": project}) as http,
            Client(streamable_http_client(f"{server.api}/mcp", http_client=http)) as client,
        ):
            return await client.call_tool("get_recent_stats", {"last_n_minutes": 30})

    result = anyio.run(go)
    assert not result.is_error, result.content
    got = result.structured_content
    assert got is not None and got["window_minutes"] == 30 and got["llm_calls"] == []
    assert got["tool_calls"] == [
        {"tool_name": "search", "ok_count": 3, "error_count": 1, "total_count": 4},
        {"tool_name": "lookup", "ok_count": 2, "error_count": 0, "total_count": 2},
        {"tool_name": "fetch", "ok_count": 1, "error_count": 0, "total_count": 1},
    ]
