"""/stats usage rows read off the per-hour aggregates (usage_hours, llm_durations), on a real
store of each backend: exact against known numbers and against the query-time path over the spans, with window
edges mid-hour, runs straddling the edges, late spans for an old hour, a parent arriving after
its child (which un-counts the child's cost), errors, several models and an unpriced one; and a
schema-1 SQLite file upgraded in place gives the answers of a fresh one (SQLite only: its
migrations are released; PostgreSQL's first is not).

Every span is in thread "t", so filtering on that thread selects every run, but through the
query-time path: the two paths must agree."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.db import Database
from tracehound.analytics import stats
from tracehound.model import KIND_LLM, Span
from tracehound.storage import TraceStore
from tracehound.storage.sqlite import schema as sqlite_schema
from tracehound.storage.sqlite.store import DB_FILENAME
from tracehound.storage.types import StatsFilter
from tracehound.timeparse import resolve_window

M = 60_000_000  # µs per minute
H = 60 * M
B = 480_000 * H  # an hour boundary, in 2024
NOW_S = (B + 10 * H) / 1_000_000


def sp(
    run: str,
    sid: str,
    parent: str | None,
    start: int,
    ms: int,
    *,
    model: str | None = None,
    provider: str | None = None,
    llm: bool = False,
    cost: float | None = None,
    tokens: int | None = None,
    unpriced: bool = False,
    error: str | None = None,
) -> Span:
    return Span(
        project_id="p",
        trace_id=run.ljust(32, "0"),
        span_id=sid.ljust(16, "0"),
        parent_span_id=None if parent is None else parent.ljust(16, "0"),
        run_id=run,
        thread_id="t",
        operation_name="llm" if llm else "step",
        start_time_us=start,
        finish_time_us=start + ms * 1000,
        kind=KIND_LLM if llm else "other",
        is_llm_call=llm,
        model=model,
        provider=provider,
        cost=cost,
        cost_source="unpriced" if unpriced else ("provided" if cost is not None else None),
        input_tokens=tokens,
        output_tokens=None if tokens is None else tokens // 10,
        cached_tokens=None if tokens is None else tokens // 100,
        is_error=error is not None,
        error_message=error,
        received_us=B,
    )


def batches() -> list[list[Span]]:
    """Runs (start): r0 (B-5m) straddles B with a call at B+5m; r1 (B+10m) a call of A; r2
    (B+50m) a gateway call of B, the call failing; r3 (B+59m) a failing call of A at B+61m,
    past the hour; r4 (B+90m) an unpriced call; r5 (B+100m) a call with no model; r6 (B+130m)
    a call whose parent, carrying the same cost, arrives in the last batch; r7 (B-2h) an old run
    whose call arrives late."""
    first = [
        sp("r0", "root", None, B - 5 * M, 11 * 60_000),
        sp("r0", "c", "root", B + 5 * M, 3000, model="m-a", provider="pa", llm=True, cost=0.5, tokens=50),
        sp("r1", "root", None, B + 10 * M, 5000),
        sp(
            "r1",
            "c",
            "root",
            B + 10 * M + 1,
            2000,
            model="m-a",
            provider="pa",
            llm=True,
            cost=1.0,
            tokens=100,
        ),
        sp("r2", "root", None, B + 50 * M, 4000),
        sp("r2", "api", "root", B + 50 * M + 1, 3000, model="m-b", provider="pb", cost=2.0, tokens=200),
        sp("r2", "c", "api", B + 50 * M + 2, 2500, model="m-b", provider="pb", llm=True, cost=2.0, error="x"),
        sp("r3", "root", None, B + 59 * M, 180_000),
        sp("r3", "c", "root", B + 61 * M, 1500, model="m-a", provider="pa", llm=True, cost=0.25, error="y"),
        sp("r4", "root", None, B + 90 * M, 3000),
        sp(
            "r4",
            "c",
            "root",
            B + 90 * M,
            1000,
            model="m-x",
            provider="px",
            llm=True,
            tokens=40,
            unpriced=True,
        ),
        sp("r5", "root", None, B + 100 * M, 3000),
        sp("r5", "c", "root", B + 100 * M, 700, llm=True, cost=0.125, tokens=10),
        sp("r7", "root", None, B - 2 * H, 1000),
    ]
    # The child first: counted until its parent arrives.
    child = [
        sp("r6", "c", "api", B + 130 * M + 2, 900, model="m-b", provider="pb", llm=True, cost=4.0, tokens=8)
    ]
    late = [
        sp("r7", "c", "root", B - 2 * H + 1, 600, model="m-a", provider="pa", llm=True, cost=8.0, tokens=5)
    ]
    parent = [
        sp("r6", "root", None, B + 130 * M, 1000),
        sp("r6", "api", "root", B + 130 * M + 1, 950, model="m-b", provider="pb", cost=4.0, tokens=8),
    ]
    return [first, child, late, parent]


def load(db: Database) -> TraceStore:
    store = db.open(clock=lambda: NOW_S)
    for batch in batches():
        store.write(batch)
    return store


ALL = StatsFilter(project_id="p")
THREAD = StatsFilter(project_id="p", thread_ids=("t",))

WINDOWS = [
    (B + 7 * M, B + 150 * M),  # both edges mid-hour
    (B, B + 3 * H),  # whole hours
    (B + 20 * M, B + 40 * M),  # inside one hour
    (B + 7 * M, B + 60 * M),  # r3 starts inside and calls after the end
    (B + 60 * M, B + 120 * M),  # r3's call is inside, r3 is not
    (B - 3 * H, B + 5 * H),
    (B + 125 * M, B + 131 * M),  # r6 and the parent that took its child's cost
]


def rows(store: TraceStore, f: StatsFilter, window: tuple[int, int], key: str = "model") -> Any:
    return stats.usage_rows(store.usage_breakdown(f, *window, key), key)  # type: ignore[arg-type]


def approx_rows(got: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "cost": pytest.approx(r["cost"], rel=1e-12, abs=1e-12)} for r in got]


@pytest.fixture
def store(db: Database) -> Iterator[TraceStore]:
    s = load(db)
    yield s
    s.close()


def row(
    model: str | None,
    provider: str | None,
    calls: int,
    cost: float,
    tokens: int,
    errors: int,
    lat: list[float],
) -> Any:
    return {
        "model": model,
        "provider": provider,
        "calls": calls,
        "cost": pytest.approx(cost, rel=1e-12),
        "input_tokens": tokens,
        "output_tokens": tokens // 10,
        "cached_tokens": tokens // 100,
        "errors": errors,
        "p50_latency_ms": lat[0] if lat else None,
        "p95_latency_ms": lat[1] if lat else None,
    }


def test_mid_hour_window_is_exact(store: TraceStore) -> None:
    # r1..r6 started in [B+7m, B+150m); r0 (started before) and its call at B+5m are out; r3's
    # call after B+60m is in; r6's cost counts once, on the parent that arrived last.
    assert rows(store, ALL, (B + 7 * M, B + 150 * M)) == [
        row("m-b", "pb", 2, 6.0, 208, 1, [900.0, 2500.0]),
        row("m-a", "pa", 2, 1.25, 100, 1, [1500.0, 2000.0]),
        row(None, None, 1, 0.125, 10, 0, [700.0, 700.0]),
        row("m-x", "px", 1, 0.0, 40, 0, [1000.0, 1000.0]),
    ]
    assert rows(store, ALL, (B + 60 * M, B + 120 * M)) == [
        row(None, None, 1, 0.125, 10, 0, [700.0, 700.0]),
        row("m-x", "px", 1, 0.0, 40, 0, [1000.0, 1000.0]),
    ]
    # r0 straddles B: its call inside [B, B+3h) is not the window's.
    assert [r["calls"] for r in rows(store, ALL, (B, B + 3 * H))] == [2, 2, 1, 1]


def test_late_span_for_an_old_hour(store: TraceStore) -> None:
    got = rows(store, ALL, (B - 3 * H, B - H))
    assert got == [row("m-a", "pa", 1, 8.0, 5, 0, [600.0, 600.0])]


def test_a_parent_arriving_later_takes_the_childs_cost(db: Database) -> None:
    s = db.open(clock=lambda: NOW_S)
    try:
        window = (B + 125 * M, B + 131 * M)
        _, child, _, parent = batches()
        s.write(child)
        assert rows(s, ALL, window) == [row("m-b", "pb", 1, 4.0, 8, 0, [900.0, 900.0])]
        s.write(parent)
        # Still one call and 4.0: the cost moved from the child to its parent, never doubled.
        assert rows(s, ALL, window) == [row("m-b", "pb", 1, 4.0, 8, 0, [900.0, 900.0])]
        assert db.rows("SELECT spans, cost, input_tokens FROM usage_hours") == [(1, 4.0, 8)]
    finally:
        s.close()


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("key", ["model", "provider"])
def test_aggregates_agree_with_the_spans(store: TraceStore, window: tuple[int, int], key: str) -> None:
    assert rows(store, ALL, window, key) == approx_rows(rows(store, THREAD, window, key))


def stats_answer(store: TraceStore, f: StatsFilter, period: str, end_us: int) -> Any:
    w = resolve_window(period, None, end_us, store.now_us())
    return stats.summarize(w, store.stats(f, (w.start_us, w.end_us), w.previous), 10)


def approx_answer(answer: dict[str, Any]) -> dict[str, Any]:
    out = {**answer, "by_model": approx_rows(answer["by_model"])}
    out["total_cost"] = pytest.approx(answer["total_cost"], rel=1e-12, abs=1e-12)
    return out


@pytest.mark.parametrize(("period", "end_us"), [("last_3_hours", B + 150 * M), ("last_6_hours", B + 4 * H)])
def test_stats_agree_with_the_spans(store: TraceStore, period: str, end_us: int) -> None:
    got = stats_answer(store, ALL, period, end_us)
    assert got == approx_answer(stats_answer(store, THREAD, period, end_us))
    assert [e["message"] for e in got["top_errors"]] == ["x", "y"]
    assert got["unpriced_models"] == [{"model": "m-x", "calls": 1}]
    assert sum(r["cost"] for r in got["by_model"]) == pytest.approx(got["total_cost"])
    assert sum(r["calls"] for r in got["by_model"]) == got["llm_calls"]


def downgrade_to_v1(path: Path) -> None:
    """What schema 1 left on disk: the tables and indexes of migration 1 only (the writer's
    schema-1 tables hold the same rows in both versions)."""
    with sqlite3.connect(path) as conn:
        later = (
            "llm_durations",
            "usage_hours",
            "project_settings",
            "api_keys",
            "api_key_projects",
            "api_key_state",
            "span_findings",
        )
        for table in later:
            conn.execute(f"DROP TABLE {table}")
        conn.execute("ALTER TABLE runs DROP COLUMN spans_expired_us")
        conn.execute("ALTER TABLE spans DROP COLUMN texts_scanned")
        for statement in sqlite_schema.MIGRATIONS[0]:
            if "INDEX runs_start" in statement or "INDEX spans_counted" in statement:
                name = statement.split("INDEX ")[1].split(" ")[0]
                conn.execute(f"DROP INDEX {name}")
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")


def schema(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()


def test_a_schema_1_file_is_upgraded_and_backfilled(tmp_path: Path) -> None:
    """SQLite only: an upgrade in place of a file that a released schema 1 left."""
    load(Database(tmp_path / "old")).close()
    downgrade_to_v1(tmp_path / "old" / DB_FILENAME)
    with sqlite3.connect(tmp_path / "v1.db") as v1:
        for statement in sqlite_schema.MIGRATIONS[0]:
            v1.execute(statement)
    assert schema(tmp_path / "old" / DB_FILENAME) == schema(tmp_path / "v1.db")

    upgraded = Database(tmp_path / "old").open(clock=lambda: NOW_S)
    fresh = load(Database(tmp_path / "fresh"))
    try:
        for window in WINDOWS:
            for key in ("model", "provider"):
                assert rows(upgraded, ALL, window, key) == approx_rows(rows(fresh, ALL, window, key))
        for period, end_us in (("last_3_hours", B + 150 * M), ("last_day", B + 4 * H)):
            answer = stats_answer(upgraded, ALL, period, end_us)
            assert answer["by_model"] and answer == approx_answer(stats_answer(fresh, ALL, period, end_us))
    finally:
        upgraded.close()
        fresh.close()
    assert schema(tmp_path / "old" / DB_FILENAME) == schema(tmp_path / "fresh" / DB_FILENAME)
