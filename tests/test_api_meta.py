"""GET /labels, /projects, /health and /openapi.json; every endpoint's real response checked
against the pydantic models of tracehound.api.schemas, so the served schema stays accurate."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, cast

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter
from starlette.routing import BaseRoute

from tests.conftest import Server, get_json
from tests.world import RUN_B, World
from tracehound.api import schemas
from tracehound.api.app import create_app
from tracehound.api.context import AppContext
from tracehound.config import Settings
from tracehound.ingest import Ingestor


def labels(c: httpx.Client, params: dict[str, Any]) -> list[dict[str, Any]]:
    body = get_json(c, "/labels", params)
    assert set(body) == {"labels"}  # no pagination envelope, as vLLora
    result: list[dict[str, Any]] = body["labels"]
    return result


def test_labels(wapi: httpx.Client) -> None:
    project_wide = [{"name": "flight_search", "count": 16}, {"name": "hotel_search", "count": 5}]
    assert labels(wapi, {}) == project_wide
    for label in project_wide:  # counts are span counts
        assert get_json(wapi, "/spans", {"labels": label["name"]})["pagination"]["total"] == label["count"]
    assert labels(wapi, {"limit": 1}) == project_wide[:1]
    assert labels(wapi, {"limit": 0}) == []
    assert labels(wapi, {"thread_id": "thread-1"}) == [
        {"name": "flight_search", "count": 10},
        {"name": "hotel_search", "count": 5},
    ]
    assert labels(wapi, {"threadId": "thread-1", "limit": 1}) == [{"name": "flight_search", "count": 10}]
    assert labels(wapi, {"threadId": "thread-3"}) == [{"name": "flight_search", "count": 1}]
    assert labels(wapi, {"thread_id": "thread-2"}) == []
    assert labels(wapi, {"thread_id": "no-such-thread"}) == []
    assert wapi.get("/labels", headers={"x-project-id": "no-such-project"}).json() == {"labels": []}


def test_projects(world: World, wapi: httpx.Client) -> None:
    projects = get_json(wapi, "/projects")
    mine = [p for p in projects if p["id"] == world.project]
    assert len(mine) == 1
    created = mine[0].pop("created_at")
    assert mine[0].pop("updated_at") == created
    assert abs(datetime.fromisoformat(created).timestamp() - time.time()) < 600
    assert mine[0] == {
        "id": world.project,
        "name": world.project,
        "slug": world.project,
        "description": None,
        "settings": {},
        "is_default": False,
        "archived_at": None,
        "run_count": 6,
        "thread_count": 4,
        "span_count": 33,
    }
    # Not scoped by the header: the same list from any project.
    other = wapi.get("/projects", headers={"x-project-id": "anything at all"}).json()
    assert world.project in {p["id"] for p in other}


def test_health(server: Server) -> None:
    assert httpx.get(f"{server.api}/health").json() == {"status": "ok"}
    assert httpx.get(f"{server.otlp_http}/health").json() == {"status": "ok"}


API_PATHS = {
    "/runs": ["get"],
    "/runs/{run_id}": ["get"],
    "/runs/{run_id}/details": ["get"],
    "/runs/{run_id}/bottlenecks": ["get"],
    "/stats": ["get"],
    "/stats/breakdown": ["get"],
    "/stats/tools": ["get"],
    "/metrics/timeseries": ["get"],
    "/spans": ["get"],
    "/spans/summary": ["get"],
    "/traces": ["get"],
    "/group": ["get"],
    "/group/spans": ["get"],
    "/group/batch-spans": ["post"],
    "/threads": ["get", "post"],
    "/threads/{thread_id}": ["get"],
    "/labels": ["get"],
    "/projects": ["get"],
    "/health": ["get"],
    "/v1/traces": ["post"],
    "/session/track": ["post"],
    "/debug/breakpoints": ["get"],
    "/agents/config": ["get"],
    "/providers": ["get"],
    "/v1/pricing": ["get"],
}

QUERY_PARAMS = {
    "/runs": {
        "run_ids",
        "thread_ids",
        "trace_ids",
        "model_name",
        "type_filter",
        "start_time_min",
        "start_time_max",
        "labels",
        "include_mcp_templates",
        "period",
        "start_time",
        "end_time",
        "status",
        "sort_by",
        "order",
        "min_duration_ms",
        "min_cost",
        "limit",
        "offset",
    },
    "/runs/{run_id}": {"run_id", "limit", "offset"},
    "/spans": {
        "span_ids",
        "trace_ids",
        "thread_ids",
        "run_ids",
        "operation_names",
        "parent_span_ids",
        "start_time",
        "end_time",
        "labels",
        "status",
        "model_name",
        "text",
        "sort_by",
        "order",
        "limit",
        "offset",
    },
    "/traces": {
        "run_id",
        "operation_names",
        "thread_ids",
        "start_time_min",
        "start_time_max",
        "labels",
        "limit",
        "offset",
    },
    "/group": {
        "group_by",
        "bucket_size",
        "thread_ids",
        "trace_ids",
        "model_name",
        "type_filter",
        "start_time_min",
        "start_time_max",
        "labels",
        "limit",
        "offset",
    },
    "/group/spans": {"group_by", "thread_id", "run_id", "bucket_size", "time_bucket", "limit", "offset"},
    "/threads": {"limit", "offset"},
    "/v1/pricing": {"include_parameters", "include_benchmark"},
    "/labels": {"thread_id", "limit"},
    "/runs/{run_id}/bottlenecks": {"run_id", "limit"},
    "/stats": {"period", "start", "end", "thread_ids", "labels", "model_name"},
    "/stats/breakdown": {"by", "period", "start", "end", "thread_ids", "labels", "model_name", "limit"},
    "/stats/tools": {"period", "start", "end", "limit"},
    "/spans/summary": {"thread_ids", "run_ids", "labels", "limit", "breakdown_limit", "semantic"},
    "/metrics/timeseries": {
        "metric",
        "interval",
        "period",
        "start",
        "end",
        "group_by",
        "thread_ids",
        "labels",
        "model_name",
        "trend_threshold",
        "anomaly_threshold",
        "max_series",
    },
}


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[str]:
    """Paths of the API routes, through included routers (no prefixes are used)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route.path
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)


def test_openapi_documents_every_path(server: Server) -> None:
    doc = httpx.get(f"{server.api}/openapi.json").json()
    assert {path: sorted(ops) for path, ops in doc["paths"].items()} == API_PATHS
    # Every route the app serves is in the schema; the read-only app (CLI, `tracehound mcp`) serves
    # all but the OTLP receiver.
    serving = AppContext(store=cast(Any, None), settings=Settings(), ingestor=cast(Ingestor, object()))
    assert set(api_routes(create_app(serving).routes)) == set(API_PATHS)
    reading = AppContext(store=cast(Any, None), settings=Settings())
    assert set(API_PATHS) - set(api_routes(create_app(reading).routes)) == {"/v1/traces"}
    for path, names in QUERY_PARAMS.items():
        assert {p["name"] for p in doc["paths"][path]["get"]["parameters"]} == names, path
    ok = doc["paths"]["/runs"]["get"]["responses"]
    assert ok["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RunPage"}
    assert ok["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert set(doc["components"]["schemas"]["Run"]["properties"]) == set(schemas.Run.model_fields)
    # A malformed parameter gets a 400 (above), never FastAPI's 422.
    assert not [
        (p, m) for p, ops in doc["paths"].items() for m, op in ops.items() if "422" in op["responses"]
    ]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    # The OTLP receiver reads raw bytes; its body and answers are documented by hand.
    export = doc["paths"]["/v1/traces"]["post"]
    both = {"application/x-protobuf", "application/json"}
    assert set(export["requestBody"]["content"]) == both
    assert {code: set(r["content"]) for code, r in export["responses"].items()} == {
        code: both for code in ("200", "400", "403", "413", "415", "503")
    }


def exact(model: type[BaseModel], body: Any) -> None:
    """Valid for the model, and nothing in the body that the model does not declare."""
    assert model.model_validate(body).model_dump(exclude_unset=True) == body


@pytest.mark.parametrize(
    ("path", "params", "model"),
    [
        ("/runs", {}, schemas.RunPage),
        ("/runs", {"status": "running"}, schemas.RunPage),
        ("/runs/run-a", {}, schemas.SpanPage),
        ("/runs/run-a/details", {}, schemas.RunDetails),
        (f"/runs/{RUN_B}/details", {}, schemas.RunDetails),
        ("/spans", {}, schemas.SpanPage),
        ("/traces", {"run_id": "run-c"}, schemas.SpanPage),
        ("/group", {"group_by": "time"}, schemas.GroupPage),
        ("/group", {"group_by": "thread"}, schemas.GroupPage),
        ("/group", {"group_by": "run"}, schemas.GroupPage),
        ("/group/spans", {"group_by": "thread", "thread_id": "thread-1"}, schemas.SpanPage),
        ("/group/spans", {"group_by": "run", "run_id": "run-e"}, schemas.SpanPage),
        ("/threads", {}, schemas.ThreadPage),
        ("/threads/thread-3", {}, schemas.ThreadResponse),
        ("/threads/thread-2", {}, schemas.ThreadResponse),
        ("/labels", {}, schemas.Labels),
    ],
)
def test_responses_match_schema(
    wapi: httpx.Client, path: str, params: dict[str, Any], model: type[BaseModel]
) -> None:
    body = get_json(wapi, path, params)
    assert body.get("data", True)  # something to check
    exact(model, body)


def test_other_responses_match_schema(world: World, server: Server, wapi: httpx.Client) -> None:
    batch = {
        "groups": [
            {"time_bucket": world.us(0), "bucket_size": 60},
            {"thread_id": "thread-1"},
            {"run_id": "run-c"},
        ]
    }
    exact(schemas.BatchSpans, wapi.post("/group/batch-spans", json=batch).json())
    exact(schemas.ThreadPage, wapi.post("/threads", json={"limit": 2}).json())
    projects = get_json(wapi, "/projects")
    adapter = TypeAdapter(list[schemas.Project])
    assert adapter.dump_python(adapter.validate_python(projects), exclude_unset=True) == projects
    errors = (
        wapi.get("/runs/nope/details"),
        wapi.get("/threads/nope"),
        wapi.get("/runs?limit=-1"),
        wapi.get("/no/such/path"),
        wapi.post("/group/batch-spans", json={"groups": [{}]}),
    )
    for r in errors:
        assert r.status_code in (400, 404)
        exact(schemas.ErrorBody, r.json())
    # OTLP/JSON export answer, with a partial success.
    now = time.time_ns()
    span = {
        "traceId": uuid.uuid4().hex,
        "spanId": uuid.uuid4().hex[:16],
        "name": "ok",
        "startTimeUnixNano": str(now - 1000),
        "endTimeUnixNano": str(now),
    }
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span, {**span, "spanId": "bad"}]}]}]}
    r = httpx.post(
        f"{server.api}/v1/traces",
        content=json.dumps(body),
        headers={"content-type": "application/json", "x-project-id": f"{world.project}-otlp"},
    )
    assert r.status_code == 200 and r.json()["partialSuccess"]["rejectedSpans"] == 1
    exact(schemas.ExportResponse, r.json())


@pytest.mark.parametrize(
    ("method", "path", "params", "needle"),
    [
        ("GET", "/runs", {"start_time": 10**17}, "start_time: Input should be less than or equal to"),
        ("GET", "/runs", {"start_time_min": -(10**20)}, "start_time_min: Input should be greater than"),
        ("GET", "/runs", {"min_duration_ms": "inf"}, "min_duration_ms"),
        ("GET", "/runs", {"offset": 10**20}, "offset must be at most"),
        ("GET", "/runs/run-a", {"offset": 10**20}, "offset must be at most"),
        ("GET", "/spans", {"end_time": 10**20}, "end_time"),
        ("GET", "/traces", {"startTimeMax": 10**19}, "start_time_max"),
        ("GET", "/group", {"bucket_size": 10**14}, "bucket_size must be at most"),
        ("GET", "/group/spans", {"group_by": "time", "time_bucket": 2**63 - 8}, "time_bucket"),
        ("POST", "/group/batch-spans", {"groups": [{"timeBucket": 10**20}]}, "groups.0.timeBucket"),
        ("POST", "/threads", {"offset": 10**20}, "offset must be at most"),
    ],
)
def test_numbers_beyond_int64_are_400_not_500(
    wapi: httpx.Client, method: str, path: str, params: dict[str, Any], needle: str
) -> None:
    """SQLite integers are 64-bit: larger values used to fail the query with an overflow (500)."""
    r = wapi.get(path, params=params) if method == "GET" else wapi.post(path, json=params)
    assert r.status_code == 400, r.text
    assert needle in r.json()["message"]
