"""`tracehound import-vllora`, run as a subprocess on a vLLora database built here
(tests/vllora_db.py), then read back through a real server's `/runs`: the runs equal what
vLLora's own `/runs` rules (reference §3.3) give for those rows, and a second import changes
nothing."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, get_json, start_server
from tests.db import Database
from tests.vllora_db import (
    DEFAULT,
    FLASH,
    GPT_4O,
    GPT_MINI,
    HAIKU,
    LUCY,
    RUN_A,
    RUN_B,
    RUN_C,
    RUN_D,
    RUN_E,
    RUN_G,
    RUN_H,
    SKIPPED,
    SONNET,
    T0,
    TH1,
    TH2,
    TH3,
    TH4,
    S,
    build,
    hex_of_span,
    hex_of_trace,
)

# Every run vLLora's /runs lists, by its rules (§3.3), worked out from the rows in
# tests/vllora_db.py: cost and tokens summed over api_invoke only, llm_calls = model_call rows,
# models from api_invoke's request and model_call's model_name, errors = distinct `error`
# attributes, trace and span ids of root rows (parent NULL), times the run's MIN start and MAX
# finish. Ids are in tracehound's hex form (docs/compat.md); lists are sorted.
VLLORA_RUNS: dict[str, dict[str, Any]] = {
    RUN_A: {
        "thread_ids": [TH1], "trace_ids": [hex_of_trace("A")], "root_span_ids": [hex_of_span("A.run")],
        "request_models": [GPT_MINI], "used_models": [GPT_MINI], "llm_calls": 1,
        "cost": 0.0000165, "input_tokens": 10, "output_tokens": 25,
        "start_time_us": T0, "finish_time_us": T0 + 2 * S, "errors": [],
    },
    RUN_B: {
        "thread_ids": [TH1], "trace_ids": [hex_of_trace("B")], "root_span_ids": [hex_of_span("B.run")],
        "request_models": [SONNET], "used_models": [SONNET], "llm_calls": 2,
        "cost": 0.00042 + 0.00105, "input_tokens": 100 + 300, "output_tokens": 8 + 10,
        "start_time_us": T0 + 10 * S, "finish_time_us": T0 + 20 * S, "errors": [],
    },
    RUN_C: {
        "thread_ids": [TH2], "trace_ids": [hex_of_trace("C")], "root_span_ids": [hex_of_span("C.run")],
        "request_models": [GPT_4O], "used_models": [HAIKU, GPT_4O], "llm_calls": 2,
        "cost": 0.000226, "input_tokens": 52, "output_tokens": 12,
        "start_time_us": T0 + 30 * S, "finish_time_us": T0 + 35 * S, "errors": ["rate limited: 429"],
    },
    RUN_D: {
        "thread_ids": [TH2], "trace_ids": [hex_of_trace("D")], "root_span_ids": [hex_of_span("D.run")],
        "request_models": [GPT_4O], "used_models": [GPT_4O], "llm_calls": 1,
        "cost": 0.0, "input_tokens": None, "output_tokens": None,
        "start_time_us": T0 + 40 * S, "finish_time_us": T0 + 41 * S,
        "errors": ["All models failed", "invalid api key"],
    },
    RUN_E: {
        "thread_ids": [TH3], "trace_ids": [], "root_span_ids": [],
        "request_models": [FLASH], "used_models": [FLASH], "llm_calls": 1,
        "cost": 0.0000075, "input_tokens": 40, "output_tokens": 5,
        "start_time_us": T0 + 50 * S, "finish_time_us": T0 + 52 * S, "errors": [],
    },
    RUN_G: {
        "thread_ids": [TH4], "trace_ids": [hex_of_trace("G")], "root_span_ids": [hex_of_span("G.run")],
        "request_models": [GPT_MINI], "used_models": [GPT_MINI], "llm_calls": 1,
        "cost": 0.00001, "input_tokens": 5, "output_tokens": 5,
        "start_time_us": T0 + 70 * S, "finish_time_us": T0 + 71 * S, "errors": [],
    },
}  # fmt: skip

# What tracehound adds (status, counts), per run; E has no root but is old, so not running.
EXTRAS = {  # span_count, error_count, status
    RUN_A: (5, 0, "completed"),
    RUN_B: (12, 0, "completed"),
    RUN_C: (7, 2, "failed"),
    RUN_D: (5, 4, "failed"),
    RUN_E: (4, 0, "completed"),
    RUN_G: (5, 0, "completed"),
}

ROWS, SPANS = 46, 42
SUMMARY = "runs in the store (default: 1, default-project: 6, lucy: 1)"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracehound", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def vllora_db(tmp_path: Path) -> Path:
    path = tmp_path / "vllora.db"
    build().write(path)
    return path


def snapshot(server: Server) -> dict[str, str]:
    """Everything a client sees of the imported data, as raw response bodies."""
    out = {}
    for project in (DEFAULT, LUCY, "default"):
        with server.client(project) as c:
            out[project] = c.get("/runs").text
            out[f"{project} threads"] = c.get("/threads").text
    with server.client() as c:
        out["projects"] = c.get("/projects").text
    return out


def span_rows(db: Database) -> int:
    (n,) = db.one("SELECT COUNT(*) FROM spans")
    return int(n)


def check_runs(c: httpx.Client, expected: dict[str, dict[str, Any]]) -> None:
    body = get_json(c, "/runs")
    got = {r["run_id"]: r for r in body["data"]}
    for run_id, want in expected.items():
        run = got[run_id]
        assert {k: run[k] for k in want} == {**want, "cost": pytest.approx(want["cost"], rel=1e-12)}
        span_count, error_count, status = EXTRAS[run_id]
        assert (run["span_count"], run["error_count"], run["status"]) == (span_count, error_count, status)
        assert run["has_errors"] == (error_count > 0)


def test_import_matches_vllora_runs_and_is_idempotent(vllora_db: Path, db: Database) -> None:
    """On SQLite a re-import waits for the server to stop (the file has one writer); on
    PostgreSQL the import is one more writer, beside running servers. Either way a re-import
    finds every span already present."""
    digest = hashlib.sha256(vllora_db.read_bytes()).hexdigest()

    first = cli("import-vllora", str(vllora_db), *db.args)
    assert first.returncode == 0, first.stderr
    skipped = "; ".join(f"{reason} (1)" for reason in SKIPPED)
    assert first.stdout.splitlines() == [
        f"skipped 4 rows: {skipped}",
        f"{ROWS} rows read, {SPANS} spans imported, 0 already present, 4 rows skipped; 8 {SUMMARY}",
    ]
    assert hashlib.sha256(vllora_db.read_bytes()).hexdigest() == digest  # opened read-only

    server = start_server(db.data_dir, database_url=db.url)
    try:
        with server.client(DEFAULT) as c:
            vllora_listed = {k: v for k, v in VLLORA_RUNS.items() if k != RUN_G}
            check_runs(c, vllora_listed)
            # vLLora leaves the embeddings spans (no run_id) out of every run; in tracehound
            # their trace is their run (docs/compat.md), so the project has one run more.
            body = get_json(c, "/runs")
            trace_f = hex_of_trace("F")
            assert [r["run_id"] for r in body["data"]] == [trace_f, RUN_E, RUN_D, RUN_C, RUN_B, RUN_A]
            assert body["pagination"]["total"] == 6
            f = body["data"][0]
            assert (f["span_count"], f["llm_calls"], f["trace_ids"]) == (3, 0, [trace_f])
            assert get_json(c, "/runs", {"run_ids": RUN_B})["data"][0]["used_tools"] == ["search_flights"]
            check_span_round_trip(c)
        with server.client(LUCY) as c:
            check_runs(c, {RUN_G: VLLORA_RUNS[RUN_G]})
        with server.client() as c:
            # No project recorded: tracehound's `default`. The "0" parent is no parent.
            [h] = get_json(c, "/runs")["data"]
            assert (h["run_id"], h["root_span_ids"], h["span_count"]) == (RUN_H, [hex_of_span("H.run")], 1)
            assert (h["labels"], h["status"]) == (["nightly"], "completed")
        before = snapshot(server)

        beside = cli("import-vllora", str(vllora_db), *db.args)
        if db.url is None:
            assert beside.returncode == 1
            assert beside.stderr == (
                f"error: {db.data_dir} is in use by another tracehound process: "
                "stop it (a running `tracehound serve`?), then import again\n"
            )
        else:
            assert beside.returncode == 0, beside.stderr
            assert beside.stdout.splitlines()[-1] == (
                f"{ROWS} rows read, 0 spans imported, {SPANS} already present, 4 rows skipped; 8 {SUMMARY}"
            )
            assert snapshot(server) == before
    finally:
        assert server.stop() == 0

    second = cli("import-vllora", str(vllora_db), *db.args)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[-1] == (
        f"{ROWS} rows read, 0 spans imported, {SPANS} already present, 4 rows skipped; 8 {SUMMARY}"
    )
    assert span_rows(db) == SPANS
    server = start_server(db.data_dir, database_url=db.url)
    try:
        assert snapshot(server) == before
    finally:
        server.stop()


def check_span_round_trip(c: httpx.Client) -> None:
    """A span comes back with vLLora's attributes unchanged (the promoted keys stripped again)."""
    db = build()
    spans = get_json(c, f"/runs/{RUN_A}")["data"]
    by_id = {s["span_id"]: s for s in spans}
    api = by_id[hex_of_span("A.api")]
    assert api["attribute"] == db.attributes["A.api"]
    assert api["parent_span_id"] == hex_of_span("A.cloud")
    assert (api["trace_id"], api["run_id"], api["thread_id"]) == (hex_of_trace("A"), RUN_A, TH1)
    assert (api["cost"], api["cost_source"]) == (pytest.approx(0.0000165, rel=1e-12), "provided")
    assert (api["input_tokens"], api["output_tokens"], api["model"]) == (10, 25, GPT_MINI)
    assert api["child_attribute"] == db.attributes["A.mc0"]
    assert len(spans) == 5


def test_project_option_and_the_database_from_the_environment(vllora_db: Path, db: Database) -> None:
    env = {"TRACEHOUND_DATA_DIR": str(db.data_dir)} if db.url is None else {"TRACEHOUND_DATABASE_URL": db.url}
    done = cli("import-vllora", str(vllora_db), "--project", "mine", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        f"{ROWS} rows read, {SPANS} spans imported, 0 already present, 4 rows skipped; "
        "8 runs in the store (mine: 8)"
    )
    assert db.rows("SELECT project_id, COUNT(*) FROM spans GROUP BY project_id") == [("mine", SPANS)]


def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, db: Database) -> None:
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("these are not the spans you are looking for\n" * 100)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE runs (id TEXT)")
    wrong_shape = tmp_path / "wrong.db"
    with sqlite3.connect(wrong_shape) as conn:
        conn.execute("CREATE TABLE traces (trace_id TEXT, span_id TEXT, name TEXT)")
    cases = {
        tmp_path / "missing.db": "no such file",
        tmp_path: "is not a file: give the vLLora database, usually ~/.vllora/vllora.db",
        not_sqlite: "is not a SQLite database",
        other: "has no traces table: it is not a vLLora database",
        wrong_shape: (
            ": the traces table lacks thread_id, parent_span_id, operation_name, start_time_us, "
            "finish_time_us, attribute, run_id, project_id: it is not a vLLora database"
        ),
    }
    for path, message in cases.items():
        done = cli("import-vllora", str(path), *db.args)
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
        assert done.stderr.startswith(f"error: {path}") and done.stderr.endswith(f"{message}\n"), done.stderr
        assert done.stderr.count("\n") == 1
    if db.url is None:  # nothing is created before the source is known to be vLLora's
        assert not db.data_dir.exists()
    else:
        assert span_rows(db) == 0


def test_malformed_attribute_in_an_older_file_is_skipped(tmp_path: Path, db: Database) -> None:
    """vLLora's JSON expression indexes (2025-11) make malformed attribute JSON unstorable; a file
    from before them can hold one. That row is skipped and counted, the rest imported."""
    source = build()
    source.rows = source.rows[:5]  # run A
    source.rows.append((*source.rows[0][:7], '{"broken', *source.rows[0][8:]))
    source.rows[-1] = (source.rows[-1][0], "99", *source.rows[-1][2:])
    path = tmp_path / "old.db"
    source.write(path, indexes=False)
    done = cli("import-vllora", str(path), *db.args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "skipped 1 rows: attribute is not valid JSON (1)",
        "6 rows read, 5 spans imported, 0 already present, 1 rows skipped; 1 runs in the store "
        "(default-project: 1)",
    ]
