"""The CLI as a subprocess, against the running server (--url) and straight on its database
(--data-dir or --database-url, read-only beside the server): --json prints what the REST
endpoint answers; tables carry the figures; failures are one line on stderr with exit code 1
(refused) or 2 (unreachable)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, get_json
from tests.world import RUN_B, World

OLD = 60


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracehound", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def cli_json(*args: str) -> Any:
    done = cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(params=["url", "in-process"])
def source(request: pytest.FixtureRequest, server: Server, world: World) -> list[str]:
    where = ["--url", server.api] if request.param == "url" else server.store_args
    return [*where, "--project", world.project]


def test_runs_json_is_the_rest_answer(source: list[str], wapi: httpx.Client) -> None:
    got = cli_json("runs", *source, "--status", "failed", "--sort-by", "duration")
    assert got == get_json(wapi, "/runs", {"status": "failed", "sort_by": "duration", "limit": 20})
    assert next(r["run_id"] for r in got["data"]) == RUN_B


def test_runs_table(source: list[str], world: World) -> None:
    done = cli("runs", *source, "--period", "all")
    assert done.returncode == 0, done.stderr
    for run_id in ("run-a", RUN_B, "run-c", world.run_d, "run-e", "run-old"):
        assert run_id in done.stdout
    assert "failed" in done.stdout and "running" in done.stdout
    assert "1-6 of 6" in done.stdout


def test_run_shows_figures_cost_by_model_and_tree(source: list[str], wapi: httpx.Client) -> None:
    done = cli("run", "run-a", *source)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "completed" in out and "$0.003000" in out and "Cost by model" in out
    assert "└──" in out and "model_call" in out
    got = cli_json("run", "run-a", *source)
    assert got["by_model"] == get_json(wapi, "/runs/run-a/details")["by_model"]
    assert got["spans"]["pagination"]["total"] == 10


def test_spans_filters(source: list[str], wapi: httpx.Client) -> None:
    got = cli_json("spans", *source, "--status", "error", "--limit", "50")
    assert got == get_json(wapi, "/spans", {"status": "error", "limit": 50})
    assert got["data"] and all(s["is_error"] for s in got["data"])
    done = cli("spans", *source, "--run", "run-a", "--operation", "model_call")
    assert done.returncode == 0 and done.stdout.count("model_call") == 2


def test_analytics_commands(source: list[str], world: World, wapi: httpx.Client) -> None:
    start, end = str(world.us(-OLD)), str(world.us(100))
    stats = cli_json("stats", *source, "--start", start, "--end", end)
    assert stats == get_json(wapi, "/stats", {"start": start, "end": end})
    table = cli("stats", *source, "--start", start, "--end", end).stdout
    assert "Success rate" in table and "50.0%" in table and "By model" in table

    assert cli_json("bottlenecks", "run-a", *source) == get_json(
        wapi, "/runs/run-a/bottlenecks", {"limit": 5}
    )
    assert "Critical path" in cli("bottlenecks", "run-a", *source).stdout

    series = cli_json(
        "timeseries", *source, "--metric", "cost", "--interval", "1m", "--start", start, "--end", end
    )
    assert series == get_json(
        wapi, "/metrics/timeseries", {"metric": "cost", "interval": "1m", "start": start, "end": end}
    )
    assert (
        "Trend:"
        in cli("timeseries", *source, "--metric", "runs", "--interval", "1m", "--start", start).stdout
    )


def test_refusals_exit_1_with_the_api_message(source: list[str]) -> None:
    missing = cli("run", "no-such-run", *source)
    assert missing.returncode == 1 and "Run with ID no-such-run not found" in missing.stderr
    bad = cli("stats", *source, "--period", "fortnight")
    assert bad.returncode == 1 and "unknown period 'fortnight'" in bad.stderr
    assert "Traceback" not in missing.stderr + bad.stderr


def test_unreachable_or_missing_exit_2(tmp_path: Path) -> None:
    nothing = cli("runs", "--data-dir", str(tmp_path / "none"))
    assert nothing.returncode == 2 and "no tracehound database" in nothing.stderr
    assert not (tmp_path / "none").exists()  # reading never creates a database
    down = cli("runs", "--url", "http://127.0.0.1:9")
    assert down.returncode == 2 and "Unreachable" in down.stderr


def test_store_from_the_environment(server: Server, world: World, wapi: httpx.Client) -> None:
    if server.database_url is not None:
        env = {"TRACEHOUND_DATABASE_URL": server.database_url}
    else:
        env = {"TRACEHOUND_DATA_DIR": str(server.data_dir)}
    done = cli("runs", "--json", "--project", world.project, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == get_json(wapi, "/runs", {"limit": 20})


def test_summary(source: list[str], wapi: httpx.Client) -> None:
    got = cli_json("summary", *source, "--thread", "thread-1")
    assert got == get_json(wapi, "/spans/summary", {"thread_ids": "thread-1"})
    assert got["total_spans"] == 15 and got["run_count"] == 2
    table = cli("summary", *source, "--thread", "thread-1", "--label", "hotel_search").stdout
    assert "Summary" in table and "Error spans" in table and "rate limited" in table
    none = cli("summary", *source)
    assert none.returncode == 2 and "at least one" in none.stderr
