"""The README's quick start: `tracehound serve --demo` shows runs in the API within seconds, and
the demo data, sent through the real OTLP path, reads back exactly as generated."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, get_json, start_server
from tracehound.demo import load_demo


def _runs(server: Server, at_least: int, project: str | None = None) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    with server.client(project) as c:
        while time.monotonic() < deadline:
            body = get_json(c, "/runs", {"limit": 1000})
            if body["pagination"]["total"] >= at_least:
                runs: list[dict[str, Any]] = body["data"]
                return runs
            time.sleep(0.2)
    raise AssertionError(f"fewer than {at_least} runs after 30 s: {server.log.read_text()}")


def test_serve_with_demo(tmp_path: Path, store_url: str | None) -> None:
    server = start_server(tmp_path / "demo", "--demo", "--log-level", "info", database_url=store_url)
    try:
        deadline = time.monotonic() + 60
        while "demo data loaded" not in server.log.read_text():
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.2)
        runs = _runs(server, 50)
        assert {r["status"] for r in runs} == {"running", "completed", "failed"}
        assert sum(r["status"] == "running" for r in runs) == 1
        assert len({m for r in runs for m in r["used_models"]}) >= 4
        assert any(r["used_tools"] for r in runs)
        assert sum(r["cost"] for r in runs) > 0
    finally:
        server.stop()


def test_demo_reads_back_as_generated(server: Server) -> None:
    summary = load_demo(server.otlp_grpc, project="demo-exact")
    runs = _runs(server, summary.runs, "demo-exact")
    assert len(runs) == summary.runs
    assert sum(r["span_count"] for r in runs) == summary.spans
    assert sorted(r["run_id"] for r in runs if r["status"] == "failed") == sorted(summary.failed_run_ids)
    assert [r["run_id"] for r in runs if r["status"] == "running"] == [summary.running_run_id]
    assert sum(r["llm_calls"] for r in runs) == summary.llm_calls
    assert sum(r["cost"] for r in runs) == pytest.approx(summary.cost_usd, rel=1e-9)
    with server.client("demo-exact") as c:
        threads = get_json(c, "/threads", {"limit": 1000})
    assert threads["pagination"]["total"] == summary.threads


def test_demo_command(server: Server) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tracehound", "demo", "--endpoint", server.otlp_grpc, "--project", "demo-cli"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "sent" in out.stdout
    assert len(_runs(server, 50, "demo-cli")) >= 50
