"""The calls vLLora's web UI makes besides the trace API, on the shared real server: each in the
shape the UI reads, each in the OpenAPI schema, and bad bodies answered 400 in the error shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Server, get_json
from tracehound.api import schemas_ui


def test_session_track_accepts_and_stores_nothing(api: httpx.Client) -> None:
    before = get_json(api, "/projects")
    r = api.post("/session/track", json={"email": "someone@example.com"})
    assert r.status_code == 200, r.text
    assert r.json() == {}
    # Other fields the UI may add are ignored, not refused.
    assert api.post("/session/track", json={"email": "a@b.c", "source": "login"}).json() == {}
    assert get_json(api, "/projects") == before


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"content": b"{not json"}, "JSON decode error"),
        ({"json": ["someone@example.com"]}, "request"),
        ({"json": {}}, "email"),
        ({"json": {"email": 42}}, "email"),
        ({"json": {"email": None}}, "email"),
        ({"json": {"email": "x" * 321}}, "email"),
    ],
)
def test_session_track_refuses_bad_bodies(api: httpx.Client, body: dict[str, Any], where: str) -> None:
    r = api.post("/session/track", headers={"content-type": "application/json"}, **body)
    assert r.status_code == 400, r.text
    error = r.json()
    assert set(error) == {"error", "message"}
    assert error["error"] == "Invalid parameter"
    assert where in error["message"]


def test_the_ui_s_other_calls(api: httpx.Client) -> None:
    breakpoints = get_json(api, "/debug/breakpoints")
    assert breakpoints == {"breakpoints": [], "intercept_all": False}
    schemas_ui.Breakpoints.model_validate(breakpoints)
    assert get_json(api, "/agents/config") == {}
    assert get_json(api, "/providers") == []
    # As the UI sends it.
    assert get_json(api, "/v1/pricing", {"include_parameters": "true", "include_benchmark": "false"}) == []
    assert get_json(api, "/v1/pricing") == []
    bad = api.get("/v1/pricing", params={"include_parameters": "perhaps"})
    assert bad.status_code == 400
    assert "include_parameters" in bad.json()["message"]


def test_the_ui_s_calls_are_documented(server: Server) -> None:
    doc = httpx.get(f"{server.api}/openapi.json").json()
    paths = doc["paths"]

    def ok_schema(path: str, method: str) -> Any:
        return paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]

    assert ok_schema("/debug/breakpoints", "get") == {"$ref": "#/components/schemas/Breakpoints"}
    assert ok_schema("/agents/config", "get") == {"$ref": "#/components/schemas/Empty"}
    assert ok_schema("/session/track", "post") == {"$ref": "#/components/schemas/Empty"}
    body = paths["/session/track"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SessionTrack"}
    for path in ("/providers", "/v1/pricing"):
        assert ok_schema(path, "get")["type"] == "array"
    assert {p["name"] for p in paths["/v1/pricing"]["get"]["parameters"]} == {
        "include_parameters",
        "include_benchmark",
    }
    assert doc["components"]["schemas"]["Empty"]["additionalProperties"] is False
