"""Cross-origin access (`--cors-origins`): off by default; with an origin allowed, preflights are
answered without a key, and every answer to that origin carries the CORS headers, errors
included, while keys still guard the actual requests. Real servers on loopback, keys made by the
real `tracehound keys` command."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import anyio
import httpx
import pytest

from tests.conftest import Server, start_server
from tests.db import Database
from tests.test_keys import create_key
from tracehound.api.app import create_app
from tracehound.api.context import AppContext
from tracehound.config import Settings, parse_origins

UI = "http://localhost:9091"
ELSEWHERE = "https://evil.example"
HEADERS = "content-type,x-project-id,authorization,x-api-key,x-thread-id,x-run-id,x-label"


def preflight(url: str, origin: str, method: str = "GET", headers: str = HEADERS) -> httpx.Response:
    return httpx.options(
        url,
        headers={
            "origin": origin,
            "access-control-request-method": method,
            "access-control-request-headers": headers,
        },
        timeout=30,
    )


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("cors") / "data", "--cors-origins", f"{UI}, http://127.0.0.1:9091"
    )
    yield server
    server.stop()


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["/runs", "/threads/t-1", "/events", "/v1/traces", "/no/such/path"])
def test_preflight_is_answered_for_an_allowed_origin(cors_server: Server, path: str, method: str) -> None:
    r = preflight(cors_server.api + path, UI, method)
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == UI
    assert {m.strip() for m in r.headers["access-control-allow-methods"].split(",")} >= {
        "GET",
        "POST",
        "PUT",
        "DELETE",
    }
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert set(HEADERS.split(",")) <= allowed
    assert "origin" in r.headers["vary"].lower()


def test_actual_answers_carry_the_headers_errors_included(cors_server: Server) -> None:
    def get(path: str, **params: Any) -> httpx.Response:
        return httpx.get(cors_server.api + path, params=params, headers={"origin": UI}, timeout=30)

    answers = {
        200: get("/runs"),
        400: get("/runs", limit="many"),
        404: get("/runs/no-such-run/details"),
        405: httpx.delete(cors_server.api + "/runs", headers={"origin": UI}, timeout=30),
    }
    for status, r in answers.items():
        assert r.status_code == status, r.text
        assert r.headers["access-control-allow-origin"] == UI, status
        if status >= 400:
            assert set(r.json()) == {"error", "message"}
    # The second origin of the list is allowed too; the OTLP/HTTP port answers the same way.
    other = httpx.get(cors_server.api + "/runs", headers={"origin": "http://127.0.0.1:9091"}, timeout=30)
    assert other.headers["access-control-allow-origin"] == "http://127.0.0.1:9091"
    otlp = preflight(cors_server.otlp_http + "/v1/traces", UI, "POST", "content-type,x-project-id")
    assert otlp.status_code == 200
    assert otlp.headers["access-control-allow-origin"] == UI


def test_an_origin_not_allowed_gets_no_headers(cors_server: Server) -> None:
    refused = preflight(cors_server.api + "/runs", ELSEWHERE)
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert refused.json() == {"error": "Bad request", "message": "Disallowed CORS origin"}
    # A header nobody sends is refused by name, in the same shape.
    odd = preflight(cors_server.api + "/runs", UI, headers="x-something-else")
    assert odd.status_code == 400
    assert odd.json()["message"] == "Disallowed CORS headers"
    # The request itself is answered (a browser would hide it from the page), without the headers.
    r = httpx.get(cors_server.api + "/runs", headers={"origin": ELSEWHERE}, timeout=30)
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers


def test_off_by_default(server: Server) -> None:
    """The shared session server runs without --cors-origins."""
    r = preflight(server.api + "/runs", UI)
    assert r.status_code == 405
    assert "access-control-allow-origin" not in r.headers
    assert set(r.json()) == {"error", "message"}
    got = httpx.get(server.api + "/runs", headers={"origin": UI}, timeout=30)
    assert got.status_code == 200
    assert "access-control-allow-origin" not in got.headers


def test_keys_still_apply(db: Database) -> None:
    _, key = create_key(db, "--project", "alpha")
    server = start_server(db.data_dir, env={"TRACEHOUND_CORS_ORIGINS": "*"}, database_url=db.url)
    try:
        # The preflight carries no key (browsers never send one there) and is answered.
        r = preflight(server.api + "/runs", UI)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"
        # The request itself needs the key; its 401 is readable cross-origin.
        bare = httpx.get(server.api + "/runs", headers={"origin": UI}, timeout=30)
        assert bare.status_code == 401
        assert bare.headers["access-control-allow-origin"] == "*"
        assert bare.json()["error"] == "Unauthorized"
        keyed = httpx.get(
            server.api + "/runs", headers={"origin": UI, "authorization": f"Bearer {key}"}, timeout=30
        )
        assert keyed.status_code == 200
        assert keyed.headers["access-control-allow-origin"] == "*"
    finally:
        server.stop()


def test_an_unexpected_error_carries_the_headers() -> None:
    """A 500 is answered by Starlette's outermost error handler, outside every added middleware;
    the CORS layer wraps even that. In process, with a route that fails, since a real server has
    none that does."""
    context = AppContext(store=cast(Any, None), settings=Settings(cors_origins=UI))
    app = create_app(context)

    @app.get("/fails")
    def fails() -> None:
        raise RuntimeError("a bug")

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://tracehound") as client:
            return await client.get("/fails", headers={"origin": UI})

    r = anyio.run(go)
    assert r.status_code == 500
    assert r.headers["access-control-allow-origin"] == UI
    assert r.json() == {"error": "Internal error", "message": "the server failed to answer; see its log"}


def test_origins_are_checked_at_start() -> None:
    assert parse_origins("") == ()
    assert parse_origins(" http://localhost:9091/ ,https://ui.example") == (
        "http://localhost:9091",
        "https://ui.example",
    )
    assert parse_origins("*") == ("*",)
    for bad in ("localhost:9091", "http://localhost:9091/ui", "ftp://x", "http://"):
        with pytest.raises(ValueError, match="is not an origin"):
            parse_origins(bad)
