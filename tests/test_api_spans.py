"""GET /spans and GET /traces: every parameter, the span object, child_attribute."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import get_json
from tests.spans import SpanFactory, span_hex
from tests.world import GPT, World


def spans_of(c: httpx.Client, path: str, params: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = get_json(c, path, params)
    return body


def usage(i: int, o: int) -> str:
    return json.dumps({"input_tokens": i, "output_tokens": o, "total_tokens": i + o, "is_cache_used": False})


def test_span_object(world: World, wapi: httpx.Client) -> None:
    body = spans_of(wapi, "/spans", {"span_ids": world.span_ids["A.api_invoke"]})
    assert body["pagination"] == {"offset": 0, "limit": 100, "total": 1}
    [span] = body["data"]
    cloud = spans_of(wapi, "/spans", {"run_ids": "run-a", "operation_names": "cloud_api_invoke"})["data"][1]
    assert span == {
        "trace_id": world.trace("A"),
        "span_id": world.span_ids["A.api_invoke"],
        "thread_id": "thread-1",
        "parent_span_id": cloud["span_id"],
        "operation_name": "api_invoke",
        "start_time_us": world.us(ms=11),
        "finish_time_us": world.us(ms=389),
        # vllora.run_id / vllora.thread_id / vllora.label are promoted; vllora.label becomes `label`.
        "attribute": {
            "request": json.dumps({"model": GPT, "messages": [{"role": "user", "content": "Find flights"}]}),
            "response": "Here are three options",
            "title": "Find flights to Paris please",
            "cost": "0.001",
            "usage": usage(100, 10),
            "label": "flight_search",
        },
        # The earliest model_call child's attributes, as vLLora gives them.
        "child_attribute": {
            "model_name": GPT,
            "provider_name": "openai",
            "inference_model_name": "gpt-4o-mini",
            "cost": json.dumps(
                {"cost": 0.001, "per_input_token": 0.15, "per_output_token": 0.6, "is_cache_used": False}
            ),
            "usage": usage(100, 10),
            "ttft": 412345,
            "label": "flight_search",
        },
        "run_id": "run-a",
        "duration_ms": 378.0,
        "kind": "chain",
        "is_error": False,
        "error_message": None,
        "model": GPT,
        "provider": "openai",
        "cost": 0.001,
        "cost_source": "provided",
        "input_tokens": 100,
        "output_tokens": 10,
        "cached_tokens": None,
    }


def test_newest_first_and_pages(world: World, wapi: httpx.Client) -> None:
    everything = spans_of(wapi, "/spans", {})
    assert everything["pagination"] == {"offset": 0, "limit": 100, "total": 33}
    starts = [s["start_time_us"] for s in everything["data"]]
    assert starts == sorted(starts, reverse=True)
    assert (everything["data"][0]["operation_name"], starts[0]) == ("mcp_call", world.us(40, ms=710))
    assert everything["data"][-1]["span_id"] == world.roots["F"]
    listed: list[str] = []
    for offset in range(0, 40, 10):
        page = spans_of(wapi, "/spans", {"limit": 10, "offset": offset})
        assert page["pagination"] == {"offset": offset, "limit": 10, "total": 33}
        listed.extend(s["span_id"] for s in page["data"])
    assert listed == [s["span_id"] for s in everything["data"]]
    assert spans_of(wapi, "/spans", {"limit": 0})["data"] == []


Params = Callable[[World], dict[str, Any]]

SPAN_FILTERS: list[tuple[Params, int]] = [
    (lambda w: {"span_ids": w.roots["A"]}, 1),
    (lambda w: {"span_ids": str(int(w.roots["A"], 16))}, 1),  # vLLora's decimal u64
    (lambda w: {"spanIds": f"{w.roots['A']}, {int(w.roots['D'], 16)}"}, 2),
    (lambda w: {"trace_ids": w.trace("A")}, 10),
    (lambda w: {"traceIds": str(uuid.UUID(w.trace("A")))}, 10),
    (lambda w: {"trace_ids": f"{w.trace('B')},{uuid.UUID(w.trace('D'))}"}, 7),
    (lambda w: {"thread_ids": "thread-1"}, 15),
    (lambda w: {"threadIds": "thread-1,thread-2"}, 20),
    (lambda w: {"thread_ids": "null"}, 6),  # run E's spans
    (lambda w: {"thread_ids": "NULL"}, 6),
    (lambda w: {"thread_ids": "!null"}, 27),
    (lambda w: {"run_ids": "run-a"}, 10),
    (lambda w: {"runIds": "run-a, run-e"}, 16),
    (lambda w: {"run_ids": w.run_d}, 2),
    (lambda w: {"run_ids": "null"}, 0),  # every span has a run (its trace, at least)
    (lambda w: {"run_ids": "!null"}, 33),
    (lambda w: {"operation_names": "model_call"}, 6),
    (lambda w: {"operationNames": "model_call, mcp_call"}, 7),
    (lambda w: {"operation_names": "!null"}, 33),
    (lambda w: {"parent_span_ids": "null"}, 5),  # roots of A, B, D, E, F
    (lambda w: {"parent_span_ids": "!null"}, 28),
    (lambda w: {"parent_span_ids": w.roots["A"]}, 2),
    (lambda w: {"parentSpanIds": str(int(w.roots["A"], 16))}, 2),
    (lambda w: {"parent_span_ids": "4660"}, 1),  # C's remote parent 0x1234, in decimal
    (lambda w: {"labels": "hotel_search"}, 5),
    (lambda w: {"labels": "flight_search"}, 16),
    (lambda w: {"labels": "flight_search, hotel_search"}, 21),
    (lambda w: {"start_time": w.us(10), "end_time": w.us(20)}, 6),  # B's 5 spans and C's agent
    (lambda w: {"startTime": w.us(30)}, 8),  # D and E
    (lambda w: {"endTime": w.us(-1)}, 5),  # F
    (lambda w: {"thread_ids": "thread-1", "operation_names": "api_invoke", "labels": "hotel_search"}, 1),
]


@pytest.mark.parametrize(("params", "expected"), SPAN_FILTERS)
def test_span_filters(world: World, wapi: httpx.Client, params: Params, expected: int) -> None:
    body = spans_of(wapi, "/spans", params(world))
    assert body["pagination"]["total"] == expected
    assert len(body["data"]) == expected


def test_filters_select_the_right_spans(world: World, wapi: httpx.Client) -> None:
    roots = spans_of(wapi, "/spans", {"parent_span_ids": "null"})["data"]
    assert [s["span_id"] for s in roots] == [world.roots[x] for x in "EDBAF"]
    agent = spans_of(wapi, "/spans", {"parent_span_ids": "4660"})["data"][0]
    assert (agent["span_id"], agent["parent_span_id"]) == (world.span_ids["C.agent"], "0000000000001234")
    no_thread = spans_of(wapi, "/spans", {"thread_ids": "null"})["data"]
    assert {(s["run_id"], s["thread_id"]) for s in no_thread} == {("run-e", None)}
    # end_time bounds the span START: C's agent starts at +20 s and ends 300 ms later.
    window = spans_of(wapi, "/spans", {"start_time": world.us(20), "end_time": world.us(20, ms=5)})["data"]
    assert [(s["span_id"], s["finish_time_us"]) for s in window] == [
        (world.span_ids["C.agent"], world.us(20, ms=300))
    ]
    by_decimal = spans_of(wapi, "/spans", {"span_ids": str(int(world.span_ids["A.model_call"], 16))})
    assert by_decimal["data"][0]["span_id"] == world.span_ids["A.model_call"]


def test_attribute_promotion(world: World, wapi: httpx.Client) -> None:
    root_a = spans_of(wapi, "/spans", {"span_ids": world.roots["A"]})["data"][0]
    assert root_a["attribute"] == {"label": "flight_search"}
    assert (root_a["run_id"], root_a["thread_id"]) == ("run-a", "thread-1")
    lookup = spans_of(wapi, "/spans", {"run_ids": world.run_d, "operation_names": "lookup"})["data"][0]
    assert lookup["attribute"] == {}
    assert (lookup["is_error"], lookup["error_message"]) == (True, "boom")


def test_label_and_child_attribute_rules(spans: SpanFactory, api: httpx.Client) -> None:
    t = spans.trace()
    base = {"vllora.run_id": "r1"}
    api_span = t.span("api_invoke", 0, 100, attrs={**base, "vllora.label": "from-baggage", "label": "own"})
    t.span("model_call", 50, 90, parent=api_span, attrs={**base, "model_name": GPT, "attempt": 2})
    t.span(
        "model_call",
        2,
        40,
        parent=api_span,
        attrs={**base, "model_name": "openai/gpt-4o", "attempt": 1},
        error="timeout",
    )
    t.span("agent", 95, 99, parent=api_span, attrs={**base, "vllora.agent_name": "planner"})
    spans.send(t)
    [span] = get_json(api, "/spans", {"span_ids": span_hex(api_span)})["data"]
    assert span["attribute"] == {"label": "own"}  # an existing `label` wins over vllora.label
    assert span["child_attribute"] == {"model_name": "openai/gpt-4o", "attempt": 1}  # earliest start
    agent = get_json(api, "/spans", {"operation_names": "agent"})["data"][0]
    assert agent["attribute"] == {"vllora.agent_name": "planner"}  # not promoted, so kept (as vLLora)
    assert agent["child_attribute"] is None
    assert get_json(api, "/labels")["labels"] == [{"name": "own", "count": 1}]


TRACE_FILTERS: list[tuple[Params, list[str]]] = [
    (lambda w: {"run_id": "run-a", "operation_names": "api_invoke,run"}, ["api_invoke", "api_invoke", "run"]),
    (lambda w: {"runId": w.run_d}, ["lookup", "api_invoke"]),
    (lambda w: {"operation_names": "mcp_call,lookup"}, ["mcp_call", "lookup"]),
    (lambda w: {"thread_ids": "thread-2", "operation_names": "agent"}, ["agent"]),
    (lambda w: {"threadIds": "thread-3"}, ["lookup", "api_invoke"]),
    (lambda w: {"start_time_min": w.us(30), "start_time_max": w.us(30, ms=10)}, ["lookup", "api_invoke"]),
    (lambda w: {"startTimeMin": w.us(40, ms=710)}, ["mcp_call"]),
    (lambda w: {"startTimeMax": w.us(-1), "operation_names": "run"}, ["run"]),
    (lambda w: {"labels": "hotel_search", "operation_names": "run,api_invoke"}, ["api_invoke", "run"]),
]


@pytest.mark.parametrize(("params", "expected"), TRACE_FILTERS)
def test_traces(world: World, wapi: httpx.Client, params: Params, expected: list[str]) -> None:
    body = spans_of(wapi, "/traces", params(world))
    assert [s["operation_name"] for s in body["data"]] == expected  # newest first
    assert body["pagination"] == {"offset": 0, "limit": 100, "total": len(expected)}


def test_traces_pages_and_objects(world: World, wapi: httpx.Client) -> None:
    everything = spans_of(wapi, "/traces", {"run_id": "run-a"})
    assert everything["pagination"]["total"] == 10
    page = spans_of(wapi, "/traces", {"run_id": "run-a", "limit": 4, "offset": 4})
    assert page["pagination"] == {"offset": 4, "limit": 4, "total": 10}
    assert page["data"] == everything["data"][4:8]
    # The same span objects as /spans, child_attribute included.
    assert everything["data"] == spans_of(wapi, "/spans", {"run_ids": "run-a"})["data"]
    assert spans_of(wapi, "/traces", {})["pagination"]["total"] == 33


def test_status_model_text_and_sort(world: World, wapi: httpx.Client) -> None:
    everything = spans_of(wapi, "/spans", {"limit": 1000})["data"]
    failed = spans_of(wapi, "/spans", {"status": "error", "limit": 1000})["data"]
    ok = spans_of(wapi, "/spans", {"status": "ok", "limit": 1000})["data"]
    assert {s["span_id"] for s in failed} == {s["span_id"] for s in everything if s["is_error"]}
    assert len(failed) + len(ok) == len(everything) and failed
    gpt = spans_of(wapi, "/spans", {"model_name": GPT, "limit": 1000})["data"]
    assert gpt and {s["span_id"] for s in gpt} == {s["span_id"] for s in everything if s["model"] == GPT}

    longest = spans_of(wapi, "/spans", {"sort_by": "duration", "limit": 3})["data"]
    assert [s["duration_ms"] for s in longest] == sorted(
        (s["duration_ms"] for s in everything), reverse=True
    )[:3]
    cheapest = spans_of(wapi, "/spans", {"sort_by": "cost", "order": "asc", "limit": 1000})["data"]
    costs = [s["cost"] or 0 for s in cheapest]
    assert costs == sorted(costs)

    # Case-insensitive substring of the attributes; LIKE's wildcards are matched literally.
    limited = spans_of(wapi, "/spans", {"text": "RATE LIMITED", "limit": 1000})["data"]
    assert limited and {s["run_id"] for s in limited} == {"6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"}
    assert spans_of(wapi, "/spans", {"text": "rate_limited"})["pagination"]["total"] == 0
    assert spans_of(wapi, "/spans", {"text": "%"})["pagination"]["total"] == 0
    # Found by tests/test_sql_injection.py: SQLite's LIKE stopped at the NUL and matched all.
    assert spans_of(wapi, "/spans", {"text": "\x00"})["pagination"]["total"] == 0
    assert spans_of(wapi, "/spans", {"text": "rate\x00"})["pagination"]["total"] == 0


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"status": "failed"}, "status"),
        ({"sort_by": "tokens"}, "sort_by"),
        ({"text": ""}, "text"),
        ({"text": "x" * 201}, "text"),
    ],
)
def test_bad_span_filters(wapi: httpx.Client, params: dict[str, Any], fragment: str) -> None:
    body = get_json(wapi, "/spans", params, status=400)
    assert fragment in body["message"]
