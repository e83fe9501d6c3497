"""API keys on a server of its own (the shared session server has none), on each backend: every
API, OTLP/HTTP, OTLP/gRPC and MCP request needs a valid key, in `x-api-key` or `Authorization:
Bearer`; a key sees and writes only its projects. Spans go through the SDK's real OTLP exporters,
MCP through the real client SDK, keys through the real `tracehound keys` command."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import grpc
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.conftest import Server, start_server
from tests.db import Database
from tests.spans import SpanFactory, Via
from tests.test_cli import cli
from tests.test_keys import create_key, list_keys
from tests.test_mcp import data, error_text, session_over


@dataclass
class Keyed:
    server: Server
    alpha: str  # project alpha only
    alpha_beta: str  # alpha and beta
    admin: str  # every project

    def get(self, path: str, key: str | None, project: str | None = None, **params: Any) -> httpx.Response:
        headers = {"x-api-key": key} if key else {}
        if project:
            headers["x-project-id"] = project
        return httpx.get(f"{self.server.api}{path}", headers=headers, params=params, timeout=30)

    def spans(self, key: str, project: str | None = None, bearer: bool = False) -> SpanFactory:
        auth = {"authorization": f"Bearer {key}"} if bearer else {"x-api-key": key}
        return SpanFactory(self.server.otlp_grpc, self.server.otlp_http, project, auth)


@pytest.fixture(scope="module")
def keyed(module_db: Database) -> Iterator[Keyed]:
    _, alpha = create_key(module_db, "--project", "alpha")
    _, alpha_beta = create_key(module_db, "--project", "alpha", "--project", "beta")
    _, admin = create_key(module_db, "--all-projects")
    server = start_server(module_db.data_dir, database_url=module_db.url)
    yield Keyed(server, alpha, alpha_beta, admin)
    server.stop()


def send_run(factory: SpanFactory, via: Via = "grpc", attrs: dict[str, Any] | None = None) -> str:
    """One run of two spans; returns its run id."""
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    trace = factory.trace()
    root = trace.span("agent", 0, 100, attrs={"vllora.run_id": run_id, **(attrs or {})})
    trace.span("llm", 10, 90, parent=root, attrs={"vllora.run_id": run_id, **(attrs or {})})
    factory.send(trace, via=via)
    return run_id


def assert_unauthorized(response: httpx.Response, message: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'Bearer realm="tracehound"'
    assert response.json() == {"error": "Unauthorized", "message": message}


NO_KEY = "this tracehound requires an API key: send it as `Authorization: Bearer <key>`"


def test_every_http_door_needs_a_key(keyed: Keyed) -> None:
    api, otlp = keyed.server.api, keyed.server.otlp_http
    for url in (f"{api}/runs", f"{api}/projects", f"{api}/openapi.json", f"{api}/stats"):
        assert_unauthorized(httpx.get(url), NO_KEY)
    for url in (f"{otlp}/v1/traces", f"{api}/v1/traces"):
        assert_unauthorized(httpx.post(url, json={}), NO_KEY)
    assert_unauthorized(httpx.post(f"{api}/mcp", json={}), NO_KEY)
    assert_unauthorized(keyed.get("/runs", "th_00000000_" + "x" * 43), "invalid API key")
    assert_unauthorized(keyed.get("/runs", "test-key"), "invalid API key")
    # Liveness probes carry no key.
    for base in (api, otlp):
        response = httpx.get(f"{base}/health")
        assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_grpc_needs_a_key(keyed: Keyed) -> None:
    target = keyed.server.otlp_grpc.removeprefix("http://")
    with grpc.insecure_channel(target) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        for metadata in ([], [("x-api-key", "nope")], [("authorization", "Bearer nope")]):
            with pytest.raises(grpc.RpcError) as refused:
                stub.Export(ExportTraceServiceRequest(), metadata=metadata, timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as outside:
            stub.Export(
                ExportTraceServiceRequest(), metadata=[("x-api-key", keyed.alpha), ("x-project-id", "beta")]
            )
        assert outside.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert outside.value.details() == "this API key may not write to project 'beta'"
    # The SDK's exporter gets no further without a key of ours.
    factory = keyed.spans("test-key", "alpha")
    trace = factory.trace()
    trace.span("agent", 0, 10)
    assert factory.export(factory.finished(trace)) == SpanExportResult.FAILURE


@pytest.mark.parametrize("via", ["grpc", "http"])
@pytest.mark.parametrize("bearer", [False, True])
def test_a_one_project_key_needs_no_project_header(keyed: Keyed, via: Via, bearer: bool) -> None:
    # The span even claims another project: a one-project key writes to its own.
    run_id = send_run(keyed.spans(keyed.alpha, bearer=bearer), via, attrs={"vllora.project_id": "beta"})
    auth = {"authorization": f"Bearer {keyed.alpha}"} if bearer else {"x-api-key": keyed.alpha}
    run = httpx.get(f"{keyed.server.api}/runs/{run_id}/details", headers=auth)
    assert run.status_code == 200 and run.json()["run_id"] == run_id
    assert keyed.get(f"/runs/{run_id}/details", keyed.admin, "alpha").status_code == 200
    assert keyed.get(f"/runs/{run_id}/details", keyed.admin, "beta").status_code == 404


def test_a_key_sees_only_its_projects(keyed: Keyed) -> None:
    beta_run = send_run(keyed.spans(keyed.admin, "beta"))
    alpha_run = send_run(keyed.spans(keyed.alpha, "alpha"), "http")
    # Another project's run id is an unknown run: a 404, and no spans in vLLora's span list.
    missing = keyed.get(f"/runs/{beta_run}/details", keyed.alpha)
    assert missing.status_code == 404
    assert missing.json() == {"error": "Run not found", "message": f"Run with ID {beta_run} not found"}
    assert keyed.get(f"/runs/{beta_run}/bottlenecks", keyed.alpha).status_code == 404
    assert keyed.get(f"/runs/{beta_run}", keyed.alpha).json()["pagination"]["total"] == 0
    # Naming a project outside the key: nothing there exists for it.
    for path in ("/runs", f"/runs/{beta_run}", f"/runs/{beta_run}/details", "/spans", "/stats", "/threads"):
        refused = keyed.get(path, keyed.alpha, "beta")
        assert refused.status_code == 404
        assert refused.json() == {"error": "Not found", "message": "no project 'beta' for this API key"}
    assert keyed.get(f"/runs/{beta_run}/details", keyed.alpha_beta, "beta").status_code == 200
    # A key of several projects names one; without it, `default` is outside its projects.
    unnamed = keyed.get("/runs", keyed.alpha_beta)
    assert unnamed.status_code == 404 and "X-Project-Id" in unnamed.json()["message"]
    assert {p["id"] for p in keyed.get("/projects", keyed.alpha).json()} == {"alpha"}
    assert {p["id"] for p in keyed.get("/projects", keyed.alpha_beta).json()} == {"alpha", "beta"}
    ids = [r["run_id"] for r in keyed.get("/runs", keyed.alpha, limit=1000).json()["data"]]
    assert alpha_run in ids and beta_run not in ids


def test_ingest_outside_the_keys_projects_is_forbidden(keyed: Keyed) -> None:
    for via in ("grpc", "http"):
        factory = keyed.spans(keyed.alpha, "beta")
        trace = factory.trace()
        trace.span("agent", 0, 10)
        assert factory.export(factory.finished(trace), via) == SpanExportResult.FAILURE
    refused = httpx.post(
        f"{keyed.server.otlp_http}/v1/traces",
        json={},
        headers={"x-api-key": keyed.alpha, "x-project-id": "beta"},
    )
    assert refused.status_code == 403
    assert refused.json() == {
        "code": 7,
        "error": "Forbidden",
        "message": "this API key may not write to project 'beta'",
    }
    # With several projects and no header, spans choose theirs, within the key's.
    several = keyed.spans(keyed.alpha_beta)
    inside = send_run(several, "http", attrs={"vllora.project_id": "beta"})
    assert keyed.get(f"/runs/{inside}/details", keyed.admin, "beta").status_code == 200
    trace = several.trace()
    trace.span("agent", 0, 10, attrs={"vllora.project_id": "gamma", "vllora.run_id": "gamma-run"})
    assert several.export(several.finished(trace), "http") == SpanExportResult.FAILURE
    assert keyed.get("/runs/gamma-run/details", keyed.admin, "gamma").status_code == 404


def test_new_and_revoked_keys_count_from_the_next_request(keyed: Keyed) -> None:
    db = keyed.server.db
    key_id, key = create_key(db, "--project", "alpha", "--name", "short-lived")
    assert keyed.get("/runs", key).status_code == 200
    assert cli("keys", "revoke", key_id, *db.args).returncode == 0
    assert_unauthorized(keyed.get("/runs", key), f"API key {key_id} has been revoked")
    with grpc.insecure_channel(keyed.server.otlp_grpc.removeprefix("http://")) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as refused:
            stub.Export(ExportTraceServiceRequest(), metadata=[("x-api-key", key)], timeout=30)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # Its use before revocation was recorded.
    [listed] = [k for k in list_keys(db) if k["id"] == key_id]
    assert listed["last_used_at_us"] is not None and listed["active"] is False


def mcp_call(keyed: Keyed, headers: dict[str, str], tool: str, args: dict[str, Any]) -> Any:
    async def call(client: Client) -> Any:
        return await client.call_tool(tool, args)

    async def go() -> Any:
        async with httpx2.AsyncClient(headers=headers) as http:
            return await session_over(
                streamable_http_client(f"{keyed.server.api}/mcp", http_client=http), call
            )

    return anyio.run(go)


def test_mcp_over_http_acts_as_the_callers_key(keyed: Keyed) -> None:
    run_id = send_run(keyed.spans(keyed.alpha))
    runs = data(mcp_call(keyed, {"authorization": f"Bearer {keyed.alpha}"}, "list_runs", {"period": "all"}))
    assert run_id in {r["run_id"] for r in runs["runs"]}
    got = data(mcp_call(keyed, {"x-api-key": keyed.alpha}, "get_run", {"run_id": run_id}))
    assert got["run"]["run_id"] == run_id
    # The tools cannot reach past the key, by argument or header.
    outside = mcp_call(keyed, {"x-api-key": keyed.alpha}, "list_runs", {"project_id": "beta"})
    assert "no project 'beta' for this API key" in error_text(outside)
    header = mcp_call(
        keyed, {"x-api-key": keyed.alpha, "x-project-id": "beta"}, "get_run", {"run_id": run_id}
    )
    assert "no project 'beta' for this API key" in error_text(header)
    # Without a key the session never opens (the raw 401 is checked above).
    with pytest.raises(Exception, match="unhandled errors") as refused:
        mcp_call(keyed, {}, "list_runs", {})
    assert "Server returned an error response" in repr(refused.value)


def test_cli_and_stdio_mcp_against_the_server_send_the_key(keyed: Keyed) -> None:
    run_id = send_run(keyed.spans(keyed.alpha))
    url = ["--url", keyed.server.api]
    refused = cli("run", run_id, *url)
    assert refused.returncode == 1
    assert f"Unauthorized: {NO_KEY}" in refused.stderr.replace("\n", " ")
    by_flag = cli("run", run_id, *url, "--api-key", keyed.alpha, "--json")
    assert by_flag.returncode == 0, by_flag.stderr
    assert json.loads(by_flag.stdout)["run_id"] == run_id
    by_env = cli("runs", *url, "--json", "--limit", "1000", env={"TRACEHOUND_API_KEY": keyed.alpha})
    assert by_env.returncode == 0 and run_id in {r["run_id"] for r in json.loads(by_env.stdout)["data"]}

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tracehound", "mcp", *url],
        env={"TRACEHOUND_API_KEY": keyed.alpha},
    )

    async def get_run(client: Client) -> Any:
        return await client.call_tool("get_run", {"run_id": run_id})

    async def go() -> Any:
        return await session_over(params, get_run)

    assert data(anyio.run(go))["run"]["run_id"] == run_id
