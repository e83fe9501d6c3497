"""Test fixtures: a real tracehound server on loopback, fed by the OpenTelemetry SDK's own OTLP
exporters. Each test gets its own project id, so tests share one server without seeing each
other's data. Tests of the PostgreSQL backend get a real PostgreSQL server (tests/pgserver.py) and
a database of their own, cloned from a template."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.db import Database
from tests.pgserver import PgServer, PgServerError
from tests.spans import SpanFactory
from tracehound.storage import StoreConfig, open_store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    api: str
    otlp_http: str
    otlp_grpc: str
    data_dir: Path
    log: Path
    database_url: str | None = None

    @property
    def store_args(self) -> list[str]:
        """The CLI options that open this server's database in process (beside the server)."""
        return self.db.args

    @property
    def db(self) -> Database:
        return Database(self.data_dir, self.database_url)

    def client(self, project: str | None = None) -> httpx.Client:
        headers = {"x-project-id": project} if project else {}
        return httpx.Client(base_url=self.api, headers=headers, timeout=30)

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def start_server(
    data_dir: Path, *extra: str, env: dict[str, str] | None = None, database_url: str | None = None
) -> Server:
    """`database_url` None: SQLite under `data_dir`; a postgresql:// URL: that database."""
    if database_url is not None:
        extra = ("--database-url", database_url, *extra)
    port, http_port, grpc_port = free_port(), free_port(), free_port()
    log = data_dir.parent / f"{data_dir.name}-server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tracehound",
                "serve",
                "--port",
                str(port),
                "--otlp-http-port",
                str(http_port),
                "--otlp-grpc-port",
                str(grpc_port),
                "--data-dir",
                str(data_dir),
                "--log-level",
                "warning",
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    server = Server(
        process=process,
        api=f"http://127.0.0.1:{port}",
        otlp_http=f"http://127.0.0.1:{http_port}",
        otlp_grpc=f"http://127.0.0.1:{grpc_port}",
        data_dir=data_dir,
        log=log,
        database_url=database_url,
    )
    # Generous: start-up imports take tens of seconds when the machine's cores are busy.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            if httpx.get(f"{server.api}/health", timeout=1).status_code == 200:
                httpx.get(f"{server.otlp_http}/health", timeout=1).raise_for_status()
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not start: {log.read_text()}")


# The contract suite runs on every backend; TRACEHOUND_TEST_BACKENDS=sqlite narrows it while
# working on one (CI and `make test` leave it unset).
BACKENDS = [b for b in os.environ.get("TRACEHOUND_TEST_BACKENDS", "sqlite,postgres").split(",") if b]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest, backend: str) -> str | None:
    """The database the session's shared server uses: None is SQLite under its data directory;
    for PostgreSQL, a database of its own cloned from the template."""
    if backend == "sqlite":
        return None
    pg: PgServer = request.getfixturevalue("pg_server")
    template: str = request.getfixturevalue("pg_template")
    return pg.create_database(f"shared_{uuid.uuid4().hex[:12]}", template=template)


@pytest.fixture
def store_url(request: pytest.FixtureRequest, backend: str) -> str | None:
    """A database of this test's own on the backend (None: SQLite under the test's data dir)."""
    if backend == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def db(tmp_path: Path, store_url: str | None) -> Database:
    """This test's own database on the backend: SQLite under tmp_path/data, or a fresh
    PostgreSQL database."""
    return Database(tmp_path / "data", store_url)


@pytest.fixture(scope="module")
def module_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[Database]:
    """A database shared by one test module (for a module-scoped server), on the backend."""
    data_dir = tmp_path_factory.mktemp("module") / "data"
    if backend == "sqlite":
        yield Database(data_dir)
        return
    pg: PgServer = request.getfixturevalue("pg_server")
    template: str = request.getfixturevalue("pg_template")
    name = f"module_{uuid.uuid4().hex[:12]}"
    yield Database(data_dir, pg.create_database(name, template=template))
    pg.drop_database(name)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, database_url: str | None) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("shared") / "data", database_url=database_url)
    yield s
    s.stop()


@pytest.fixture
def project() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def api(server: Server, project: str) -> Iterator[httpx.Client]:
    with server.client(project) as client:
        yield client


@pytest.fixture
def spans(server: Server, project: str) -> SpanFactory:
    return SpanFactory(server.otlp_grpc, server.otlp_http, project)


@pytest.fixture(scope="module")
def world(server: Server) -> Any:
    """The shared API data set (tests/world.py), sent once per test module."""
    from tests.world import build_world

    return build_world(server)


@pytest.fixture(scope="module")
def wapi(server: Server, world: Any) -> Iterator[httpx.Client]:
    with server.client(world.project) as client:
        yield client


def get_json(client: httpx.Client, path: str, params: dict[str, Any] | None = None, status: int = 200) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    return response.json()


# --------------------------------------------------------------------------- PostgreSQL

PG_TEMPLATE = "tracehound_template"


def prepare_template(url: str) -> None:
    """Bring the template database that every test database is cloned from to the current schema,
    once per test process. The store is closed at once: CREATE DATABASE ... TEMPLATE refuses a
    template that has a connection open."""
    open_store(StoreConfig(url=url)).close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One real PostgreSQL server per test process (per xdist worker), started by the first test
    that asks for it. A server that cannot start fails those tests with the reason: they are
    never skipped."""
    try:
        server = PgServer().start()
    except PgServerError as e:
        pytest.fail(f"the PostgreSQL test server did not start: {e}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> str:
    """The name of the migrated template database (see `prepare_template`)."""
    prepare_template(pg_server.create_database(PG_TEMPLATE))
    return PG_TEMPLATE


@pytest.fixture
def pg_url(pg_server: PgServer, pg_template: str) -> Iterator[str]:
    """A database of this test's own, cloned from the template and dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = pg_server.create_database(name, template=pg_template)
    yield url
    pg_server.drop_database(name)
