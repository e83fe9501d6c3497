"""`tracehound keys` as a subprocess: the key alone on the last line, kept only as a hash, listed by
id, revoked and deleted; and what a server on a data directory with keys does at its edges:
serving beyond loopback, revoking every key, forgetting them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import start_server
from tests.test_cli import cli

KEY = re.compile(r"^th_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$")


def create_key(data_dir: Path, *args: str) -> tuple[str, str]:
    """(id, key) of a new key, from the command's last line of output."""
    done = cli("keys", "create", "--data-dir", str(data_dir), *args)
    assert done.returncode == 0, done.stderr
    last = done.stdout.splitlines()[-1]
    match = KEY.match(last)
    assert match is not None, done.stdout
    return match.group(1), last


def list_keys(data_dir: Path) -> list[dict[str, Any]]:
    done = cli("keys", "list", "--data-dir", str(data_dir), "--json")
    assert done.returncode == 0, done.stderr
    keys: list[dict[str, Any]] = json.loads(done.stdout)
    return keys


def test_create_prints_the_key_alone_on_its_last_line_and_stores_a_hash(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = cli(
        "keys", "create", "--data-dir", str(data), "--project", "alpha", "--project", "beta", "--name", "ci"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    match = KEY.match(lines[-1])
    assert match is not None
    key_id, key = match.group(1), lines[-1]
    assert lines[:-1] == [
        f"Created API key {key_id} for project alpha, beta.",
        "Store it now: tracehound keeps only a hash and cannot show it again.",
    ]
    other_id, other = create_key(data, "--all-projects")
    assert other != key and other_id != key_id
    listed = list_keys(data)
    assert [(k["id"], k["name"], k["projects"], k["all_projects"], k["active"]) for k in listed] == [
        (key_id, "ci", ["alpha", "beta"], False, True),
        (other_id, None, [], True, True),
    ]
    assert all(k["last_used_at_us"] is None and k["revoked_at_us"] is None for k in listed)
    table = cli("keys", "list", "--data-dir", str(data))
    assert key_id in table.stdout and key not in table.stdout and "*" in table.stdout
    # Neither the database nor its WAL holds a key, in any form but its hash.
    stored = b"".join(p.read_bytes() for p in data.iterdir() if p.name.startswith("tracehound.db"))
    for k in (key, other):
        assert k.encode() not in stored and k.split("_", 2)[2].encode() not in stored


def test_create_refuses_an_unclear_scope(tmp_path: Path) -> None:
    none = cli("keys", "create", "--data-dir", str(tmp_path))
    both = cli("keys", "create", "--data-dir", str(tmp_path), "--project", "a", "--all-projects")
    for done in (none, both):
        assert done.returncode == 1
        assert "give --project P (repeatable) or --all-projects, not both" in done.stderr


def test_revoke_then_delete(tmp_path: Path) -> None:
    missing = cli("keys", "list", "--data-dir", str(tmp_path / "none"))
    assert missing.returncode == 1 and "no keys yet" in missing.stderr
    key_id, _ = create_key(tmp_path, "--project", "alpha")
    early = cli("keys", "delete", key_id, "--data-dir", str(tmp_path))
    assert early.returncode == 1 and "revoke it first" in early.stderr
    done = cli("keys", "revoke", key_id, "--data-dir", str(tmp_path))
    assert done.returncode == 0 and done.stdout.strip() == f"Revoked API key {key_id}."
    [listed] = list_keys(tmp_path)
    assert listed["active"] is False and listed["revoked_at_us"] > listed["created_at_us"]
    again = cli("keys", "revoke", key_id, "--data-dir", str(tmp_path))
    assert again.returncode == 1 and f"no active key '{key_id}'" in again.stderr
    gone = cli("keys", "delete", key_id, "--data-dir", str(tmp_path))
    assert gone.returncode == 0 and list_keys(tmp_path) == []


def test_no_keys_means_loopback_unless_insecure(tmp_path: Path) -> None:
    refused = cli("serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "a"), "--port", "1")
    assert refused.returncode == 1
    assert "refusing to serve on 0.0.0.0 without API keys" in refused.stderr
    server = start_server(tmp_path / "b", "--host", "0.0.0.0", "--insecure")
    try:
        assert httpx.get(f"{server.api}/runs").status_code == 200
    finally:
        server.stop()
    log = server.log.read_text()
    assert "WARNING tracehound: serving on 0.0.0.0 with no API keys (--insecure)" in log


def test_with_keys_any_host_and_revoking_every_key_keeps_the_door_shut(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key_id, key = create_key(data, "--project", "alpha")
    server = start_server(data, "--host", "0.0.0.0")
    try:
        assert httpx.get(f"{server.api}/runs", headers={"x-api-key": key}).status_code == 200
        assert cli("keys", "revoke", key_id, "--data-dir", str(data)).returncode == 0
        # No valid key left: still closed, not open.
        for headers in ({}, {"x-api-key": key}):
            assert httpx.get(f"{server.api}/runs", headers=headers).status_code == 401
        # Forgetting the last key opens the server again (the operator's explicit choice).
        assert cli("keys", "delete", key_id, "--data-dir", str(data)).returncode == 0
        assert httpx.get(f"{server.api}/runs").status_code == 200
    finally:
        server.stop()
    assert "WARNING" not in server.log.read_text()


def test_reading_the_file_needs_no_key(tmp_path: Path) -> None:
    """The database file is the trust boundary: whoever can read it needs no key."""
    create_key(tmp_path, "--project", "alpha")
    done = cli("runs", "--data-dir", str(tmp_path), "--project", "alpha", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pagination"]["total"] == 0
