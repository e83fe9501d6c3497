"""GET /spans/summary against the real server: threads built through the SDK's OTLP exporter at
known times, costs, errors and texts, and exact figures back.

The thread of `vllora_thread` (B = its base time):

| run | spans                                                               | errors             |
| r1  | run 0-1000 ms; GPT call 100-400 (cost 0.001, 100/10 tokens, ttft   |                    |
|     | 412345 µs); CLAUDE call 500-950 (0.002, 200/20, ttft 1.5 s, a tool  |                    |
|     | call search_flights, label "book")                                  |                    |
| r2  | run 5000-5600 with OTLP status ERROR; GPT call 5100-5350 (0.004,    | run (status),      |
|     | 400/40, ttft 80000 µs) whose api_invoke carries `error`             | api_invoke (error) |

A gateway call at [s, e] is cloud_api_invoke [s, e] > api_invoke [s+1, e-1] > model_call
[s+2, e-2] > provider [s+3, e-3] (> tools at e-3): the model_call durations are 296, 446, 246 ms.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Server, get_json
from tests.shapes import gateway_call
from tests.spans import SpanFactory, span_hex
from tracehound.api.schemas_summary import SpansSummary

GPT = "openai/gpt-4o-mini"
CLAUDE = "anthropic/claude-3-5-sonnet"
NOT_TRUNCATED = {
    "by_operation": False,
    "model_breakdown": False,
    "tool_usage": False,
    "error_spans": False,
    "semantic_error_spans": False,
    "tool_call_errors": False,
    "slowest_spans": False,
    "expensive_spans": False,
    "repeated_failures": False,
}


def base_ns(seconds_ago: int = 3600) -> int:
    return (time.time_ns() // 1_000_000_000 - seconds_ago) * 1_000_000_000


def summary(api: httpx.Client, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = get_json(api, "/spans/summary", params)
    SpansSummary.model_validate(body)
    return body


@dataclass
class Thread:
    thread_id: str
    base_us: int
    ids: dict[str, str]  # name -> span id


def vllora_thread(spans: SpanFactory, thread_id: str) -> Thread:
    base = base_ns()
    ids: dict[str, str] = {}
    t1 = spans.trace(base)
    root1 = t1.span("run", 0, 1000, attrs={"vllora.run_id": "r1", "vllora.thread_id": thread_id})
    c1 = gateway_call(
        t1, root1, 100, 400, run_id="r1", thread_id=thread_id, model=GPT, cost=0.001, input_tokens=100,
        output_tokens=10, ttft_us=412_345,
    )  # fmt: skip
    c2 = gateway_call(
        t1, root1, 500, 950, run_id="r1", thread_id=thread_id, model=CLAUDE, cost=0.002, input_tokens=200,
        output_tokens=20, ttft_us=1_500_000, tool="search_flights", label="book",
    )  # fmt: skip
    t2 = spans.trace(base)
    root2 = t2.span(
        "run", 5000, 5600, attrs={"vllora.run_id": "r2", "vllora.thread_id": thread_id}, error="agent aborted"
    )
    c3 = gateway_call(
        t2, root2, 5100, 5350, run_id="r2", thread_id=thread_id, model=GPT, cost=0.004, input_tokens=400,
        output_tokens=40, ttft_us=80_000, error="Rate limit reached",
    )  # fmt: skip
    spans.send(t1, t2)
    ids.update(root2=span_hex(root2))
    for name, call in (("c1", c1), ("c2", c2), ("c3", c3)):
        ids[f"{name}_api"] = span_hex(call.api_invoke)
        ids[f"{name}_model"] = span_hex(call.model_call)
    return Thread(thread_id, base // 1000, ids)


def test_thread_summary_exact(api: httpx.Client, spans: SpanFactory, server: Server) -> None:
    thread = vllora_thread(spans, "thread-a")
    # The same thread id in another project: none of it may show.
    other = SpanFactory(server.otlp_grpc, server.otlp_http, f"other-{uuid.uuid4().hex[:8]}")
    ot = other.trace(base_ns())
    gateway_call(ot, None, 0, 100, run_id="o1", thread_id="thread-a", cost=9.0, error="boom")
    other.send(ot)

    body = summary(api, thread_ids="thread-a")
    ids = thread.ids
    assert body["filters"] == {"thread_ids": ["thread-a"], "run_ids": [], "labels": []}
    assert body["total_spans"] == 15
    assert body["run_count"] == 2
    assert body["start_time_us"] == thread.base_us
    assert body["finish_time_us"] == thread.base_us + 5_600_000
    # Nested spans and the idle gap between the runs are not counted: 1000 + 600 ms.
    assert body["total_duration_ms"] == 1600.0
    assert body["by_operation"] == {
        "api_invoke": 3,
        "cloud_api_invoke": 3,
        "model_call": 3,
        "openai": 2,
        "run": 2,
        "anthropic": 1,
        "tools": 1,
    }
    # The run span fails by its OTLP status alone.
    assert body["by_status"] == {"success": 13, "error": 2}
    assert body["llm_calls"] == 3
    # Cost on api_invoke, model_call and the provider span is counted once per call.
    assert body["total_cost"] == pytest.approx(0.007, abs=1e-15)
    assert (body["total_input_tokens"], body["total_output_tokens"], body["total_cached_tokens"]) == (
        700,
        70,
        0,
    )
    assert body["cache_hit_rate"] == 0.0
    assert body["unpriced_calls"] == 0
    assert body["latency"] == {"count": 3, "p50_ms": 296.0, "p95_ms": 446.0, "p99_ms": 446.0, "max_ms": 446.0}
    # µs to ms whatever the size: vLLora's UI reads 80000 µs as 80000 ms.
    assert body["ttft"] == {
        "count": 3,
        "p50_ms": 412.345,
        "p95_ms": 1500.0,
        "avg_ms": (412_345 + 1_500_000 + 80_000) / 3 / 1000,
    }
    gpt, claude = body["model_breakdown"]
    assert (gpt["model"], gpt["provider"], gpt["calls"], gpt["errors"]) == (GPT, "openai", 2, 0)
    assert gpt["cost"] == pytest.approx(0.005, abs=1e-15)
    assert (gpt["input_tokens"], gpt["output_tokens"], gpt["p50_latency_ms"], gpt["p95_latency_ms"]) == (
        500,
        50,
        246.0,
        296.0,
    )
    assert (claude["model"], claude["calls"], claude["cost"], claude["input_tokens"]) == (
        CLAUDE,
        1,
        0.002,
        200,
    )
    assert body["tool_usage"] == [{"name": "search_flights", "count": 1, "errors": 0}]
    assert body["error_spans"] == [
        {
            "span_id": ids["root2"],
            "operation_name": "run",
            "kind": "chain",
            "error_message": "agent aborted",
            "start_time_us": thread.base_us + 5_000_000,
        },
        {
            "span_id": ids["c3_api"],
            "operation_name": "api_invoke",
            "kind": "chain",
            "error_message": "Rate limit reached",
            "start_time_us": thread.base_us + 5_101_000,
        },
    ]
    assert [(s["span_id"], s["duration_ms"], s["ttft_ms"]) for s in body["slowest_spans"]] == [
        (ids["c2_model"], 446.0, 1500.0),
        (ids["c1_model"], 296.0, 412.345),
        (ids["c3_model"], 246.0, 80.0),
        (body["slowest_spans"][3]["span_id"], 0.0, None),  # the tools span
    ]
    assert body["slowest_spans"][3]["tool_name"] == "search_flights"
    assert [(s["span_id"], s["cost"]) for s in body["expensive_spans"]] == [
        (ids["c3_api"], 0.004),
        (ids["c2_api"], 0.002),
        (ids["c1_api"], 0.001),
    ]
    assert body["repeated_failures"] == []
    assert body["semantic_error_spans"] == body["tool_call_errors"] == []
    assert (body["semantic_error_count"], body["tool_call_error_count"]) == (0, 0)
    # The gateway calls carry no output; each request holds one user message and no tool result.
    assert body["semantic_scan"] == {"enabled": True, "texts": 0, "max_chars": 1000}
    assert body["truncated"] == NOT_TRUNCATED

    theirs = get_json(httpx.Client(base_url=server.api, headers={"x-project-id": other.project or ""}),
                      "/spans/summary", {"thread_ids": "thread-a"})  # fmt: skip
    assert (theirs["total_spans"], theirs["total_cost"], theirs["by_status"]["error"]) == (4, 9.0, 1)


def test_filters_combine(api: httpx.Client, spans: SpanFactory) -> None:
    vllora_thread(spans, "thread-b")
    assert summary(api, run_ids="r1")["total_spans"] == 10
    assert summary(api, run_ids="r1,r2")["total_spans"] == 15
    # The label is on the five spans of the second call of r1.
    labelled = summary(api, labels="book")
    assert (labelled["total_spans"], labelled["total_cost"], labelled["llm_calls"]) == (5, 0.002, 1)
    assert summary(api, thread_ids="thread-b", labels="book")["total_spans"] == 5
    assert summary(api, run_ids="r2", labels="book")["total_spans"] == 0
    # vLLora's camelCase names work too.
    assert summary(api, threadIds="thread-b", runIds="r2")["total_spans"] == 5


def test_unknown_ids_give_an_empty_summary(api: httpx.Client) -> None:
    body = summary(api, thread_ids="no-such-thread", run_ids="nor-this", labels="nothing")
    assert body == {
        "filters": {"thread_ids": ["no-such-thread"], "run_ids": ["nor-this"], "labels": ["nothing"]},
        "total_spans": 0,
        "run_count": 0,
        "start_time_us": None,
        "finish_time_us": None,
        "total_duration_ms": 0.0,
        "by_operation": {},
        "by_status": {"success": 0, "error": 0},
        "llm_calls": 0,
        "total_cost": 0.0,
        "total_input_tokens": 0,
        "total_output_tokens": 0,
        "total_cached_tokens": 0,
        "cache_hit_rate": None,
        "unpriced_calls": 0,
        "latency": {"count": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None},
        "ttft": {"count": 0, "p50_ms": None, "p95_ms": None, "avg_ms": None},
        "model_breakdown": [],
        "tool_usage": [],
        "error_spans": [],
        "semantic_error_count": 0,
        "semantic_error_spans": [],
        "tool_call_error_count": 0,
        "tool_call_errors": [],
        "slowest_spans": [],
        "expensive_spans": [],
        "repeated_failures": [],
        "semantic_scan": {"enabled": True, "texts": 0, "max_chars": 1000},
        "truncated": NOT_TRUNCATED,
    }


def _request(*messages: dict[str, Any]) -> str:
    return json.dumps(
        {"model": GPT, "messages": [{"role": "user", "content": "Book me a flight"}, *messages]}
    )


def _calls(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": n, "arguments": "{}"}} for i, n in pairs
        ],
    }


def _tool(call_id: str, content: Any) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def semantic_thread(spans: SpanFactory, thread_id: str) -> dict[str, str]:
    """Tool results in vLLora requests, model outputs, OpenInference tool outputs, and a text whose
    pattern lies past the scanned prefix; sent children first. Returns span ids by name."""
    base = {"vllora.run_id": "rs", "vllora.thread_id": thread_id}
    failed_search = _tool("c1", "❌ search_flights failed: upstream timeout")
    weather = _tool("c2", [{"type": "text", "text": "Sunny, 21°C"}])
    first = _request(_calls(("c1", "search_flights"), ("c2", "get_weather")), failed_search, weather)
    second = _request(
        _calls(("c1", "search_flights"), ("c2", "get_weather")),
        failed_search,
        weather,
        _calls(("c3", "search_flights")),
        _tool("c3", "Error: no flights for 2026-13-01"),
    )
    t = spans.trace(base_ns())
    root = t.span("run", 0, 10_000, attrs=base)
    api1 = t.span(
        "api_invoke", 100, 1000, parent=root, attrs={**base, "request": first, "response": "error: x"}
    )
    t.span(
        "model_call", 110, 990, parent=api1,
        attrs={**base, "model_name": GPT, "output": json.dumps(_calls(("c9", "search_flights")))},
    )  # fmt: skip
    tool1 = t.span(
        "lookup", 1100, 1200, parent=root,
        attrs={**base, "openinference.span.kind": "TOOL", "tool.name": "lookup_order",
               "output.value": "Order 123 not found"},
    )  # fmt: skip
    tool2 = t.span(
        "lookup", 1300, 1400, parent=root, error="connection reset",
        attrs={**base, "openinference.span.kind": "TOOL", "tool.name": "lookup_order"},
    )  # fmt: skip
    t.span(
        "sql", 1500, 1600, parent=root,
        attrs={**base, "openinference.span.kind": "TOOL", "tool.name": "run_sql",
               "output.value": "x" * 1000 + " error: too late to be seen"},
    )  # fmt: skip
    api2 = t.span("api_invoke", 2000, 3000, parent=root, attrs={**base, "request": second})
    answer = {"role": "assistant", "content": "I could not find any flight; the search tool is unavailable."}
    model2 = t.span(
        "model_call", 2010, 2990, parent=api2, attrs={**base, "model_name": GPT, "output": json.dumps(answer)}
    )
    spans.send(t)
    named = {"api1": api1, "api2": api2, "tool1": tool1, "tool2": tool2, "model2": model2}
    return {name: span_hex(s) for name, s in named.items()}


def test_semantic_errors_and_repeated_failures(api: httpx.Client, spans: SpanFactory) -> None:
    """Tool results in vLLora requests (each counted in the first request that carries it), model
    outputs, OpenInference tool outputs, and a text whose pattern lies past the scanned prefix."""
    ids = semantic_thread(spans, "thread-s")

    body = summary(api, thread_ids="thread-s")
    assert body["semantic_error_spans"] == [
        {
            "span_id": ids["tool1"],
            "operation_name": "lookup",
            "kind": "tool",
            "detected_pattern": "not found",
            "severity": 10,
            "snippet": "Order 123 not found",
        },
        {
            "span_id": ids["model2"],
            "operation_name": "model_call",
            "kind": "llm",
            "detected_pattern": "could not find/locate/retrieve/connect",
            "severity": 10,
            "snippet": "I could not find any flight; the search tool is unavailable.",
        },
    ]
    assert body["tool_call_errors"] == [
        {
            "span_id": ids["api1"],
            "operation_name": "api_invoke",
            "tool_name": "search_flights",
            "source": "tool_result",
            "detected_pattern": "failed:",  # ❌ scores the same and comes later in the list
            "severity": 100,
            "message": "❌ search_flights failed: upstream timeout",
        },
        {
            "span_id": ids["api2"],
            "operation_name": "api_invoke",
            "tool_name": "search_flights",
            "source": "tool_result",
            "detected_pattern": "error:",
            "severity": 100,
            "message": "Error: no flights for 2026-13-01",
        },
        {
            "span_id": ids["tool1"],
            "operation_name": "lookup",
            "tool_name": "lookup_order",
            "source": "output",
            "detected_pattern": "not found",
            "severity": 10,
            "message": "Order 123 not found",
        },
    ]
    assert (body["semantic_error_count"], body["tool_call_error_count"]) == (2, 3)
    # search_flights failed in two requests (the first failure, repeated in the second request,
    # counts once); lookup_order once by its output and once by its status.
    assert body["repeated_failures"] == [
        {"type": "tool", "name": "lookup_order", "count": 2, "span_ids": [ids["tool1"], ids["tool2"]]},
        {"type": "tool", "name": "search_flights", "count": 2, "span_ids": [ids["api1"], ids["api2"]]},
    ]
    # Scanned: three tool results (c1, c2; c3), the second answer, two tool outputs. Not: the
    # first model_call (tool calls only), the error tool span (no output), api_invoke responses.
    assert body["semantic_scan"] == {"enabled": True, "texts": 6, "max_chars": 1000}
    assert body["tool_usage"] == [
        {"name": "lookup_order", "count": 2, "errors": 1},
        {"name": "run_sql", "count": 1, "errors": 0},
    ]
    # Typed columns only: the same figures, nothing scanned, and the error tool span repeats no more.
    typed = summary(api, thread_ids="thread-s", semantic="false")
    assert typed["semantic_scan"] == {"enabled": False, "texts": 0, "max_chars": 1000}
    assert typed["semantic_error_spans"] == typed["tool_call_errors"] == typed["repeated_failures"] == []
    assert {k: typed[k] for k in ("total_spans", "by_status", "tool_usage")} == {
        k: body[k] for k in ("total_spans", "by_status", "tool_usage")
    }


def test_caps_and_truncated(api: httpx.Client, spans: SpanFactory) -> None:
    """12 error tool spans over two operations and tools, two models: every list over its cap."""
    base = {"vllora.run_id": "rc", "vllora.thread_id": "thread-c"}
    t = spans.trace(base_ns())
    root = t.span("run", 0, 100_000, attrs=base)
    errors = []
    for i in range(12):
        op, tool = ("fetch", "fetch_page") if i % 2 else ("query", "run_sql")
        attrs = {**base, "openinference.span.kind": "TOOL", "tool.name": tool}
        errors.append(
            t.span(op, 1000 * (i + 1), 1000 * (i + 1) + 10 + i, parent=root, attrs=attrs, error=f"e{i}")
        )
    gateway_call(t, root, 20_000, 20_400, run_id="rc", thread_id="thread-c", model=GPT, cost=0.001)
    gateway_call(t, root, 30_000, 30_400, run_id="rc", thread_id="thread-c", model=CLAUDE, cost=0.002)
    spans.send(t)

    body = summary(api, thread_ids="thread-c", limit=5, breakdown_limit=1)
    assert [e["span_id"] for e in body["error_spans"]] == [span_hex(s) for s in errors[:5]]
    assert body["by_status"]["error"] == 12
    assert body["by_operation"] == {"fetch": 6}  # ties (6 each) in name order
    assert [m["model"] for m in body["model_breakdown"]] == [CLAUDE]
    assert body["tool_usage"] == [{"name": "fetch_page", "count": 6, "errors": 6}]
    # 12 tool spans and 2 LLM calls; the 400 ms calls are the longest.
    assert [s["duration_ms"] for s in body["slowest_spans"]] == [396.0, 396.0, 21.0, 20.0, 19.0]
    assert [s["cost"] for s in body["expensive_spans"]] == [0.002, 0.001]
    assert body["repeated_failures"] == [
        {"type": "tool", "name": "fetch_page", "count": 6, "span_ids": [span_hex(s) for s in errors[1:6:2]]},
        {"type": "tool", "name": "run_sql", "count": 6, "span_ids": [span_hex(s) for s in errors[0:6:2]]},
        {"type": "operation", "name": "fetch", "count": 6, "span_ids": [span_hex(s) for s in errors[1:6:2]]},
        {"type": "operation", "name": "query", "count": 6, "span_ids": [span_hex(s) for s in errors[0:6:2]]},
    ]
    assert body["truncated"] == {
        **NOT_TRUNCATED,
        "by_operation": True,
        "model_breakdown": True,
        "tool_usage": True,
        "error_spans": True,
        "slowest_spans": True,
    }
    # The default caps: 10 entries a list, 20 a breakdown.
    full = summary(api, thread_ids="thread-c")
    assert len(full["error_spans"]) == 10
    assert full["truncated"] == {**NOT_TRUNCATED, "error_spans": True, "slowest_spans": True}
    assert list(full["by_operation"]) == [
        "fetch",
        "query",
        "api_invoke",
        "cloud_api_invoke",
        "model_call",
        "anthropic",
        "openai",
        "run",
    ]
    tight = summary(api, thread_ids="thread-c", limit=3)
    assert len(tight["repeated_failures"]) == 3
    assert tight["truncated"]["repeated_failures"] is True


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, "at least one of thread_ids, run_ids or labels"),
        ({"thread_ids": ""}, "at least one of thread_ids"),
        ({"thread_ids": " , "}, "at least one of thread_ids"),
        ({"labels": "x", "limit": 0}, "limit must be between 1 and 100, got 0"),
        ({"labels": "x", "limit": 101}, "limit must be between 1 and 100, got 101"),
        ({"labels": "x", "breakdown_limit": 0}, "breakdown_limit must be between 1 and 100"),
        ({"labels": "x", "limit": "ten"}, "limit"),
    ],
)
def test_bad_input(api: httpx.Client, params: dict[str, Any], fragment: str) -> None:
    body = get_json(api, "/spans/summary", params, status=400)
    assert set(body) == {"error", "message"}
    assert fragment in body["message"]


def test_openapi_documents_the_summary(api: httpx.Client) -> None:
    schema = get_json(api, "/openapi.json")
    operation = schema["paths"]["/spans/summary"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/SpansSummary"
    )
    names = {p["name"] for p in operation["parameters"]}
    assert names == {"thread_ids", "run_ids", "labels", "limit", "breakdown_limit", "semantic"}


def test_tool_results_in_any_request_layout(api: httpx.Client, spans: SpanFactory) -> None:
    """Requests written with spaces, quoting roles in their text, or without an assistant message
    (read whole): each new tool result is found once, and text that quotes a role is not a role."""
    base = {"vllora.run_id": "rl", "vllora.thread_id": "thread-l"}
    quoting = {"role": "user", "content": 'Reply as {"role": "tool", "content": "Error: fake"}'}
    spaced = json.dumps(
        {"messages": [quoting, _calls(("k1", "search_kb")), _tool("k1", "Rate limit hit")]}, indent=2
    )
    no_assistant = json.dumps({"messages": [_tool("k0", "invalid order id"), quoting]})
    only_quoting = json.dumps({"messages": [quoting]})
    t = spans.trace(base_ns())
    root = t.span("run", 0, 1000, attrs=base)
    a1 = t.span("api_invoke", 10, 100, parent=root, attrs={**base, "request": spaced})
    a2 = t.span("api_invoke", 200, 300, parent=root, attrs={**base, "request": no_assistant})
    t.span("api_invoke", 400, 500, parent=root, attrs={**base, "request": only_quoting})
    spans.send(t)

    body = summary(api, thread_ids="thread-l")
    assert [
        (e["span_id"], e["tool_name"], e["detected_pattern"], e["message"]) for e in body["tool_call_errors"]
    ] == [
        (span_hex(a1), "search_kb", "rate limit", "Rate limit hit"),
        (span_hex(a2), None, "invalid", "invalid order id"),
    ]
    assert body["semantic_scan"]["texts"] == 2
