"""SQL-injection strings in every string parameter: every string query parameter of every GET
operation (read from the served /openapi.json, so new ones are covered), the path ids, and the
`x-project-id` header. The answer is the one an inert value of the same kind gets (or a 400 that
names the parameter), and afterwards the database is intact.

None of the strings occurs in the shared data set, so an answer that differs from the inert
one means the string was read as something other than text: a SQL fragment, or a LIKE pattern.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest

from tests.conftest import Server, get_json
from tests.spans import SpanFactory
from tests.world import World
from tracehound.storage.sqlite.store import DB_FILENAME

# Classic injections, LIKE wildcards that would match the data set's "run-a" if they were read
# as patterns, a NUL, Unicode, and a very long value. Not numbers: those are valid values of
# some parameters (a time, an id).
INJECTIONS = [
    "' OR 1=1 --",
    '"; DROP TABLE spans; --',
    "%' UNION SELECT name, sql, 1, 2 FROM sqlite_master --",
    "run_a",
    "run%a",
    "\x00",
    "' OR '1'='1",
    "'); DROP TABLE runs; --",
    "1; SELECT * FROM spans",
    "%",
    "_%_",
    "\\%",
    "run\\_a",
    "a\x00' OR 1=1 --",
    "é中文🙂\u202e",
    "x" * 6000,
]
INERT = "zz-no-such-value"
S = 1_000_000


@pytest.fixture(scope="module")
def openapi(server: Server) -> dict[str, Any]:
    doc: dict[str, Any] = httpx.get(f"{server.api}/openapi.json").json()
    return doc


@pytest.fixture(scope="module")
def client(server: Server, world: World) -> Iterator[httpx.Client]:
    with server.client(world.project) as c:
        yield c


def _is_string(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    return any(option.get("type") == "string" for option in options)


def _baseline(operation: dict[str, Any], world: World) -> dict[str, Any]:
    """Parameters that make the answer deterministic and non-empty: a fixed window around the
    data set (so nothing depends on the clock), and the parameters an operation needs."""
    names = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
    out: dict[str, Any] = {}
    if "start" in names and "end" in names:
        out |= {"start": str((world.base_s - 3 * 86_400) * S), "end": str((world.base_s + 86_400) * S)}
    if "metric" in names:
        out["metric"] = "cost"
    for name, p in names.items():
        enum = p["schema"].get("enum")
        if p.get("required") and enum:
            out[name] = enum[0]
    return out


# Answers that echo the request's filters back (the span summary): the echo differs by design.
_ECHOED = ("filters",)


def _same_kind(r: httpx.Response) -> Any:
    """What must not change: the status, and for a 200 the body less its echo of the request; for
    an error its kind (the message may quote the value)."""
    if r.status_code == 200:
        body = r.json()
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k not in _ECHOED}
        return r.status_code, body
    return r.status_code, r.json()["error"]


def _check(injected: httpx.Response, inert: httpx.Response, path: str, name: str, value: str) -> None:
    assert injected.status_code < 500, (path, name, value, injected.text)
    if injected.status_code != inert.status_code:
        # A value the inert one is not (too long, say) may be refused, but as a bad parameter.
        assert injected.status_code == 400, (path, name, value, injected.text)
        assert name in injected.json()["message"], (path, name, value, injected.text)
        return
    assert _same_kind(injected) == _same_kind(inert), (path, name, value)


def _string_query_params(openapi: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    out = []
    for path, operations in openapi["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path:
            continue
        for p in get.get("parameters", []):
            if p["in"] == "query" and _is_string(p["schema"]):
                out.append((path, get, p["name"]))
    return out


def _schema_and_integrity(server: Server, database_url: str | None) -> tuple[Any, Any]:
    """The schema, and on SQLite its integrity check (PostgreSQL has none to run)."""
    if database_url is not None:
        with psycopg.connect(database_url) as pg:
            schema = pg.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' ORDER BY table_name, column_name"
            ).fetchall()
            indexes = pg.execute("SELECT indexname, indexdef FROM pg_indexes ORDER BY indexname").fetchall()
        return [*schema, *indexes], [("ok",)]
    with sqlite3.connect(f"file:{server.data_dir / DB_FILENAME}?mode=ro", uri=True) as db:
        schema = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        integrity = db.execute("PRAGMA integrity_check").fetchall()
    return schema, integrity


@pytest.fixture(scope="module", autouse=True)
def database_intact(
    server: Server, world: World, client: httpx.Client, database_url: str | None
) -> Iterator[None]:
    """The world's figures, and the schema, are the same after every test of this module, and
    SQLite finds the file sound."""

    def snapshot() -> tuple[Any, ...]:
        runs = get_json(client, "/runs", {"limit": 0})["pagination"]["total"]
        spans = get_json(client, "/spans", {"limit": 0})["pagination"]["total"]
        return runs, spans, *_schema_and_integrity(server, database_url)

    before = snapshot()
    assert before[:2] == (6, 33) and before[3] == [("ok",)]
    yield
    assert snapshot() == before


def test_every_string_query_parameter(openapi: dict[str, Any], world: World, client: httpx.Client) -> None:
    params = _string_query_params(openapi)
    assert len(params) > 50  # read from the schema: /runs alone has ten
    for path, operation, name in params:
        base = _baseline(operation, world)
        inert = client.get(path, params={**base, name: INERT})
        assert inert.status_code < 500, (path, name, inert.text)
        for value in INJECTIONS:
            _check(client.get(path, params={**base, name: value}), inert, path, name, value)


def test_path_ids(openapi: dict[str, Any], world: World, client: httpx.Client) -> None:
    paths = [p for p, ops in openapi["paths"].items() if "get" in ops and "{" in p]
    assert {"/runs/{run_id}", "/threads/{thread_id}"} <= set(paths)
    for template in paths:
        base = _baseline(openapi["paths"][template]["get"], world)
        name = template[template.index("{") + 1 : template.index("}")]
        inert = client.get(template.replace(f"{{{name}}}", INERT), params=base)
        for value in INJECTIONS:
            # Encoded, so that the value stays one path segment.
            r = client.get(template.replace(f"{{{name}}}", quote(value, safe="")), params=base)
            _check(r, inert, template, name, value)


def test_project_header(openapi: dict[str, Any], server: Server, world: World) -> None:
    gets = [(p, ops["get"]) for p, ops in openapi["paths"].items() if "get" in ops and "{" not in p]
    with httpx.Client(base_url=server.api, timeout=30) as c:
        for path, operation in gets:
            base = _baseline(operation, world)
            inert = c.get(path, params=base, headers={"x-project-id": INERT})
            for value in INJECTIONS:
                # A header is bytes: UTF-8 here, read back as Latin-1; NUL cannot be sent at all.
                header = value.replace("\x00", "").encode()
                if not header.strip():
                    continue  # no project: `default`, which other tests write to
                r = c.get(path, params=base, headers={"x-project-id": header})
                assert r.status_code < 500, (path, value, r.text)
                assert _same_kind(r) == _same_kind(inert), (path, value)


def test_injection_strings_are_stored_and_found_as_text(server: Server) -> None:
    """A span whose project, run, thread and label are injection strings is stored, and found
    again by those exact strings."""
    marker = uuid.uuid4().hex[:8]
    project = f"p-{marker}'; DROP TABLE spans; --"
    run, thread, label = f"r-{marker}' OR 1=1 --", f't-{marker}"; --', f"l-{marker}%_"
    factory = SpanFactory(server.otlp_grpc, server.otlp_http, project)
    trace = factory.trace(1_700_000_000 * 10**9)
    attrs = {"vllora.run_id": run, "vllora.thread_id": thread, "vllora.label": label}
    trace.span("run", 0, 10, attrs=attrs)
    factory.send(trace, via="http")
    with server.client(project) as c:
        [found] = get_json(c, "/runs", {"run_ids": run, "thread_ids": thread, "labels": label})["data"]
        assert (found["run_id"], found["thread_ids"], found["labels"]) == (run, [thread], [label])
        assert get_json(c, f"/runs/{quote(run, safe='')}")["pagination"]["total"] == 1
        assert get_json(c, f"/threads/{quote(thread, safe='')}")["thread"]["run_ids"] == [run]
        assert get_json(c, "/spans", {"text": f"l-{marker}%_"})["pagination"]["total"] == 1
        assert get_json(c, "/spans", {"text": f"l-{marker}__"})["pagination"]["total"] == 0
        projects = get_json(c, "/projects")
    assert project in [p["id"] for p in projects]
