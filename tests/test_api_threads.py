"""GET/POST /threads and GET /threads/{id}: pagination honoured, totals, titles, any id."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import get_json
from tests.spans import SpanFactory
from tests.world import CLAUDE, GPT, RUN_B, World


def thread_ids(body: dict[str, Any]) -> list[str]:
    return [t["thread_id"] for t in body["data"]]


def test_thread_objects(world: World, wapi: httpx.Client) -> None:
    body = get_json(wapi, "/threads")
    assert body["pagination"] == {"offset": 0, "limit": 50, "total": 4}
    assert thread_ids(body) == ["thread-3", "thread-2", "thread-1", "thread-old"]  # newest first
    t3, t2, t1, old = body["data"]
    assert t1 == {
        "thread_id": "thread-1",
        "start_time_us": world.us(0),  # over root spans: A's root ...
        "finish_time_us": world.us(10.5),  # ... to B's root
        "run_ids": [RUN_B, "run-a"],
        "input_models": [CLAUDE, GPT],
        "cost": pytest.approx(0.0035, rel=1e-12),
        "title": "Find flights to Paris please",
        "duration_ms": 10500.0,
        "has_errors": True,
        "error_count": 1,
        "span_count": 15,
        "llm_calls": 3,
        "input_tokens": 350,
        "output_tokens": 35,
        "labels": ["flight_search", "hotel_search"],
    }
    # No root span yet (run C is running): times over all its spans.
    times = (t2["start_time_us"], t2["finish_time_us"], t2["duration_ms"])
    assert times == (world.us(20), world.us(20.3), 300.0)
    assert (t2["run_ids"], t2["input_models"], t2["has_errors"]) == (["run-c"], [CLAUDE], False)
    assert t2["cost"] == pytest.approx(0.004, rel=1e-12)
    # A thread whose spans carry no run id: its run is its trace. Title: the first 10 words.
    assert t3["run_ids"] == [world.run_d]
    assert t3["title"] == "Plan a trip to Lisbon with a stop in Porto"
    assert (t3["input_models"], t3["cost"], t3["input_tokens"], t3["has_errors"]) == ([], 0.0, None, True)
    assert (old["start_time_us"], old["duration_ms"], old["run_ids"]) == (
        world.us(-2 * 86_400),
        2000.0,
        ["run-old"],
    )
    assert old["cost"] == pytest.approx(0.01, rel=1e-12)


def test_get_pagination_is_honoured(wapi: httpx.Client) -> None:
    everything = get_json(wapi, "/threads")["data"]
    page = get_json(wapi, "/threads", {"limit": 2, "offset": 1})
    assert page["pagination"] == {"offset": 1, "limit": 2, "total": 4}  # total counts every thread
    assert page["data"] == everything[1:3]
    assert get_json(wapi, "/threads", {"limit": 3, "offset": 3})["data"] == everything[3:]
    assert get_json(wapi, "/threads", {"limit": 0}) == {
        "data": [],
        "pagination": {"offset": 0, "limit": 0, "total": 4},
    }
    assert get_json(wapi, "/threads", {"offset": 4})["data"] == []


@pytest.mark.parametrize(
    ("body", "expected", "pagination"),
    [
        ({"order_by": [["created_at", "desc"]], "limit": 1, "offset": 2}, ["thread-1"], (2, 1)),
        ({"limit": 2}, ["thread-3", "thread-2"], (0, 2)),  # no order_by: vLLora drops the body
        ({"offset": 3}, ["thread-old"], (3, 50)),
        (None, ["thread-3", "thread-2", "thread-1", "thread-old"], (0, 50)),
    ],
)
def test_post_list(
    wapi: httpx.Client, body: dict[str, Any] | None, expected: list[str], pagination: tuple[int, int]
) -> None:
    r = wapi.post("/threads", json=body) if body is not None else wapi.post("/threads")
    assert r.status_code == 200, r.text
    assert thread_ids(r.json()) == expected
    offset, limit = pagination
    assert r.json()["pagination"] == {"offset": offset, "limit": limit, "total": 4}


def test_get_one_thread(world: World, wapi: httpx.Client) -> None:
    listed = {t["thread_id"]: t for t in get_json(wapi, "/threads")["data"]}
    for thread_id in listed:
        assert get_json(wapi, f"/threads/{thread_id}") == {"thread": listed[thread_id]}
    r = wapi.get("/threads/nope")
    assert r.status_code == 404
    assert r.json() == {"error": "Thread not found", "message": "Thread with ID nope not found"}
    # Threads belong to their project.
    other = {"x-project-id": f"{world.project}-other"}
    assert wapi.get("/threads/thread-1", headers=other).status_code == 404
    assert wapi.get("/threads", headers=other).json() == {
        "data": [],
        "pagination": {"offset": 0, "limit": 50, "total": 0},
    }


def test_any_string_is_a_thread_id(spans: SpanFactory, api: httpx.Client) -> None:
    thread = "support chat #7 — café"
    t = spans.trace()
    title = "  What\n\tis the   weather in Lisbon and Porto on Monday morning, please?  "
    root = t.span("api_invoke", 0, 50, attrs={"vllora.thread_id": thread, "title": title})
    t.span("model_call", 5, 45, parent=root, attrs={"vllora.thread_id": thread, "model_name": GPT})
    spans.send(t)
    body = get_json(api, f"/threads/{quote(thread)}")
    assert body["thread"]["thread_id"] == thread
    assert body["thread"]["title"] == "What is the weather in Lisbon and Porto on Monday"
    assert body["thread"]["run_ids"] == [t.trace_hex]
    assert body["thread"]["input_models"] == [GPT]
    assert get_json(api, "/threads") == {
        "data": [body["thread"]],
        "pagination": {"offset": 0, "limit": 50, "total": 1},
    }
