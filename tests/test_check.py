"""`tracehound check [--repair]` as a subprocess on a real server's data directory: rollups that
agree with their spans pass; damaged ones are reported table by table, repaired, and the API
answers as it did before the damage."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, get_json, start_server
from tests.test_cli import cli
from tests.world import RUN_B, World, build_world
from tracehound.storage.sqlite.store import DB_FILENAME


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, World]]:
    server = start_server(tmp_path_factory.mktemp("check") / "data")
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
    server, world = own
    before = answers(server, world.project)
    data_dir = str(server.data_dir)

    ok = cli("check", "--data-dir", data_dir)  # beside the running server
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "every rollup agrees" in ok.stdout
    locked = cli("check", "--repair", "--data-dir", data_dir)
    assert locked.returncode == 2 and "in use by a running tracehound" in locked.stderr

    assert server.stop() == 0
    with sqlite3.connect(server.data_dir / DB_FILENAME) as db:
        db.execute("UPDATE runs SET cost = cost + 1, llm_calls = 7 WHERE run_id = 'run-a'")
        db.execute("DELETE FROM run_facets WHERE run_id = ? AND facet = 'error'", (RUN_B,))
        db.execute("UPDATE projects SET span_count = span_count + 5 WHERE id = ?", (world.project,))
        db.execute(
            "INSERT INTO runs SELECT project_id, 'ghost', start_time_us, finish_time_us, duration_us, "
            "root_start_us, root_finish_us, span_count, root_count, error_count, llm_calls, tool_calls, "
            "mcp_calls, cost, input_tokens, output_tokens, cached_tokens, last_seen_us, sets, "
            "spans_expired_us "
            "FROM runs WHERE run_id = 'run-e'"
        )
        db.execute(
            "UPDATE spans SET usage_counted = 1 - usage_counted WHERE span_id = ?",
            (world.span_ids["A.model_call"],),
        )

    broken = cli("check", "--data-dir", data_dir)
    assert broken.returncode == 1
    out = broken.stdout
    assert "mismatch" in out
    assert "runs: differs ('" + world.project + "', 'run-a')" in out
    assert "runs: extra ('" + world.project + "', 'ghost')" in out
    assert f"run_facets: missing ('{world.project}', '{RUN_B}', 'error', 'rate limited')" in out
    assert "projects: differs" in out and "spans: differs" in out

    fixed = cli("check", "--repair", "--data-dir", data_dir)
    assert fixed.returncode == 0 and "repaired" in fixed.stdout
    again = cli("check", "--data-dir", data_dir)
    assert again.returncode == 0 and "every rollup agrees" in again.stdout

    restarted = start_server(server.data_dir)
    try:
        assert answers(restarted, world.project) == before
    finally:
        restarted.stop()


def test_check_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    missing = cli("check", "--data-dir", str(tmp_path / "none"))
    assert missing.returncode == 2 and "no tracehound database" in missing.stderr
    assert not (tmp_path / "none").exists()


def test_api_unaffected_by_a_check(own: tuple[Server, World]) -> None:
    """A read-only check holds no lock and writes nothing: ingest goes on beside it."""
    server, world = own
    if server.process.poll() is not None:  # stopped by the repair test: use a fresh one
        server = start_server(server.data_dir)
    try:
        with httpx.Client(base_url=server.api, headers={"x-project-id": world.project}) as c:
            total = get_json(c, "/runs", {"period": "all"})["pagination"]["total"]
            done = cli("check", "--data-dir", str(server.data_dir))
            assert done.returncode == 0
            assert get_json(c, "/runs", {"period": "all"})["pagination"]["total"] == total
    finally:
        server.stop()


def test_check_and_repair_on_postgres_beside_the_server(tmp_path: Path, pg_url: str) -> None:
    """On PostgreSQL both the check and the repair run beside serving processes: the repair
    locks the rollup tables for its own transaction only."""
    import psycopg

    server = start_server(tmp_path / "pg", database_url=pg_url)
    try:
        world = build_world(server)
        before = answers(server, world.project)
        ok = cli("check", "--database-url", pg_url)
        assert ok.returncode == 0 and "every rollup agrees" in ok.stdout, ok.stdout + ok.stderr
        with psycopg.connect(pg_url, autocommit=True) as db:
            db.execute("UPDATE runs SET cost = cost + 1, llm_calls = 7 WHERE run_id = 'run-a'")
            db.execute("DELETE FROM run_facets WHERE run_id = %s AND facet = 'error'", (RUN_B,))
            db.execute("UPDATE projects SET span_count = span_count + 5 WHERE id = %s", (world.project,))
            db.execute(
                "UPDATE spans SET usage_counted = 1 - usage_counted WHERE span_id = %s",
                (world.span_ids["A.model_call"],),
            )
        broken = cli("check", "--database-url", pg_url)
        assert broken.returncode == 1
        assert "runs: differs ('" + world.project + "', 'run-a')" in broken.stdout
        assert f"run_facets: missing ('{world.project}', '{RUN_B}', 'error', 'rate limited')" in broken.stdout
        assert "projects: differs" in broken.stdout and "spans: differs" in broken.stdout

        fixed = cli("check", "--repair", "--database-url", pg_url)
        assert fixed.returncode == 0 and "repaired" in fixed.stdout, fixed.stdout + fixed.stderr
        again = cli("check", "--database-url", pg_url)
        assert again.returncode == 0 and "every rollup agrees" in again.stdout
        # The serving process answers as before, its /stats cache included (hour stamps bumped).
        assert answers(server, world.project) == before
    finally:
        server.stop()
