"""PostgreSQL going away under a running `serve`: the real server is stopped and restarted on the
same data directory. While it is away, OTLP/HTTP answers 503 with Retry-After, OTLP/gRPC
UNAVAILABLE, the API 503 in its one error shape; nothing refused is stored, everything
acknowledged is, and service resumes by itself. Also the start-up errors: one line, non-zero exit."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import grpc
import httpx
import psycopg
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from psycopg import sql

from tests.conftest import start_server
from tests.pgserver import PgServer
from tests.spans import SpanFactory
from tracehound.model import Span
from tracehound.retention import Sweeper
from tracehound.storage import StoreConfig, open_store
from tracehound.storage.postgres.schema import MIGRATION_LOCK

PROTOBUF = {"content-type": "application/x-protobuf"}


@pytest.fixture
def own_pg() -> Iterator[PgServer]:
    """A server of this test's own: stopping the session's would fail every other test."""
    server = PgServer().start()
    yield server
    server.stop()


def one_trace(factory: SpanFactory) -> tuple[bytes, set[str]]:
    t = factory.trace()
    root = t.span("run", 0, 100, attrs={"vllora.run_id": uuid.uuid4().hex})
    t.span("step", 10, 50, parent=root)
    spans = factory.finished(t)
    factory.memory.clear()
    return encode_spans(spans).SerializeToString(), {f"{s.context.span_id:016x}" for s in spans if s.context}


def stored(url: str, project: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT span_id FROM spans WHERE project_id = %s", (project,)).fetchall()
    return {r[0] for r in rows}


def test_database_away_and_back(tmp_path: Path, own_pg: PgServer) -> None:
    url = own_pg.create_database("faults")
    server = start_server(tmp_path / "data", "--retry-after", "3", database_url=url)
    project = f"faults-{uuid.uuid4().hex[:8]}"
    factory = SpanFactory(server.otlp_grpc, server.otlp_http, project)
    headers = {**PROTOBUF, "x-project-id": project}
    channel = grpc.insecure_channel(server.otlp_grpc.removeprefix("http://"))
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    try:
        with httpx.Client(timeout=30) as http:
            body, before = one_trace(factory)
            assert (
                http.post(f"{server.otlp_http}/v1/traces", content=body, headers=headers).status_code == 200
            )

            own_pg.stop_server()
            refused, refused_ids = one_trace(factory)
            r = http.post(f"{server.otlp_http}/v1/traces", content=refused, headers=headers)
            assert r.status_code == 503, r.text
            assert int(r.headers["retry-after"]) >= 1

            grpc_body, grpc_ids = one_trace(factory)
            with pytest.raises(grpc.RpcError) as info:
                stub.Export(
                    ExportTraceServiceRequest.FromString(grpc_body),
                    metadata=(("x-project-id", project),),
                    timeout=20,
                )
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE

            r = http.get(f"{server.api}/runs", headers={"x-project-id": project})
            assert r.status_code == 503
            assert set(r.json()) == {"error", "message"} and "unavailable" in r.json()["message"]
            assert r.headers["retry-after"]
            assert server.process.poll() is None

            own_pg.start_server()
            # Service resumes by itself: the refused export, re-sent, is stored.
            deadline = time.monotonic() + 30
            while True:
                r = http.post(f"{server.otlp_http}/v1/traces", content=refused, headers=headers)
                if r.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert r.status_code == 200, r.text
            stub.Export(
                ExportTraceServiceRequest.FromString(grpc_body),
                metadata=(("x-project-id", project),),
                timeout=20,
            )
            r = http.get(f"{server.api}/health")
            assert r.status_code == 200
        assert stored(url, project) == before | refused_ids | grpc_ids
    finally:
        channel.close()
        server.stop()


def test_spans_refused_while_away_are_not_stored(tmp_path: Path, own_pg: PgServer) -> None:
    url = own_pg.create_database("away")
    server = start_server(tmp_path / "data", database_url=url)
    project = f"away-{uuid.uuid4().hex[:8]}"
    factory = SpanFactory(server.otlp_grpc, server.otlp_http, project)
    headers = {**PROTOBUF, "x-project-id": project}
    try:
        own_pg.stop_server()
        body, _ = one_trace(factory)
        with httpx.Client(timeout=30) as http:
            assert (
                http.post(f"{server.otlp_http}/v1/traces", content=body, headers=headers).status_code == 503
            )
        own_pg.start_server()
        assert stored(url, project) == set()
    finally:
        server.stop()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracehound", *args], capture_output=True, text=True, timeout=120, check=False
    )


def one_line_error(done: subprocess.CompletedProcess[str], what: str) -> list[str]:
    assert done.returncode != 0, what
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), (what, done.stderr)
    assert "Traceback" not in done.stderr
    return lines


SERVE = ["serve", "--port", "0", "--otlp-http-port", "0", "--otlp-grpc-port", "0"]
COMMANDS = [
    ["runs"],
    ["stats"],
    ["keys", "list"],
    ["retention", "show"],
    SERVE,
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_start_up_errors_are_one_line(pg_server: PgServer, pg_url: str, command: list[str]) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    urls = {
        "malformed": "postgresql://u@[::1/db",
        "bad port": "postgresql://u@127.0.0.1:notaport/db",
        "unreachable": "postgresql://u:p@127.0.0.1:1/db",
        "wrong password": pg_server.url("postgres", password="wrong"),
        "newer schema": pg_url,
    }
    for what, url in urls.items():
        lines = one_line_error(cli(*command, "--database-url", url), what)
        if what == "wrong password":
            assert "password authentication failed" in lines[0]
        if what == "newer schema":
            assert "newer" in lines[0]
        assert "p@" not in lines[0] and pg_server.password not in lines[0]


def test_a_stopped_server_is_one_line(own_pg: PgServer) -> None:
    url = own_pg.create_database("stopped")
    own_pg.stop_server()
    try:
        for command in COMMANDS:
            [line] = one_line_error(cli(*command, "--database-url", url), command[0])
            assert "is unavailable" in line and own_pg.password not in line
    finally:
        own_pg.start_server()


def test_failures_after_connecting_are_one_line(pg_server: PgServer, pg_url: str) -> None:
    """The start-up work itself fails: the migration lock is not granted in time (a server
    error, OperationalError), or the role may not create the schema in an empty database."""
    timed = pg_url + "?options=" + quote("-c lock_timeout=300")
    with psycopg.connect(pg_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", MIGRATION_LOCK)
        for command in (SERVE, ["keys", "create", "--all-projects"]):
            [line] = one_line_error(cli(*command, "--database-url", timed), command[0])
            assert line.endswith("is unavailable: canceling statement due to lock timeout"), line
    role, password = f"weak_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    name = f"empty_{uuid.uuid4().hex[:8]}"
    empty = pg_server.create_database(name)
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), password))
    weak = empty.replace(f"{pg_server.user}:{quote(pg_server.password, safe='')}@", f"{role}:{password}@")
    try:
        for command in (SERVE, ["keys", "create", "--all-projects"]):
            [line] = one_line_error(cli(*command, "--database-url", weak), command[0])
            assert "refused tracehound: permission denied for schema public" in line, line
            assert password not in line
    finally:
        pg_server.drop_database(name)
        with psycopg.connect(pg_server.url(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_the_retention_sweeper_waits_out_an_outage(
    own_pg: PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    """While the database is away each sweep is one warning line, no traceback; the next round
    after it is back does the work."""
    caplog.set_level(logging.INFO, logger="tracehound.retention")
    url = own_pg.create_database("sweeper")
    store = open_store(StoreConfig(url=url))
    month_ago = time.time_ns() // 1000 - 30 * 86_400_000_000
    old = Span(
        project_id="p",
        trace_id="ab" * 16,
        span_id="cd" * 8,
        parent_span_id=None,
        run_id="old",
        thread_id=None,
        operation_name="run",
        start_time_us=month_ago,
        finish_time_us=month_ago + 1000,
        received_us=month_ago,
    )
    store.write([old])
    sweeper = Sweeper(store, default_days=7, interval_s=0.2)
    try:
        own_pg.stop_server()
        sweeper.start()
        skipped: list[logging.LogRecord] = []
        deadline = time.monotonic() + 30
        while len(skipped) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            skipped = [r for r in caplog.records if "sweep skipped" in r.getMessage()]
        assert len(skipped) >= 2
        assert all(r.levelno == logging.WARNING and r.exc_info is None for r in skipped)
        assert "will retry next round: PostgreSQL at" in skipped[0].getMessage()
        assert "\n" not in skipped[0].getMessage()
        own_pg.start_server()
        deadline = time.monotonic() + 30
        while not any("deleted the 1 spans of 1 runs" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
            time.sleep(0.2)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        sweeper.stop()
        store.close()
