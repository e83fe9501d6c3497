"""`tracehound keys` as a subprocess, on each backend: the key alone on the last line, kept only as
a hash, listed by id, revoked and deleted; and what a server on a database with keys does at its
edges: serving beyond loopback, revoking every key, forgetting them."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import start_server
from tests.db import Database
from tests.test_cli import cli
from tracehound.storage.postgres.connect import describe

KEY = re.compile(r"^th_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$")


def create_key(db: Database, *args: str) -> tuple[str, str]:
    """(id, key) of a new key, from the command's last line of output."""
    done = cli("keys", "create", *db.args, *args)
    assert done.returncode == 0, done.stderr
    last = done.stdout.splitlines()[-1]
    match = KEY.match(last)
    assert match is not None, done.stdout
    return match.group(1), last


def list_keys(db: Database) -> list[dict[str, Any]]:
    done = cli("keys", "list", *db.args, "--json")
    assert done.returncode == 0, done.stderr
    keys: list[dict[str, Any]] = json.loads(done.stdout)
    return keys


def stored_bytes(db: Database) -> bytes:
    """What the database holds of the keys: on SQLite the file and its WAL, whatever table a key
    could be in; on PostgreSQL the key tables' rows."""
    if db.url is None:
        return b"".join(p.read_bytes() for p in db.data_dir.iterdir() if p.name.startswith("tracehound.db"))
    rows = db.rows("SELECT * FROM api_keys") + db.rows("SELECT * FROM api_key_projects")
    return repr(rows).encode()


def test_create_prints_the_key_alone_on_its_last_line_and_stores_a_hash(db: Database) -> None:
    done = cli("keys", "create", *db.args, "--project", "alpha", "--project", "beta", "--name", "ci")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    match = KEY.match(lines[-1])
    assert match is not None
    key_id, key = match.group(1), lines[-1]
    assert lines[:-1] == [
        f"Created API key {key_id} for project alpha, beta.",
        "Store it now: tracehound keeps only a hash and cannot show it again.",
    ]
    other_id, other = create_key(db, "--all-projects")
    assert other != key and other_id != key_id
    listed = list_keys(db)
    assert [(k["id"], k["name"], k["projects"], k["all_projects"], k["active"]) for k in listed] == [
        (key_id, "ci", ["alpha", "beta"], False, True),
        (other_id, None, [], True, True),
    ]
    assert all(k["last_used_at_us"] is None and k["revoked_at_us"] is None for k in listed)
    table = cli("keys", "list", *db.args)
    assert key_id in table.stdout and key not in table.stdout and "*" in table.stdout
    # The database holds no key in any form but its hash.
    stored = stored_bytes(db)
    assert listed_hash(db, key_id).encode() in stored  # what is there to look at
    for k in (key, other):
        assert k.encode() not in stored and k.split("_", 2)[2].encode() not in stored


def listed_hash(db: Database, key_id: str) -> str:
    (key_hash,) = db.one("SELECT key_hash FROM api_keys WHERE id = ?", (key_id,))
    return str(key_hash)


def test_create_refuses_an_unclear_scope(db: Database) -> None:
    none = cli("keys", "create", *db.args)
    both = cli("keys", "create", *db.args, "--project", "a", "--all-projects")
    for done in (none, both):
        assert done.returncode == 1
        assert "give --project P (repeatable) or --all-projects, not both" in done.stderr


@pytest.fixture
def empty(request: pytest.FixtureRequest, db: Database) -> Iterator[Database]:
    """A database no tracehound has opened: a directory without the file, or an empty
    PostgreSQL database (no schema)."""
    if db.url is None:
        yield Database(db.data_dir.parent / "none")
        return
    pg = request.getfixturevalue("pg_server")
    name = f"empty_{uuid.uuid4().hex[:12]}"
    yield Database(db.data_dir, pg.create_database(name))
    pg.drop_database(name)


def test_listing_no_database_names_the_one_it_looked_at(empty: Database) -> None:
    missing = cli("keys", "list", *empty.args)
    where = str(empty.data_dir / "tracehound.db") if empty.url is None else describe(empty.url)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == f"error: no tracehound database at {where}: no keys yet\n"


def test_revoke_then_delete(db: Database) -> None:
    key_id, _ = create_key(db, "--project", "alpha")
    early = cli("keys", "delete", key_id, *db.args)
    assert early.returncode == 1 and "revoke it first" in early.stderr
    done = cli("keys", "revoke", key_id, *db.args)
    assert done.returncode == 0 and done.stdout.strip() == f"Revoked API key {key_id}."
    [listed] = list_keys(db)
    assert listed["active"] is False and listed["revoked_at_us"] > listed["created_at_us"]
    again = cli("keys", "revoke", key_id, *db.args)
    assert again.returncode == 1 and f"no active key '{key_id}'" in again.stderr
    gone = cli("keys", "delete", key_id, *db.args)
    assert gone.returncode == 0 and list_keys(db) == []


def test_no_keys_means_loopback_unless_insecure(db: Database) -> None:
    refused = cli("serve", "--host", "0.0.0.0", *db.args, "--port", "1")
    assert refused.returncode == 1
    assert "refusing to serve on 0.0.0.0 without API keys" in refused.stderr
    server = start_server(db.data_dir, "--host", "0.0.0.0", "--insecure", database_url=db.url)
    try:
        assert httpx.get(f"{server.api}/runs").status_code == 200
    finally:
        server.stop()
    log = server.log.read_text()
    assert "WARNING tracehound: serving on 0.0.0.0 with no API keys (--insecure)" in log


def test_with_keys_any_host_and_revoking_every_key_keeps_the_door_shut(db: Database) -> None:
    key_id, key = create_key(db, "--project", "alpha")
    server = start_server(db.data_dir, "--host", "0.0.0.0", database_url=db.url)
    try:
        assert httpx.get(f"{server.api}/runs", headers={"x-api-key": key}).status_code == 200
        assert cli("keys", "revoke", key_id, *db.args).returncode == 0
        # No valid key left: still closed, not open.
        for headers in ({}, {"x-api-key": key}):
            assert httpx.get(f"{server.api}/runs", headers=headers).status_code == 401
        # Forgetting the last key opens the server again (the operator's explicit choice).
        assert cli("keys", "delete", key_id, *db.args).returncode == 0
        assert httpx.get(f"{server.api}/runs").status_code == 200
    finally:
        server.stop()
    assert "WARNING" not in server.log.read_text()


def test_reading_the_database_needs_no_key(db: Database) -> None:
    """The database (its file, or its credentials) is the trust boundary: whoever can read it
    needs no key."""
    create_key(db, "--project", "alpha")
    done = cli("runs", *db.args, "--project", "alpha", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pagination"]["total"] == 0
