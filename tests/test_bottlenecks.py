"""GET /runs/{run_id}/bottlenecks against the real server: runs built with exact times and
costs through the SDK's OTLP exporter, exact figures back (nearest-rank percentiles, ms, cost
shares), and 4xx for bad input."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from opentelemetry.trace import Span

from tests.conftest import get_json
from tests.shapes import gateway_call
from tests.spans import SpanFactory, TraceBuilder, span_hex
from tracehound.api.schemas import Bottlenecks

DAY_S = 86_400
REFERENCE = {"window_days": 7, "min_sample": 20, "max_sample": 200, "max_scan": 2000, "cache_ttl_s": 60.0}


def base_ns(seconds_ago: int = 3600) -> int:
    return (time.time_ns() // 1_000_000_000 - seconds_ago) * 1_000_000_000


def kind(k: str, run_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """Attributes that make a span of OpenInference kind `k` (LLM, TOOL, AGENT, CHAIN)."""
    attrs: dict[str, Any] = {"openinference.span.kind": k, **extra}
    if run_id:
        attrs["vllora.run_id"] = run_id
    return attrs


def report(api: httpx.Client, run_id: str, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = get_json(api, f"/runs/{run_id}/bottlenecks", params)
    Bottlenecks.model_validate(body)
    return body


def path(body: dict[str, Any], names: dict[str, str]) -> list[tuple[str, float]]:
    """The critical path as (name or "other", ms); `names` maps span ids to names."""
    return [(names.get(e["span_id"], "other"), e["path_ms"]) for e in body["critical_path"]]


def named(**spans: Span) -> dict[str, str]:
    return {span_hex(s): name for name, s in spans.items()}


def test_sequential_chain(api: httpx.Client, spans: SpanFactory) -> None:
    t = spans.trace(base_ns())
    root = t.span("run", 0, 1000, attrs=kind("CHAIN"))
    plan = t.span("plan", 100, 400, parent=root, attrs=kind("LLM"))
    search = t.span("search", 400, 700, parent=root, attrs=kind("TOOL"))
    answer = t.span("answer", 700, 950, parent=root, attrs=kind("LLM"))
    spans.send(t)

    body = report(api, t.trace_hex)
    ids = {v: k for k, v in named(run=root, plan=plan, search=search, answer=answer).items()}

    def slow(name: str, k: str, ms: float, self_ms: float) -> dict[str, Any]:
        return {
            "span_id": ids[name],
            "operation_name": name,
            "kind": k,
            "duration_ms": ms,
            "percent_of_total": ms / 10,
            "self_time_ms": self_ms,
        }

    def step(name: str, k: str, ms: float) -> dict[str, Any]:
        return {"span_id": ids[name], "operation_name": name, "kind": k, "path_ms": ms}

    assert body == {
        "run_id": t.trace_hex,
        "status": "completed",
        "span_count": 4,
        "truncated": False,
        "wall_time_ms": 1000.0,
        "slowest_spans": [
            slow("run", "chain", 1000, 150),
            slow("plan", "llm", 300, 300),  # ties on duration: earlier start first
            slow("search", "tool", 300, 300),
            slow("answer", "llm", 250, 250),
        ],
        "expensive_spans": [],  # no costs
        "critical_path": [
            step("run", "chain", 150),
            step("plan", "llm", 300),
            step("search", "tool", 300),
            step("answer", "llm", 250),
        ],
        "time_by_kind": {"llm_ms": 550.0, "tool_ms": 300.0, "other_ms": 150.0},
        "parallelism": 1.0,
        "outliers": [],  # one span per operation in the project: below the minimum sample
        "outlier_reference": REFERENCE,
    }


def test_overlapping_tool_calls(api: httpx.Client, spans: SpanFactory) -> None:
    t = spans.trace(base_ns())
    agent = t.span("agent_step", 0, 100, attrs=kind("AGENT"))
    first = t.span("tool_a", 10, 50, parent=agent, attrs=kind("TOOL"))
    second = t.span("tool_b", 20, 60, parent=agent, attrs=kind("TOOL"))
    spans.send(t)

    body = report(api, t.trace_hex)
    names = named(agent_step=agent, tool_a=first, tool_b=second)
    assert path(body, names) == [("agent_step", 60.0), ("tool_b", 40.0)]  # tool_a is off the path
    assert body["time_by_kind"] == {"llm_ms": 0.0, "tool_ms": 40.0, "other_ms": 60.0}
    assert body["parallelism"] == 1.3  # 50 + 40 + 40 ms of self time in 100 ms
    assert [(names[s["span_id"]], s["self_time_ms"]) for s in body["slowest_spans"]] == [
        ("agent_step", 50.0),  # 100 ms minus the union 10..60, not minus 40 + 40
        ("tool_a", 40.0),  # equal durations: the earlier start first
        ("tool_b", 40.0),
    ]


def test_nested_self_time_and_limit(api: httpx.Client, spans: SpanFactory) -> None:
    t = spans.trace(base_ns())
    root = t.span("root", 0, 1000, attrs=kind("CHAIN"))
    a = t.span("a", 100, 600, parent=root, attrs=kind("AGENT"))
    a1 = t.span("a1", 150, 300, parent=a, attrs=kind("TOOL"))
    a2 = t.span("a2", 250, 400, parent=a, attrs=kind("TOOL"))
    a3 = t.span("a3", 550, 700, parent=a, attrs=kind("LLM"))  # outlives its parent
    b = t.span("b", 500, 900, parent=root, attrs=kind("LLM"))
    spans.send(t)
    names = named(root=root, a=a, a1=a1, a2=a2, a3=a3, b=b)

    body = report(api, t.trace_hex, limit=10)
    got = [(names[s["span_id"]], s["duration_ms"], s["self_time_ms"]) for s in body["slowest_spans"]]
    assert got == [
        ("root", 1000.0, 200.0),  # minus the union of a and b, 100..900
        ("a", 500.0, 200.0),  # minus 150..400 and 550..600 (a3 clipped to a)
        ("b", 400.0, 400.0),
        ("a1", 150.0, 150.0),
        ("a2", 150.0, 150.0),
        ("a3", 150.0, 150.0),
    ]
    assert [s["percent_of_total"] for s in body["slowest_spans"]] == [100.0, 50.0, 40.0, 15.0, 15.0, 15.0]
    # b ends last; a's work reaches 700, past b's start, so a is not on the path.
    assert path(body, names) == [("root", 600.0), ("b", 400.0)]
    assert body["time_by_kind"] == {"llm_ms": 400.0, "tool_ms": 0.0, "other_ms": 600.0}
    assert body["parallelism"] == 1.25  # 200 + 200 + 400 + 3 * 150 = 1250 ms in 1000 ms

    top2 = report(api, t.trace_hex, limit=2)
    assert [names[s["span_id"]] for s in top2["slowest_spans"]] == ["root", "a"]
    assert top2["critical_path"] == body["critical_path"]  # the path is never cut


def test_run_of_two_traces_with_a_gap(api: httpx.Client, spans: SpanFactory) -> None:
    run_id = f"two-roots-{uuid.uuid4().hex[:8]}"
    base = base_ns()
    t1, t2 = spans.trace(base), spans.trace(base)
    first = t1.span("first", 0, 300, attrs=kind("LLM", run_id))
    second = t2.span("second", 500, 1000, attrs=kind("TOOL", run_id))
    spans.send(t1, t2)

    body = report(api, run_id)
    assert body["status"] == "completed" and body["span_count"] == 2
    assert body["wall_time_ms"] == 1000.0
    assert path(body, named(first=first, second=second)) == [
        ("first", 300.0),
        ("other", 200.0),
        ("second", 500.0),
    ]
    assert body["critical_path"][1] == {
        "span_id": None,
        "operation_name": "other",
        "kind": "other",
        "path_ms": 200.0,
    }
    assert body["time_by_kind"] == {"llm_ms": 300.0, "tool_ms": 500.0, "other_ms": 200.0}
    assert body["parallelism"] == 0.8


def test_running_run_and_a_gateway_call(api: httpx.Client, spans: SpanFactory) -> None:
    """No root yet: the agent's parent never arrived, so the agent is where the path starts.
    The call's cost sits on api_invoke, model_call and the provider span: listed once."""
    run_id = f"running-{uuid.uuid4().hex[:8]}"
    t = spans.trace(base_ns(60))
    agent = t.span("agent", 0, 300, remote_parent=0x1234, attrs={"vllora.run_id": run_id})
    call = gateway_call(t, agent, 10, 290, run_id=run_id, cost=0.004, input_tokens=400, output_tokens=40)
    spans.send(t)

    body = report(api, run_id)
    assert body["status"] == "running"
    assert body["span_count"] == 5 and body["wall_time_ms"] == 300.0
    # cloud_api_invoke, api_invoke and model_call are each inset 1 ms in their parent.
    assert [(e["operation_name"], e["kind"], e["path_ms"]) for e in body["critical_path"]] == [
        ("agent", "agent", 20.0),
        ("cloud_api_invoke", "other", 2.0),
        ("api_invoke", "chain", 2.0),
        ("model_call", "llm", 2.0),
        ("openai", "llm", 274.0),
    ]
    assert body["critical_path"][4]["span_id"] == span_hex(call.provider)
    assert body["time_by_kind"] == {"llm_ms": 276.0, "tool_ms": 0.0, "other_ms": 24.0}
    assert body["expensive_spans"] == [
        {
            "span_id": span_hex(call.api_invoke),
            "operation_name": "api_invoke",
            "model": "openai/gpt-4o-mini",
            "cost": 0.004,
            "percent_of_cost": 100.0,
        }
    ]


def test_costs_of_two_calls_counted_once(api: httpx.Client, spans: SpanFactory) -> None:
    run_id = f"costs-{uuid.uuid4().hex[:8]}"
    t = spans.trace(base_ns())
    root = t.span("run", 0, 1000, attrs={"vllora.run_id": run_id})
    cheap = gateway_call(t, root, 10, 390, run_id=run_id, cost=0.001, tool="search")
    dear = gateway_call(t, root, 410, 990, run_id=run_id, model="anthropic/claude-3-5-sonnet", cost=0.003)
    spans.send(t)

    body = report(api, run_id)
    assert get_json(api, f"/runs/{run_id}/details")["cost"] == pytest.approx(0.004, rel=1e-12)
    assert body["expensive_spans"] == [
        {
            "span_id": span_hex(dear.api_invoke),
            "operation_name": "api_invoke",
            "model": "anthropic/claude-3-5-sonnet",
            "cost": 0.003,
            "percent_of_cost": 75.0,
        },
        {
            "span_id": span_hex(cheap.api_invoke),
            "operation_name": "api_invoke",
            "model": "openai/gpt-4o-mini",
            "cost": 0.001,
            "percent_of_cost": 25.0,
        },
    ]
    one = report(api, run_id, limit=1)
    assert [s["span_id"] for s in one["expensive_spans"]] == [span_hex(dear.api_invoke)]
    assert len(one["slowest_spans"]) == 1 and one["slowest_spans"][0]["operation_name"] == "run"
    # The path: run 10 + 20 + 10 ms around the calls, each call's chain inset 1 ms per level,
    # and the zero-length tools span carries no time.
    ops = [(e["operation_name"], e["path_ms"]) for e in body["critical_path"]]
    assert ops == [
        ("run", 40.0),
        ("cloud_api_invoke", 2.0),
        ("api_invoke", 2.0),
        ("model_call", 2.0),
        ("openai", 374.0),
        ("cloud_api_invoke", 2.0),
        ("api_invoke", 2.0),
        ("model_call", 2.0),
        ("anthropic", 574.0),
    ]
    assert body["time_by_kind"] == {"llm_ms": 952.0, "tool_ms": 0.0, "other_ms": 48.0}


def _fetches(spans: SpanFactory, seconds_ago: int, durations: list[int], model: str | None) -> TraceBuilder:
    t = spans.trace(base_ns(seconds_ago))
    attrs = {"gen_ai.request.model": model} if model else {}
    for i, ms in enumerate(durations):
        t.span("fetch", i * 10, i * 10 + ms, attrs=attrs)
    return t


def test_outliers_against_the_projects_last_7_days(api: httpx.Client, spans: SpanFactory) -> None:
    recent = _fetches(spans, 2 * 3600, [10 * i for i in range(1, 31)], None)  # 10..300 ms
    old = _fetches(spans, 8 * DAY_S, [5000] * 5, None)  # outside the window: not counted
    other_model = _fetches(spans, 2 * 3600, [1000] * 25, "m1")  # same operation, another model
    spans.send(recent, old, other_model)

    run_id = f"outlier-{uuid.uuid4().hex[:8]}"
    t = spans.trace(base_ns())
    root = t.span("run", 0, 2000, attrs={"vllora.run_id": run_id})
    slow = t.span("fetch", 100, 1100, parent=root, attrs={"vllora.run_id": run_id})
    t.span("fetch", 1100, 2000, parent=root, attrs={"vllora.run_id": run_id, "gen_ai.request.model": "m1"})
    spans.send(t)

    body = report(api, run_id)
    # (fetch, no model): 30 recent spans and this run's one; p95 is the ceil(0.95 * 31) = 30th
    # value, 300 ms. (fetch, m1): 26 spans, p95 1000 ms, and this run's 900 ms is below it.
    # (run, no model): one span, below the minimum sample of 20.
    assert body["outliers"] == [
        {
            "span_id": span_hex(slow),
            "operation_name": "fetch",
            "model": None,
            "duration_ms": 1000.0,
            "p95_ms": 300.0,
            "sample_size": 31,
        }
    ]
    assert body["outlier_reference"] == REFERENCE


def test_errors(api: httpx.Client, spans: SpanFactory, project: str) -> None:
    t = spans.trace(base_ns())
    t.span("only", 0, 10)
    spans.send(t)
    run_id = t.trace_hex

    r = api.get("/runs/no-such-run/bottlenecks")
    assert r.status_code == 404
    assert r.json() == {"error": "Run not found", "message": "Run with ID no-such-run not found"}
    other = api.get(f"/runs/{run_id}/bottlenecks", headers={"x-project-id": f"{project}-other"})
    assert other.status_code == 404

    for bad in ("0", "101", "-1", str(10**30)):
        r = api.get(f"/runs/{run_id}/bottlenecks", params={"limit": bad})
        assert r.status_code == 400, bad
        assert r.json() == {"error": "Bad request", "message": f"limit must be between 1 and 100, got {bad}"}
    r = api.get(f"/runs/{run_id}/bottlenecks", params={"limit": "five"})
    assert r.status_code == 400
    assert r.json()["error"] == "Invalid parameter" and "limit" in r.json()["message"]

    assert len(report(api, run_id, limit=100)["slowest_spans"]) == 1
    assert report(api, run_id, limit=1)["wall_time_ms"] == 10.0
    # The run routes next to this one still answer.
    assert get_json(api, f"/runs/{run_id}")["pagination"]["total"] == 1
    assert get_json(api, f"/runs/{run_id}/details")["span_count"] == 1
