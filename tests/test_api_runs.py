"""GET /runs, /runs/{run_id} and /runs/{run_id}/details: every parameter, on one data set.

The data set (`build_world`) is shared by the other tests/test_api_*.py modules: each module
sends it once, under its own project id, and only reads it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import get_json
from tests.world import CLAUDE, GPT, RUN_B, World


def run_ids(w: World) -> dict[str, str]:
    """Run letter -> run id."""
    return {"A": "run-a", "B": RUN_B, "C": "run-c", "D": w.run_d, "E": "run-e", "F": "run-old"}


def letters(w: World, body: dict[str, Any]) -> str:
    """The runs of a /runs page as letters, in order: "EDCBAF"."""
    back = {v: k for k, v in run_ids(w).items()}
    return "".join(back[r["run_id"]] for r in body["data"])


def runs(c: httpx.Client, params: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = get_json(c, "/runs", params)
    return body


def test_run_object_and_default_list(world: World, wapi: httpx.Client) -> None:
    body = runs(wapi, {})
    assert body["pagination"] == {"offset": 0, "limit": 100, "total": 6}
    assert letters(world, body) == "EDCBAF"  # newest first
    assert body["data"][4] == {
        "run_id": "run-a",
        "thread_ids": ["thread-1"],
        "trace_ids": [world.trace("A")],
        "root_span_ids": [world.roots["A"]],
        "request_models": [CLAUDE, GPT],
        "used_models": [CLAUDE, GPT],
        "used_tools": ["search"],
        "mcp_template_definition_ids": [],
        "llm_calls": 2,
        "cost": pytest.approx(0.003, rel=1e-12),  # api_invoke only, f64
        "input_tokens": 300,
        "output_tokens": 30,
        "start_time_us": world.us(0),
        "finish_time_us": world.us(1),
        "errors": [],
        "duration_ms": 1000.0,
        "status": "completed",
        "has_errors": False,
        "error_count": 0,
        "span_count": 10,
        "cached_tokens": None,
        "tool_calls": 1,
        "labels": ["flight_search"],
    }


def test_computed_fields_of_every_run(world: World, wapi: httpx.Client) -> None:
    got = {r["run_id"]: r for r in runs(wapi, {})["data"]}
    keys = ("duration_ms", "status", "has_errors", "error_count", "span_count", "llm_calls", "cost", "errors")
    expected = {
        "A": (1000.0, "completed", False, 0, 10, 2, 0.003, []),
        "B": (500.0, "failed", True, 1, 5, 1, 0.0005, ["rate limited"]),
        "C": (300.0, "running", False, 0, 5, 1, 0.004, []),
        "D": (100.0, "failed", True, 1, 2, 0, 0.0, ["boom"]),
        "E": (800.0, "completed", False, 0, 6, 1, 0.0001, []),
        "F": (2000.0, "completed", False, 0, 5, 1, 0.01, []),
    }
    for letter, run_id in run_ids(world).items():
        want = dict(zip(keys, expected[letter], strict=True))
        want["cost"] = pytest.approx(want["cost"], rel=1e-12, abs=1e-18)
        assert {k: got[run_id][k] for k in keys} == want, letter
    # A run without a thread, a thread without a run id (its run is its trace), and no root yet.
    assert got["run-e"]["thread_ids"] == []
    assert got[world.run_d]["trace_ids"] == [world.run_d] and got[world.run_d]["thread_ids"] == ["thread-3"]
    assert got["run-c"]["trace_ids"] == [] and got["run-c"]["root_span_ids"] == []
    assert got[RUN_B]["start_time_us"] == world.us(10) and got[RUN_B]["finish_time_us"] == world.us(10.5)


Params = Callable[[World], dict[str, Any]]

FILTERS: list[tuple[Params, str]] = [
    (lambda w: {"run_ids": f"run-a, {RUN_B}"}, "BA"),
    (lambda w: {"thread_ids": "thread-1"}, "BA"),
    (lambda w: {"thread_ids": "thread-1,thread-3"}, "DBA"),
    (lambda w: {"trace_ids": w.trace("A")}, "A"),
    # UUID form; C has no root span (its trace_ids field is empty) but its trace still selects it.
    (lambda w: {"trace_ids": f"{uuid.UUID(w.trace('A'))},{w.trace('C')}"}, "CA"),
    (lambda w: {"model_name": CLAUDE}, "CA"),
    (lambda w: {"model_name": GPT}, "EBAF"),
    (lambda w: {"type_filter": "model"}, "ECBAF"),
    (lambda w: {"type_filter": "mcp"}, "E"),
    (lambda w: {"start_time_min": w.us(10)}, "EDCB"),
    (lambda w: {"start_time_max": w.us(20)}, "CBAF"),
    (lambda w: {"start_time_min": w.us(10), "start_time_max": w.us(20)}, "CB"),
    (lambda w: {"labels": "flight_search"}, "DAF"),
    (lambda w: {"labels": "flight_search,hotel_search"}, "DBAF"),
    (lambda w: {"model_name": GPT, "labels": "flight_search"}, "AF"),
    (lambda w: {"include_mcp_templates": "true"}, "EDCBAF"),
    (lambda w: {"period": "last_hour"}, "EDCBA"),
    (lambda w: {"period": "last_5_minutes"}, ""),
    (lambda w: {"period": "last_week"}, "EDCBAF"),
    (lambda w: {"period": "all"}, "EDCBAF"),
    (lambda w: {"period": "last_hour", "start_time_max": w.us(10)}, "BA"),
    # startTime/endTime are SECONDS; with µs bounds too, the tightest bound wins.
    (lambda w: {"start_time": w.base_s + 10, "end_time": w.base_s + 30}, "DCB"),
    (lambda w: {"start_time": w.base_s + 10, "start_time_min": w.us(20), "end_time": w.base_s + 30}, "DC"),
    (lambda w: {"status": "failed"}, "DB"),
    (lambda w: {"status": "running"}, "C"),
    (lambda w: {"status": "completed"}, "EAF"),
    (lambda w: {"status": "running,completed"}, "ECAF"),
    (lambda w: {"status": "failed,running,completed"}, "EDCBAF"),
    (lambda w: {"min_duration_ms": 800}, "EAF"),
    (lambda w: {"min_duration_ms": 800.5}, "AF"),
    (lambda w: {"min_cost": 0.0025}, "CAF"),
    (lambda w: {"min_cost": 0.0025, "status": "completed", "thread_ids": "thread-1,thread-old"}, "AF"),
]


@pytest.mark.parametrize(("params", "expected"), FILTERS)
def test_filters(world: World, wapi: httpx.Client, params: Params, expected: str) -> None:
    body = runs(wapi, params(world))
    assert letters(world, body) == expected
    assert body["pagination"]["total"] == len(expected)


CAMEL: list[tuple[Params, str]] = [
    (lambda w: {"runIds": f"run-a,{RUN_B}"}, "BA"),
    (lambda w: {"threadIds": "thread-2"}, "C"),
    (lambda w: {"traceIds": str(uuid.UUID(w.trace("E")))}, "E"),
    (lambda w: {"modelName": CLAUDE}, "CA"),
    (lambda w: {"typeFilter": "mcp"}, "E"),
    (lambda w: {"startTimeMin": w.us(10), "startTimeMax": w.us(20)}, "CB"),
    (lambda w: {"includeMcpTemplates": "false", "labels": "hotel_search"}, "B"),
    (lambda w: {"startTime": w.base_s + 30, "endTime": w.base_s + 40}, "ED"),
    (lambda w: {"sortBy": "cost", "order": "asc", "minCost": 0.0035}, "CF"),
    (lambda w: {"minDurationMs": 1000}, "AF"),
]


@pytest.mark.parametrize(("params", "expected"), CAMEL)
def test_camel_case_aliases(world: World, wapi: httpx.Client, params: Params, expected: str) -> None:
    assert letters(world, runs(wapi, params(world))) == expected


@pytest.mark.parametrize(
    ("sort_by", "order", "expected"),
    [
        ("start_time", "desc", "EDCBAF"),
        ("start_time", "asc", "FABCDE"),
        ("duration", "desc", "FAEBCD"),
        ("duration", "asc", "DCBEAF"),
        ("cost", "desc", "FCABED"),
        ("cost", "asc", "DEBACF"),
        # Ties (llm_calls=1 for B, C, E, F) break on run_id in the same direction.
        ("llm_calls", "desc", "AFECBD"),
        ("llm_calls", "asc", "DBCEFA"),
    ],
)
def test_sort(world: World, wapi: httpx.Client, sort_by: str, order: str, expected: str) -> None:
    assert letters(world, runs(wapi, {"sort_by": sort_by, "order": order})) == expected
    if order == "desc":  # the default order
        assert letters(world, runs(wapi, {"sort_by": sort_by})) == expected


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"status": "failed"},
        {"status": "running,completed"},
        {"labels": "flight_search"},
        {"period": "last_hour", "status": "completed"},
        {"type_filter": "model", "sort_by": "cost"},
    ],
)
def test_total_is_what_pages_list(world: World, wapi: httpx.Client, params: dict[str, Any]) -> None:
    everything = runs(wapi, params)
    listed: list[str] = []
    for offset in range(0, 8, 2):
        page = runs(wapi, {**params, "limit": 2, "offset": offset})
        total = everything["pagination"]["total"]
        assert page["pagination"] == {"offset": offset, "limit": 2, "total": total}
        listed.extend(r["run_id"] for r in page["data"])
    assert listed == [r["run_id"] for r in everything["data"]]
    assert len(listed) == everything["pagination"]["total"]
    assert runs(wapi, {**params, "limit": 0})["data"] == []


def test_run_spans_ascending_and_paged(world: World, wapi: httpx.Client) -> None:
    body = get_json(wapi, "/runs/run-a")
    assert body["pagination"] == {"offset": 0, "limit": 100, "total": 10}
    ops = [s["operation_name"] for s in body["data"]]
    assert ops == [
        "run",
        "cloud_api_invoke",
        "api_invoke",
        "model_call",
        "openai",
        "tools",
        "cloud_api_invoke",
        "api_invoke",
        "model_call",
        "anthropic",
    ]
    starts = [s["start_time_us"] for s in body["data"]]
    assert starts == [world.us(ms=m) for m in (0, 10, 11, 12, 13, 387, 410, 411, 412, 413)]
    assert {s["run_id"] for s in body["data"]} == {"run-a"}
    api_invoke, model_call = body["data"][2], body["data"][3]
    assert api_invoke["span_id"] == world.span_ids["A.api_invoke"]
    assert api_invoke["child_attribute"] == model_call["attribute"]
    assert model_call["attribute"]["label"] == "flight_search" and model_call["child_attribute"] is None

    page = get_json(wapi, "/runs/run-a", {"limit": 3, "offset": 2})
    assert page["pagination"] == {"offset": 2, "limit": 3, "total": 10}
    assert [s["operation_name"] for s in page["data"]] == ["api_invoke", "model_call", "openai"]
    assert get_json(wapi, "/runs/run-a", {"limit": 0}) == {
        "pagination": {"offset": 0, "limit": 0, "total": 10},
        "data": [],
    }
    assert get_json(wapi, "/runs/no-such-run") == {
        "pagination": {"offset": 0, "limit": 100, "total": 0},
        "data": [],
    }
    assert get_json(wapi, f"/runs/{RUN_B}")["pagination"]["total"] == 5
    d = get_json(wapi, f"/runs/{world.run_d}")
    assert [(s["operation_name"], s["parent_span_id"]) for s in d["data"]] == [
        ("api_invoke", None),
        ("lookup", world.roots["D"]),
    ]


def test_run_details(world: World, wapi: httpx.Client) -> None:
    listed = {r["run_id"]: r for r in runs(wapi, {})["data"]}
    for run_id in run_ids(world).values():
        details = get_json(wapi, f"/runs/{run_id}/details")
        assert isinstance(details.pop("by_model"), list)  # its figures: tests/test_stats.py
        assert details == listed[run_id]  # bare object, no envelope
    r = wapi.get("/runs/nope/details")
    assert r.status_code == 404
    assert r.json() == {"error": "Run not found", "message": "Run with ID nope not found"}
    # Runs are per project: another project does not see this one's runs.
    other = wapi.get("/runs/run-a/details", headers={"x-project-id": f"{world.project}-other"})
    assert other.status_code == 404
