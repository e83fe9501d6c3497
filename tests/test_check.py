"""`tracehound check [--repair]` as a subprocess on a real server's database, on each backend: rollups that
agree with their spans pass; damaged ones are reported table by table, repaired, and the API
answers as it did before the damage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, get_json, start_server
from tests.db import Database
from tests.test_cli import cli
from tests.world import RUN_B, World, build_world


@pytest.fixture(scope="module")
def own(module_db: Database) -> Iterator[tuple[Server, World]]:
    server = start_server(module_db.data_dir, database_url=module_db.url)
    try:
        yield server, build_world(server)
    finally:
        server.stop()


def answers(server: Server, project: str) -> list[object]:
    with server.client(project) as c:
        return [
            get_json(c, "/runs", {"period": "all"}),
            get_json(c, "/threads"),
            get_json(c, "/labels"),
            [p for p in get_json(c, "/projects") if p["id"] == project],
            get_json(c, "/runs/run-a/details"),
        ]


def test_check_and_repair(own: tuple[Server, World]) -> None:
    """The check runs beside the server on both backends. The repair: on SQLite it needs the
    data directory to itself (the server is stopped first); on PostgreSQL it runs beside serving
    processes, locking the rollup tables for its own transaction only, and the serving process
    answers as before, its /stats cache included (hour stamps bumped)."""
    server, world = own
    db = server.db
    before = answers(server, world.project)

    ok = cli("check", *db.args)  # beside the running server
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "every rollup agrees" in ok.stdout
    if db.url is None:
        locked = cli("check", "--repair", *db.args)
        assert locked.returncode == 2 and "in use by a running tracehound" in locked.stderr
        assert server.stop() == 0
    db.transaction(
        [
            ("UPDATE runs SET cost = cost + 1, llm_calls = 7 WHERE run_id = 'run-a'", ()),
            ("DELETE FROM run_facets WHERE run_id = ? AND facet = 'error'", (RUN_B,)),
            ("UPDATE projects SET span_count = span_count + 5 WHERE id = ?", (world.project,)),
            (
                "INSERT INTO runs SELECT project_id, 'ghost', start_time_us, finish_time_us, duration_us, "
                "root_start_us, root_finish_us, span_count, root_count, error_count, llm_calls, tool_calls, "
                "mcp_calls, cost, input_tokens, output_tokens, cached_tokens, last_seen_us, sets, "
                "spans_expired_us FROM runs WHERE run_id = 'run-e'",
                (),
            ),
            (
                "UPDATE spans SET usage_counted = 1 - usage_counted WHERE span_id = ?",
                (world.span_ids["A.model_call"],),
            ),
        ]
    )

    broken = cli("check", *db.args)
    assert broken.returncode == 1
    out = broken.stdout
    assert "mismatch" in out
    assert "runs: differs ('" + world.project + "', 'run-a')" in out
    assert "runs: extra ('" + world.project + "', 'ghost')" in out
    assert f"run_facets: missing ('{world.project}', '{RUN_B}', 'error', 'rate limited')" in out
    assert "projects: differs" in out and "spans: differs" in out

    fixed = cli("check", "--repair", *db.args)
    assert fixed.returncode == 0 and "repaired" in fixed.stdout, fixed.stdout + fixed.stderr
    again = cli("check", *db.args)
    assert again.returncode == 0 and "every rollup agrees" in again.stdout

    if db.url is not None:
        assert answers(server, world.project) == before
        return
    restarted = start_server(db.data_dir)
    try:
        assert answers(restarted, world.project) == before
    finally:
        restarted.stop()


def test_check_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    """SQLite only: a check creates no file where there is none (the file layout)."""
    missing = cli("check", "--data-dir", str(tmp_path / "none"))
    assert missing.returncode == 2 and "no tracehound database" in missing.stderr
    assert not (tmp_path / "none").exists()


def test_api_unaffected_by_a_check(own: tuple[Server, World]) -> None:
    """A read-only check holds no lock and writes nothing: ingest goes on beside it."""
    server, world = own
    if server.process.poll() is not None:  # stopped by the repair test: use a fresh one
        server = start_server(server.data_dir, database_url=server.database_url)
    try:
        with httpx.Client(base_url=server.api, headers={"x-project-id": world.project}) as c:
            total = get_json(c, "/runs", {"period": "all"})["pagination"]["total"]
            done = cli("check", *server.store_args)
            assert done.returncode == 0
            assert get_json(c, "/runs", {"period": "all"})["pagination"]["total"] == total
    finally:
        server.stop()
