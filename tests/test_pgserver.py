"""The real PostgreSQL server the tests run against (tests/pgserver.py): password authentication,
databases cloned from a template, a restart on the same port, and no postgres process left behind,
even when the process that started the server is SIGKILLed."""

from __future__ import annotations

import ctypes
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.pgserver import SERVER_OS_USER, PgServer, alive

ROOT = Path(__file__).resolve().parents[1]
PR_SET_CHILD_SUBREAPER = 36


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def backend_pid(url: str) -> tuple[psycopg.Connection[Any], int]:
    conn = psycopg.connect(url, autocommit=True)
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return conn, int(row[0])


def spawn_cli() -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """`python -m tests.pgserver --json` as a child process, and what it printed."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.pgserver", "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stderr is not None
    line = child.stdout.readline()
    if not line:
        child.wait(timeout=30)
        raise AssertionError(f"python -m tests.pgserver printed nothing: {child.stderr.read()}")
    return child, json.loads(line)


def end(child: subprocess.Popen[str]) -> None:
    child.kill()
    child.communicate()


@contextmanager
def subreaper() -> Iterator[None]:
    """Make this process the reaper of its orphaned descendants for a while, so that a grandchild
    whose parent we kill becomes our child and we can wait for it (rather than leave a zombie)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def reap(pid: int, timeout: float) -> int | None:
    """Wait up to `timeout` s for our child `pid` to exit; its wait status, or None if it runs on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return 0 if not alive(pid) else None  # not ours to reap: gone is what counts
        if done:
            return status
        time.sleep(0.05)
    return None


def test_connects_with_its_password_on_loopback_only(pg_server: PgServer, pg_url: str) -> None:
    assert pg_url.startswith(
        f"postgresql://{pg_server.user}:{pg_server.password}@127.0.0.1:{pg_server.port}/"
    )
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT current_user, host(inet_server_addr()), current_setting('port'),"
            " current_setting('listen_addresses'), current_setting('max_connections')::int"
        ).fetchone()
    assert row == (pg_server.user, "127.0.0.1", str(pg_server.port), "127.0.0.1", 200)
    assert pg_server.pid is not None
    if os.geteuid() == 0:  # initdb and postgres refuse root: the server runs as the postgres user
        assert uid_of(pg_server.pid) == pwd.getpwnam(SERVER_OS_USER).pw_uid


def test_a_wrong_or_missing_password_is_refused(pg_server: PgServer) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_server.url(password="not-the-password"), connect_timeout=5)
    no_password = f"postgresql://{pg_server.user}@127.0.0.1:{pg_server.port}/postgres"
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(no_password, connect_timeout=5, passfile="/nonexistent")


def test_a_cloned_database_is_isolated(pg_server: PgServer, pg_url: str, pg_template: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE only_here (x int)")
        conn.execute("INSERT INTO only_here VALUES (1)")
    other = f"test_{uuid.uuid4().hex[:16]}"
    other_url = pg_server.create_database(other, template=pg_template)
    try:
        for url in (other_url, pg_server.url(pg_template)):
            with psycopg.connect(url) as conn:
                assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
    finally:
        pg_server.drop_database(other)
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(other_url)


def test_database_names_are_checked(pg_server: PgServer) -> None:
    with pytest.raises(ValueError, match="not a plain database name"):
        pg_server.create_database('x"; DROP DATABASE postgres; --')


def test_restart_keeps_the_port_and_the_data() -> None:
    with PgServer() as server:
        url = server.create_database("kept")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t AS SELECT 42 AS answer")
        port, first = server.port, server.pid
        assert first is not None

        server.stop_server()
        assert not alive(first)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)

        server.start_server()
        assert server.port == port and server.pid not in (None, first)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT answer FROM t").fetchone() == (42,)

        server.restart()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT answer FROM t").fetchone() == (42,)


def test_stop_ends_every_process_and_removes_the_directory() -> None:
    server = PgServer().start()
    root, postmaster = server.root, server.pid
    assert root is not None and postmaster is not None
    conn, backend = backend_pid(server.url())
    helpers = children_of(postmaster)
    assert backend in helpers
    server.stop()
    conn.close()
    assert [pid for pid in [postmaster, *helpers] if alive(pid)] == []
    assert not root.exists()
    server.stop()  # idempotent


def test_the_command_stops_the_server_on_sigterm() -> None:
    child, info = spawn_cli()
    try:
        assert info["url"].endswith(f":{info['port']}/tracehound")
        with psycopg.connect(info["url"]) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("tracehound",)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
        assert not alive(info["pid"])
        assert not Path(info["data_dir"]).parent.exists()
    finally:
        end(child)


def test_a_sigkilled_parent_leaves_no_postgres_behind() -> None:
    with subreaper():
        child, info = spawn_cli()
        postmaster = info["pid"]
        try:
            conn, backend = backend_pid(info["url"])
            helpers = children_of(postmaster)
            assert backend in helpers and alive(postmaster)

            child.kill()  # SIGKILL: the server's parent gets no chance to stop it
            child.wait()
            # The parent-death signal (SIGINT, a fast shutdown) reaches the postmaster, which
            # ends its backends and exits cleanly; it is our child now, so we can wait for it.
            status = reap(postmaster, timeout=15)
            conn.close()
            assert status is not None, f"postmaster {postmaster} still runs after its parent was SIGKILLed"
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            for pid in helpers:
                reap(pid, timeout=5)
            assert [pid for pid in [postmaster, *helpers] if alive(pid)] == []
        finally:
            if alive(postmaster):
                os.kill(postmaster, signal.SIGKILL)
                reap(postmaster, timeout=5)
            end(child)
            shutil.rmtree(Path(info["data_dir"]).parent, ignore_errors=True)
