"""GET /stats, /stats/breakdown and the per-model breakdown of /runs/{run_id}/details, with exact
numbers on runs built at known times, durations, costs and errors.

The windows are given as explicit bounds (B = `base_s`): the current window is [B, B + 1000 s)
and the previous one [B - 1000 s, B).

| run      | start      | ms   | content                                                  | status    |
| c01..c13 | B+10..130  | *    | a root span only                                         | completed |
| g1       | B+200      | 1000 | GPT call 0.001 (100/10), thread t-1, label search        | completed |
| g2       | B+210      | 2000 | GPT 0.002 (200/20) + CLAUDE 0.01 (1000/100), t-1, search | completed |
| f1       | B+300      | 1500 | GPT 0.0005 (50/5) failing "rate limited" twice, "boom"   | failed    |
|          |            |      | once; thread t-2, label book                             |           |
| f2       | B+310      | 1700 | "boom"; CLAUDE 0.004 (400/40) whose LLM span fails       | failed    |
|          |            |      | "overloaded" (OpenInference)                             |           |
| u1       | B+400      | 900  | mystery-model-x, tokens 100/20 (40 cached), no price     | completed |
| n1       | B+410      | 800  | an LLM span without a model: 0.0001 (50/5)               | completed |
| run1     | B+500      | -    | CLAUDE 0.003 (300/30); its root never arrives            | running   |
| late     | B+999      | 1200 | GPT 0.0003 (30/3), the call starting after the window    | completed |
| edge     | B-1        | 5000 | GPT 0.05 (500/50), the call starting inside the window   | completed |
| p1       | B-500      | 4000 | GPT 0.02 (1000/100)                                      | completed |
| p2       | B-400      | 3000 | "boom"                                                   | failed    |
| old      | B-36 h     | 700  | GPT 0.1 (10/1)                                           | completed |

The durations of the 20 finished runs of the current window are 100, 200, ..., 2000 ms.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import Server, get_json
from tests.shapes import gateway_call
from tests.spans import SpanFactory, TraceBuilder
from tracehound.api import schemas

GPT = "openai/gpt-4o-mini"
CLAUDE = "anthropic/claude-3-5-sonnet"
MYSTERY = "mystery-model-x"
S = 1_000_000  # µs per second
WINDOW_S = 1000
# Root-only runs: the durations left over once the runs with calls have theirs.
PLAIN_MS = (100, 200, 300, 400, 500, 600, 700, 1100, 1300, 1400, 1600, 1800, 1900)


@dataclass
class Data:
    project: str
    base_s: int

    def us(self, seconds: float) -> int:
        return int((self.base_s + seconds) * S)

    @property
    def window(self) -> dict[str, int]:
        return {"start": self.us(0), "end": self.us(WINDOW_S)}


def _oi_llm(
    t: TraceBuilder,
    parent: Any,
    start: float,
    end: float,
    run_id: str,
    tokens: tuple[int, int],
    *,
    model: str | None = None,
    provider: str | None = None,
    cost: float | None = None,
    cached: int | None = None,
    error: str | None = None,
) -> None:
    """An OpenInference LLM span: the LLM call and its billed span at once."""
    attrs: dict[str, Any] = {
        "vllora.run_id": run_id,
        "openinference.span.kind": "LLM",
        "llm.token_count.prompt": tokens[0],
        "llm.token_count.completion": tokens[1],
    }
    if model:
        attrs["llm.model_name"] = model
    if provider:
        attrs["llm.provider"] = provider
    if cost is not None:
        attrs["llm.cost.total"] = cost
    if cached is not None:
        attrs["llm.token_count.prompt_details.cache_read"] = cached
    t.span("llm_call", start, end, parent=parent, attrs=attrs, error=error)


def build(server: Server) -> Data:
    project = f"stats-{uuid.uuid4().hex[:12]}"
    factory = SpanFactory(server.otlp_grpc, server.otlp_http, project)
    base_s = (int(time.time()) // 100) * 100 - 3000
    d = Data(project=project, base_s=base_s)
    traces: list[TraceBuilder] = []

    def run(run_id: str, offset_s: float, ms: float, **attrs: Any) -> tuple[TraceBuilder, Any]:
        t = factory.trace(int((base_s + offset_s) * 1e9))
        traces.append(t)
        root = t.span("run", 0, ms, attrs={"vllora.run_id": run_id, **attrs})
        return t, root

    for i, ms in enumerate(PLAIN_MS):
        run(f"c{i + 1:02d}", 10 * (i + 1), ms)

    t, root = run("g1", 200, 1000, **{"vllora.thread_id": "t-1", "vllora.label": "search"})
    common = {"thread_id": "t-1", "label": "search"}
    gateway_call(t, root, 10, 610, run_id="g1", cost=0.001, input_tokens=100, output_tokens=10, **common)
    t, root = run("g2", 210, 2000, **{"vllora.thread_id": "t-1", "vllora.label": "search"})
    gateway_call(t, root, 10, 410, run_id="g2", cost=0.002, input_tokens=200, output_tokens=20, **common)
    gateway_call(
        t,
        root,
        1000,
        1990,
        run_id="g2",
        model=CLAUDE,
        cost=0.01,
        input_tokens=1000,
        output_tokens=100,
        **common,
    )

    t, root = run("f1", 300, 1500, **{"vllora.thread_id": "t-2", "vllora.label": "book"})
    gateway_call(
        t,
        root,
        10,
        1010,
        run_id="f1",
        cost=0.0005,
        input_tokens=50,
        output_tokens=5,
        thread_id="t-2",
        label="book",
        error="rate limited",
    )
    t.span("retry", 1100, 1200, parent=root, attrs={"vllora.run_id": "f1"}, error="rate limited")
    t.span("tool", 1300, 1400, parent=root, attrs={"vllora.run_id": "f1"}, exception="boom")

    t, root = run("f2", 310, 1700)
    t.span("tool", 5, 8, parent=root, attrs={"vllora.run_id": "f2"}, exception="boom")
    _oi_llm(
        t, root, 10, 1610, "f2", (400, 40), model=CLAUDE, provider="anthropic", cost=0.004, error="overloaded"
    )

    t, root = run("u1", 400, 900)
    _oi_llm(t, root, 10, 810, "u1", (100, 20), model=MYSTERY, provider="acme", cached=40)
    t, root = run("n1", 410, 800)
    _oi_llm(t, root, 10, 710, "n1", (50, 5), cost=0.0001)

    t = factory.trace(int((base_s + 500) * 1e9))  # running: the root never arrives
    traces.append(t)
    agent = t.span("agent", 0, 300, remote_parent=0x1234, attrs={"vllora.run_id": "run1"})
    gateway_call(
        t, agent, 10, 290, run_id="run1", model=CLAUDE, cost=0.003, input_tokens=300, output_tokens=30
    )

    t, root = run("late", WINDOW_S - 1, 1200)
    gateway_call(t, root, 1010, 1190, run_id="late", cost=0.0003, input_tokens=30, output_tokens=3)
    t, root = run("edge", -1, 5000)
    gateway_call(t, root, 1500, 2500, run_id="edge", cost=0.05, input_tokens=500, output_tokens=50)
    t, root = run("p1", -500, 4000)
    gateway_call(t, root, 10, 3990, run_id="p1", cost=0.02, input_tokens=1000, output_tokens=100)
    t, root = run("p2", -400, 3000)
    t.span("tool", 10, 20, parent=root, attrs={"vllora.run_id": "p2"}, exception="boom")
    t, root = run("old", -36 * 3600, 700)
    gateway_call(t, root, 10, 690, run_id="old", cost=0.1, input_tokens=10, output_tokens=1)

    factory.send(*traces)
    return d


@pytest.fixture(scope="module")
def data(server: Server) -> Data:
    return build(server)


@pytest.fixture(scope="module")
def sapi(server: Server, data: Data) -> Any:
    with server.client(data.project) as client:
        yield client


def approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-9, abs=1e-15)


def model_row(
    model: str | None,
    provider: str | None,
    calls: int,
    cost: float,
    tokens: tuple[int, int, int],
    errors: int,
    p50: float | None,
    p95: float | None,
    key: str = "model",
) -> dict[str, Any]:
    row: dict[str, Any] = {key: model}
    if key == "model":
        row["provider"] = provider
    row.update(
        calls=calls,
        cost=approx(cost),
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cached_tokens=tokens[2],
        errors=errors,
        p50_latency_ms=p50,
        p95_latency_ms=p95,
    )
    return row


# model_call spans last the gateway call minus 4 ms; the OpenInference spans are the calls.
BY_MODEL = [
    model_row(CLAUDE, "anthropic", 3, 0.017, (1700, 170, 0), 1, 986.0, 1600.0),
    model_row(GPT, "openai", 4, 0.0038, (380, 38, 0), 0, 396.0, 996.0),
    model_row(None, None, 1, 0.0001, (50, 5, 0), 0, 700.0, 700.0),
    model_row(MYSTERY, "acme", 1, 0.0, (100, 20, 40), 0, 800.0, 800.0),
]


def test_stats_of_a_window(data: Data, sapi: httpx.Client) -> None:
    body = get_json(sapi, "/stats", data.window)
    assert body == {
        "start_us": data.us(0),
        "end_us": data.us(WINDOW_S),
        "total_runs": 21,
        "completed_runs": 18,
        "failed_runs": 2,
        "running_runs": 1,
        "success_rate": 0.9,
        "total_cost": approx(0.0209),
        # The 20 finished runs last 100..2000 ms; the running one is left out.
        "avg_duration_ms": 1050.0,
        "p50_duration_ms": 1000.0,
        "p90_duration_ms": 1800.0,
        "p95_duration_ms": 1900.0,
        "p99_duration_ms": 2000.0,
        "llm_calls": 9,
        "input_tokens": 2230,
        "output_tokens": 233,
        "cached_tokens": 40,
        "top_errors": [
            {"message": "boom", "count": 2, "runs": 2, "last_run_id": "f2"},
            {"message": "rate limited", "count": 2, "runs": 1, "last_run_id": "f1"},
            {"message": "overloaded", "count": 1, "runs": 1, "last_run_id": "f2"},
        ],
        "by_model": BY_MODEL,
        "unpriced_models": [{"model": MYSTERY, "calls": 1}],
        "previous_period": {
            "start_us": data.us(-WINDOW_S),
            "end_us": data.us(0),
            "total_runs": 3,
            "completed_runs": 2,
            "failed_runs": 1,
            "running_runs": 0,
            "success_rate": 2 / 3,
            "total_cost": approx(0.07),
            "avg_duration_ms": 4000.0,
            "p50_duration_ms": 4000.0,
            "p95_duration_ms": 5000.0,
            "llm_calls": 2,
            "input_tokens": 1500,
            "output_tokens": 150,
            "cached_tokens": 0,
        },
    }


def test_by_model_adds_up_to_the_totals(data: Data, sapi: httpx.Client) -> None:
    """The runs rollup and the spans agree: the boundary runs' calls go with their runs (edge's
    call inside the window is not counted, late's call after the window is)."""
    body = get_json(sapi, "/stats", data.window)
    rows = body["by_model"]
    assert sum(r["cost"] for r in rows) == approx(body["total_cost"])
    for field in ("input_tokens", "output_tokens", "cached_tokens"):
        assert sum(r[field] for r in rows) == body[field]
    assert sum(r["calls"] for r in rows) == body["llm_calls"]
    # vLLora's gateway puts the cost on api_invoke (model = the request model) and the call on
    # model_call (model = model_name): the same string, so one row carries both.
    gpt = next(r for r in rows if r["model"] == GPT)
    assert (gpt["calls"], gpt["cost"]) == (4, approx(0.0038))
    listed = get_json(sapi, "/runs", {"start_time_min": data.us(0), "start_time_max": data.us(WINDOW_S) - 1})
    assert sum(r["cost"] for r in listed["data"]) == approx(body["total_cost"])
    assert listed["pagination"]["total"] == body["total_runs"]


def test_iso_bounds_and_camel_case(data: Data, sapi: httpx.Client) -> None:
    iso = {
        k: datetime.fromtimestamp(v / S, tz=UTC).isoformat().replace("+00:00", "Z")
        for k, v in data.window.items()
    }
    assert get_json(sapi, "/stats", iso) == get_json(sapi, "/stats", data.window)
    camel = get_json(sapi, "/stats", {**data.window, "threadIds": "t-1"})
    assert camel == get_json(sapi, "/stats", {**data.window, "thread_ids": "t-1"})


def test_filters_select_runs_as_runs_does(data: Data, sapi: httpx.Client) -> None:
    body = get_json(sapi, "/stats", {**data.window, "thread_ids": "t-1"})
    assert (body["total_runs"], body["completed_runs"], body["failed_runs"]) == (2, 2, 0)
    assert body["total_cost"] == approx(0.013)
    assert (body["avg_duration_ms"], body["p50_duration_ms"], body["p99_duration_ms"]) == (
        1500.0,
        1000.0,
        2000.0,
    )
    assert body["by_model"] == [
        model_row(CLAUDE, "anthropic", 1, 0.01, (1000, 100, 0), 0, 986.0, 986.0),
        model_row(GPT, "openai", 2, 0.003, (300, 30, 0), 0, 396.0, 596.0),
    ]
    assert body["top_errors"] == [] and body["unpriced_models"] == []
    assert body["previous_period"]["total_runs"] == 0

    body = get_json(sapi, "/stats", {**data.window, "labels": "book,nothing"})
    assert (body["total_runs"], body["failed_runs"], body["success_rate"]) == (1, 1, 0.0)
    assert body["top_errors"] == [
        {"message": "rate limited", "count": 2, "runs": 1, "last_run_id": "f1"},
        {"message": "boom", "count": 1, "runs": 1, "last_run_id": "f1"},
    ]

    # Runs that used or requested Claude: g2 (with its GPT call), f2 and the running run1.
    body = get_json(sapi, "/stats", {**data.window, "model_name": CLAUDE})
    assert (body["total_runs"], body["running_runs"], body["failed_runs"]) == (3, 1, 1)
    assert body["success_rate"] == 0.5
    assert [(r["model"], r["calls"], r["cost"]) for r in body["by_model"]] == [
        (CLAUDE, 3, approx(0.017)),
        (GPT, 1, approx(0.002)),
    ]
    # The durations are those of the finished runs, g2 and f2.
    assert (body["avg_duration_ms"], body["p50_duration_ms"], body["p95_duration_ms"]) == (
        1850.0,
        1700.0,
        2000.0,
    )


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("model", BY_MODEL),
        (
            "provider",
            [
                model_row("anthropic", None, 3, 0.017, (1700, 170, 0), 1, 986.0, 1600.0, key="provider"),
                model_row("openai", None, 4, 0.0038, (380, 38, 0), 0, 396.0, 996.0, key="provider"),
                model_row(None, None, 1, 0.0001, (50, 5, 0), 0, 700.0, 700.0, key="provider"),
                model_row("acme", None, 1, 0.0, (100, 20, 40), 0, 800.0, 800.0, key="provider"),
            ],
        ),
        (
            "label",
            [
                model_row("search", None, 3, 0.013, (1300, 130, 0), 0, 596.0, 986.0, key="label"),
                model_row(None, None, 5, 0.0074, (880, 98, 40), 1, 700.0, 1600.0, key="label"),
                model_row("book", None, 1, 0.0005, (50, 5, 0), 0, 996.0, 996.0, key="label"),
            ],
        ),
        (
            "thread",
            [
                model_row("t-1", None, 3, 0.013, (1300, 130, 0), 0, 596.0, 986.0, key="thread_id"),
                model_row(None, None, 5, 0.0074, (880, 98, 40), 1, 700.0, 1600.0, key="thread_id"),
                model_row("t-2", None, 1, 0.0005, (50, 5, 0), 0, 996.0, 996.0, key="thread_id"),
            ],
        ),
    ],
)
def test_breakdown(data: Data, sapi: httpx.Client, by: str, expected: list[dict[str, Any]]) -> None:
    body = get_json(sapi, "/stats/breakdown", {**data.window, "by": by})
    assert body == {
        "by": by,
        "start_us": data.us(0),
        "end_us": data.us(WINDOW_S),
        "total": len(expected),
        "data": expected,
    }
    schemas.UsageBreakdown.model_validate(body)
    assert get_json(sapi, "/stats/breakdown", {**data.window, "by": by, "limit": 1})["data"] == expected[:1]
    assert get_json(sapi, "/stats/breakdown", {**data.window, "by": by, "limit": 0})["total"] == len(expected)


def test_breakdown_defaults_to_model_and_takes_filters(data: Data, sapi: httpx.Client) -> None:
    assert get_json(sapi, "/stats/breakdown", data.window)["data"] == BY_MODEL
    body = get_json(sapi, "/stats/breakdown", {**data.window, "by": "label", "labels": "book"})
    assert body["data"] == [model_row("book", None, 1, 0.0005, (50, 5, 0), 0, 996.0, 996.0, key="label")]


def test_named_periods(data: Data, sapi: httpx.Client) -> None:
    day = get_json(sapi, "/stats")  # last_day by default
    assert day["end_us"] - day["start_us"] == 86_400 * S
    assert abs(day["end_us"] - time.time() * S) < 60 * S
    prev = day["previous_period"]
    assert (prev["start_us"], prev["end_us"]) == (day["start_us"] - 86_400 * S, day["start_us"])
    # Everything but `old`, which started 36 h before B: it is the previous day's only run.
    assert (day["total_runs"], day["failed_runs"], day["running_runs"]) == (24, 3, 1)
    assert (prev["total_runs"], prev["total_cost"], prev["llm_calls"]) == (1, approx(0.1), 1)
    assert day["total_cost"] == approx(0.0209 + 0.07)
    assert get_json(sapi, "/stats", {"period": "last_day"})["total_runs"] == 24

    hour = get_json(sapi, "/stats", {"period": "last_hour"})
    assert hour["end_us"] - hour["start_us"] == 3600 * S
    same = get_json(sapi, "/stats", {"start": hour["start_us"], "end": hour["end_us"]})
    assert same == hour

    # A period ending at `end`: the window before it.
    before = get_json(sapi, "/stats", {"period": "last_5_minutes", "end": data.us(0)})
    assert (before["start_us"], before["end_us"]) == (data.us(-300), data.us(0))
    assert before["total_runs"] == 1  # edge

    everything = get_json(sapi, "/stats", {"period": "all"})
    assert everything["start_us"] == 0 and everything["previous_period"] is None
    assert everything["total_runs"] == 25
    # start alone: up to now.
    assert get_json(sapi, "/stats", {"start": data.us(0)})["total_runs"] == 21


ZERO_PERIOD = {
    "total_runs": 0,
    "completed_runs": 0,
    "failed_runs": 0,
    "running_runs": 0,
    "success_rate": None,
    "total_cost": 0.0,
    "avg_duration_ms": None,
    "p50_duration_ms": None,
    "p95_duration_ms": None,
    "llm_calls": 0,
    "input_tokens": 0,
    "output_tokens": 0,
    "cached_tokens": 0,
}


def test_an_empty_window_has_every_key(data: Data, sapi: httpx.Client, api: httpx.Client) -> None:
    body = get_json(sapi, "/stats", {"start": data.us(2000), "end": data.us(2100)})
    assert body == {
        "start_us": data.us(2000),
        "end_us": data.us(2100),
        **ZERO_PERIOD,
        "p90_duration_ms": None,
        "p99_duration_ms": None,
        "top_errors": [],
        "by_model": [],
        "unpriced_models": [],
        "previous_period": {"start_us": data.us(1900), "end_us": data.us(2000), **ZERO_PERIOD},
    }
    schemas.Stats.model_validate(body)
    # A project with no data at all.
    empty = get_json(api, "/stats")
    assert {k: empty[k] for k in ZERO_PERIOD} == ZERO_PERIOD
    assert empty["previous_period"]["total_runs"] == 0 and empty["by_model"] == []
    assert get_json(api, "/stats/breakdown", {"by": "thread"})["data"] == []


def test_run_details_by_model(data: Data, sapi: httpx.Client) -> None:
    listed = {r["run_id"]: r for r in get_json(sapi, "/runs", {"limit": 100})["data"]}
    g2 = get_json(sapi, "/runs/g2/details")
    assert g2.pop("by_model") == [
        model_row(CLAUDE, "anthropic", 1, 0.01, (1000, 100, 0), 0, 986.0, 986.0),
        model_row(GPT, "openai", 1, 0.002, (200, 20, 0), 0, 396.0, 396.0),
    ]
    assert g2 == listed["g2"]
    assert get_json(sapi, "/runs/f2/details")["by_model"] == [
        model_row(CLAUDE, "anthropic", 1, 0.004, (400, 40, 0), 1, 1600.0, 1600.0),
    ]
    # A running run (no root yet) and a run with no call at all.
    assert get_json(sapi, "/runs/run1/details")["by_model"] == [
        model_row(CLAUDE, "anthropic", 1, 0.003, (300, 30, 0), 0, 276.0, 276.0),
    ]
    assert get_json(sapi, "/runs/c01/details")["by_model"] == []
    assert get_json(sapi, "/runs/n1/details")["by_model"] == [BY_MODEL[2]]
    for run_id in ("g2", "run1", "c01"):
        exact(schemas.RunDetails, get_json(sapi, f"/runs/{run_id}/details"))


def exact(model: Any, body: Any) -> None:
    """Valid for the model, and nothing in the body that the model does not declare."""
    assert model.model_validate(body).model_dump(exclude_unset=True) == body


def test_responses_match_schema(data: Data, sapi: httpx.Client) -> None:
    exact(schemas.Stats, get_json(sapi, "/stats", data.window))
    exact(schemas.Stats, get_json(sapi, "/stats", {"period": "all"}))
    for by in ("model", "provider", "label", "thread"):
        exact(schemas.UsageBreakdown, get_json(sapi, "/stats/breakdown", {**data.window, "by": by}))


@pytest.mark.parametrize(
    ("path", "params", "needle"),
    [
        ("/stats", {"period": "last_century"}, "unknown period 'last_century'"),
        ("/stats", {"start": "yesterday"}, "start: cannot read 'yesterday' as a time"),
        ("/stats", {"end": "2026-13-45"}, "end: cannot read '2026-13-45' as a time"),
        ("/stats", {"start": "2026-11-26T10:00:00Z", "end": "2026-11-26T09:00:00Z"}, "must be before end"),
        ("/stats", {"start": 5, "end": 5}, "must be before end"),
        ("/stats", {"period": "last_day", "start": 5}, "either period or start"),
        ("/stats", {"start": 10**20}, "start must lie between 1970 and the end of 9999"),
        ("/stats", {"end": -1}, "end must lie between"),
        ("/stats", {"start": "0001-01-01T00:00:00Z"}, "start must lie between"),
        ("/stats/breakdown", {"by": "color"}, "by: Input should be 'model', 'provider', 'label' or 'thread'"),
        ("/stats/breakdown", {"limit": -1}, "limit must be 0 or more"),
        ("/stats/breakdown", {"limit": 10**6}, "limit must be at most 1000"),
        ("/stats/breakdown", {"period": "soon"}, "unknown period 'soon'"),
        ("/stats", {"thread_ids": "a", "threadIds": "b"}, "parameter given twice"),
    ],
)
def test_bad_input_is_400(api: httpx.Client, path: str, params: dict[str, Any], needle: str) -> None:
    r = api.get(path, params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) == {"error", "message"} and needle in body["message"], body
