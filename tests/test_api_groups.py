"""GET /group (by time, thread, run), GET /group/spans and POST /group/batch-spans."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import get_json
from tests.world import CLAUDE, GPT, OLD_S, RUN_B, S, World


def groups(c: httpx.Client, params: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = get_json(c, "/group", params)
    return body


def keys(body: dict[str, Any]) -> list[Any]:
    return [g["group_key"] for g in body["data"]]


def test_time_groups(world: World, wapi: httpx.Client) -> None:
    body = groups(wapi, {"group_by": "time", "bucket_size": 100})
    assert body["pagination"] == {"offset": 0, "limit": 100, "total": 2}
    assert keys(body) == [{"time_bucket": world.us(0)}, {"time_bucket": world.us(-OLD_S)}]
    assert body["data"][0] == {
        "group_by": "time",  # once (vLLora emits it twice)
        "group_key": {"time_bucket": world.us(0)},
        "time_bucket": world.us(0),
        "thread_id": None,
        "run_id": None,
        "thread_ids": ["thread-1", "thread-2", "thread-3"],
        "trace_ids": sorted(world.trace(x) for x in "ABCDE"),
        "run_ids": sorted([RUN_B, "run-a", "run-c", world.run_d, "run-e"]),
        "root_span_ids": sorted(world.roots[x] for x in "ABDE"),
        "request_models": [CLAUDE, GPT],
        "used_models": [CLAUDE, GPT],
        "llm_calls": 5,
        "cost": pytest.approx(0.0076, rel=1e-12),
        "input_tokens": 770,
        "output_tokens": 77,
        "start_time_us": world.us(0),
        "finish_time_us": world.us(40.8),
        "errors": ["boom", "rate limited"],
        "duration_ms": 40800.0,
        "has_errors": True,
        "error_count": 2,
        "span_count": 28,
    }
    old = body["data"][1]
    assert (old["run_ids"], old["span_count"], old["duration_ms"], old["has_errors"]) == (
        ["run-old"],
        5,
        2000.0,
        False,
    )
    # Default: group_by=time, one-hour buckets (+0..+41 s never cross an hour: base_s is a multiple of 100).
    hour = 3600 * S
    default = groups(wapi, {})
    assert keys(default) == [
        {"time_bucket": world.us(0) // hour * hour},
        {"time_bucket": world.us(-OLD_S) // hour * hour},
    ]
    ten = groups(wapi, {"bucketSize": 10, "limit": 2, "offset": 1})
    assert ten["pagination"] == {"offset": 1, "limit": 2, "total": 6}
    assert keys(ten) == [{"time_bucket": world.us(30)}, {"time_bucket": world.us(20)}]


Params = Callable[[World], dict[str, Any]]

# Filters select whole runs; start_time_min/max bound span starts. (span_count, cost) per bucket.
TIME_FILTERS: list[tuple[Params, list[tuple[int, float]]]] = [
    (lambda w: {"thread_ids": "thread-1"}, [(15, 0.0035)]),
    (lambda w: {"threadIds": "thread-2,thread-old"}, [(5, 0.004), (5, 0.01)]),
    (lambda w: {"trace_ids": str(uuid.UUID(w.trace("E")))}, [(6, 0.0001)]),
    (lambda w: {"model_name": CLAUDE}, [(15, 0.007)]),
    # vLLora keeps only model_call rows here and reports cost 0: we keep the runs' spans.
    (lambda w: {"type_filter": "model"}, [(26, 0.0076), (5, 0.01)]),
    (lambda w: {"typeFilter": "mcp"}, [(6, 0.0001)]),
    (lambda w: {"labels": "hotel_search"}, [(5, 0.0005)]),
    (lambda w: {"labels": "flight_search"}, [(12, 0.003), (5, 0.01)]),
    (lambda w: {"start_time_min": w.us(10), "start_time_max": w.us(20)}, [(6, 0.0005)]),
    (lambda w: {"startTimeMax": w.us(-1)}, [(5, 0.01)]),
]


@pytest.mark.parametrize(("params", "expected"), TIME_FILTERS)
def test_time_group_filters(
    world: World, wapi: httpx.Client, params: Params, expected: list[tuple[int, float]]
) -> None:
    body = groups(wapi, {"bucket_size": 100, **params(world)})
    assert [(g["span_count"], g["cost"]) for g in body["data"]] == [
        (n, pytest.approx(cost, rel=1e-12)) for n, cost in expected
    ]
    assert body["pagination"]["total"] == len(expected)


def test_thread_groups(world: World, wapi: httpx.Client) -> None:
    body = groups(wapi, {"groupBy": "thread"})
    # Run E has no thread: no NULL group, no 500 (vLLora fails the whole request).
    assert body["pagination"] == {"offset": 0, "limit": 100, "total": 4}
    assert [g["thread_id"] for g in body["data"]] == ["thread-3", "thread-2", "thread-1", "thread-old"]
    assert body["data"][2] == {
        "group_by": "thread",
        "group_key": {"thread_id": "thread-1"},
        "time_bucket": None,
        "thread_id": "thread-1",
        "run_id": None,
        "thread_ids": ["thread-1"],
        "trace_ids": sorted([world.trace("A"), world.trace("B")]),
        "run_ids": [RUN_B, "run-a"],
        "root_span_ids": sorted([world.roots["A"], world.roots["B"]]),
        "request_models": [CLAUDE, GPT],
        "used_models": [CLAUDE, GPT],
        "llm_calls": 3,
        "cost": pytest.approx(0.0035, rel=1e-12),
        "input_tokens": 350,
        "output_tokens": 35,
        "start_time_us": world.us(0),
        "finish_time_us": world.us(10.5),
        "errors": ["rate limited"],
        "duration_ms": 10500.0,
        "has_errors": True,
        "error_count": 1,
        "span_count": 15,
    }
    assert body["data"][0]["run_ids"] == [world.run_d]  # a thread whose run is its trace


def test_run_groups(world: World, wapi: httpx.Client) -> None:
    body = groups(wapi, {"group_by": "run"})
    # Run D has no run id (its trace is its run) and a non-UUID key is fine.
    assert body["pagination"] == {"offset": 0, "limit": 100, "total": 6}
    assert [g["run_id"] for g in body["data"]] == ["run-e", world.run_d, "run-c", RUN_B, "run-a", "run-old"]
    assert body["data"][0] == {
        "group_by": "run",
        "group_key": {"run_id": "run-e"},
        "time_bucket": None,
        "thread_id": None,
        "run_id": "run-e",
        "thread_ids": [],
        "trace_ids": [world.trace("E")],
        "run_ids": ["run-e"],
        "root_span_ids": [world.roots["E"]],
        "request_models": [GPT],
        "used_models": [GPT],
        "llm_calls": 1,
        "cost": pytest.approx(0.0001, rel=1e-12),
        "input_tokens": 20,
        "output_tokens": 2,
        "start_time_us": world.us(40),
        "finish_time_us": world.us(40.8),
        "errors": [],
        "duration_ms": 800.0,
        "has_errors": False,
        "error_count": 0,
        "span_count": 6,
        "status": "completed",
    }
    assert [g["status"] for g in body["data"]] == [
        "completed",
        "failed",
        "running",
        "failed",
        "completed",
        "completed",
    ]
    page = groups(wapi, {"group_by": "run", "limit": 2, "offset": 2})
    assert page["pagination"] == {"offset": 2, "limit": 2, "total": 6}
    assert [g["run_id"] for g in page["data"]] == ["run-c", RUN_B]


GROUP_FILTERS: list[tuple[str, Params, list[str]]] = [
    ("thread", lambda w: {"thread_ids": "thread-1,thread-2"}, ["thread-2", "thread-1"]),
    ("thread", lambda w: {"labels": "flight_search"}, ["thread-3", "thread-1", "thread-old"]),
    ("thread", lambda w: {"model_name": CLAUDE}, ["thread-2", "thread-1"]),
    ("thread", lambda w: {"trace_ids": w.trace("A")}, ["thread-1"]),
    ("thread", lambda w: {"type_filter": "model"}, ["thread-2", "thread-1", "thread-old"]),
    ("thread", lambda w: {"type_filter": "mcp"}, []),
    ("thread", lambda w: {"start_time_min": w.us(10)}, ["thread-3", "thread-2"]),
    ("thread", lambda w: {"start_time_max": w.us(0)}, ["thread-1", "thread-old"]),
    ("run", lambda w: {"threadIds": "thread-1"}, [RUN_B, "run-a"]),
    ("run", lambda w: {"labels": "flight_search,hotel_search"}, ["D", RUN_B, "run-a", "run-old"]),
    ("run", lambda w: {"modelName": CLAUDE}, ["run-c", "run-a"]),
    ("run", lambda w: {"traceIds": str(uuid.UUID(w.run_d))}, ["D"]),
    ("run", lambda w: {"type_filter": "mcp"}, ["run-e"]),
    ("run", lambda w: {"type_filter": "model", "start_time_min": w.us(10)}, ["run-e", "run-c", RUN_B]),
    ("run", lambda w: {"startTimeMin": w.us(10), "startTimeMax": w.us(30)}, ["D", "run-c", RUN_B]),
]


@pytest.mark.parametrize(("group_by", "params", "expected"), GROUP_FILTERS)
def test_thread_and_run_group_filters(
    world: World, wapi: httpx.Client, group_by: str, params: Params, expected: list[str]
) -> None:
    body = groups(wapi, {"group_by": group_by, **params(world)})
    want = [world.run_d if k == "D" else k for k in expected]
    assert [g[f"{group_by}_id"] for g in body["data"]] == want
    assert body["pagination"]["total"] == len(want)


def test_group_spans(world: World, wapi: httpx.Client) -> None:
    def spans(params: dict[str, Any]) -> tuple[dict[str, int], list[str]]:
        body = get_json(wapi, "/group/spans", params)
        return body["pagination"], [s["span_id"] for s in body["data"]]

    def run(run_id: str) -> list[str]:
        return [s["span_id"] for s in get_json(wapi, f"/runs/{run_id}")["data"]]  # ascending

    a = run("run-a")
    assert spans({"group_by": "time", "time_bucket": world.us(0), "bucket_size": 10}) == (
        {"offset": 0, "limit": 100, "total": 10},
        a,
    )
    camel = {"groupBy": "time", "timeBucket": world.us(0), "bucketSize": 10, "limit": 3, "offset": 2}
    assert spans(camel) == ({"offset": 2, "limit": 3, "total": 10}, a[2:5])
    hour = 3600 * S
    page, ids = spans({"group_by": "time", "time_bucket": world.us(0) // hour * hour, "limit": 1})
    assert (page["total"], ids) == (28, [world.roots["A"]])  # all spans, not only roots, oldest first
    assert spans({"group_by": "thread", "thread_id": "thread-1"}) == (
        {"offset": 0, "limit": 100, "total": 15},
        a + run(RUN_B),
    )
    d = run(world.run_d)
    assert d[0] == world.roots["D"]
    assert spans({"group_by": "run", "run_id": world.run_d}) == ({"offset": 0, "limit": 100, "total": 2}, d)
    assert spans({"group_by": "run", "run_id": RUN_B, "limit": 2, "offset": 4}) == (
        {"offset": 4, "limit": 2, "total": 5},
        run(RUN_B)[4:],
    )
    nothing: tuple[dict[str, int], list[str]] = ({"offset": 0, "limit": 100, "total": 0}, [])
    assert spans({"group_by": "run", "run_id": "no-such-run"}) == nothing
    assert spans({"group_by": "thread", "thread_id": "thread-2"})[0]["total"] == 5


def test_batch_spans(world: World, wapi: httpx.Client) -> None:
    body = {
        "groups": [
            {"time_bucket": world.us(10), "bucket_size": 10},
            {"threadId": "thread-2"},
            {"runId": "run-e"},
            {"run_id": world.run_d},
            {"timeBucket": world.us(20), "bucketSize": 10, "groupBy": "time"},
        ],
        "spansPerGroup": 2,
    }
    r = wapi.post("/group/batch-spans", json=body)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    totals = {k: (v["pagination"], len(v["spans"])) for k, v in data.items()}

    def page(total: int, n: int = 2) -> tuple[dict[str, int], int]:
        return {"offset": 0, "limit": 2, "total": total}, n

    assert totals == {
        f"time-{world.us(10)}": page(5),
        "thread-thread-2": page(5),
        "run-run-e": page(6),
        f"run-{world.run_d}": page(2),
        f"time-{world.us(20)}": page(5),
    }
    # The same span objects as everywhere, oldest first.
    assert data[f"run-{world.run_d}"]["spans"] == get_json(wapi, f"/runs/{world.run_d}")["data"]
    assert data[f"time-{world.us(10)}"]["spans"] == get_json(wapi, f"/runs/{RUN_B}", {"limit": 2})["data"]

    snake = {"groups": [{"thread_id": "thread-1"}], "spans_per_group": 50, "labels": "hotel_search"}
    got = wapi.post("/group/batch-spans", json=snake).json()["data"]["thread-thread-1"]
    assert got["pagination"] == {"offset": 0, "limit": 50, "total": 5}
    assert {s["attribute"].get("label") for s in got["spans"]} == {"hotel_search"}
    both = {"groups": [{"thread_id": "thread-1"}], "labels": "hotel_search, flight_search"}
    got = wapi.post("/group/batch-spans", json=both).json()["data"]["thread-thread-1"]
    assert got["pagination"] == {"offset": 0, "limit": 100, "total": 15}  # default spans_per_group
