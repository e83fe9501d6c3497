"""Run, thread and group-by-run/thread reads, answered from the rollups (never by aggregating
spans at query time)."""

from __future__ import annotations

import sqlite3

import orjson

from tracehound.model import RunStatus
from tracehound.storage.queries import GroupQuery, RunQuery
from tracehound.storage.rows import Page, RollupRow
from tracehound.storage.shape import (
    group_run_query,
    only_status_filter,
    selects_some_statuses,
    shape_rollups,
    shape_run,
    shape_threads,
    status_total,
)
from tracehound.storage.status import run_status as run_status  # where sqlite/bottlenecks.py finds it
from tracehound.storage.where import QMARK, Where, rollup_filters

_ROLLUP_FIELDS = (
    "start_time_us, finish_time_us, duration_us, root_start_us, root_finish_us, span_count, "
    "root_count, error_count, llm_calls, tool_calls, mcp_calls, cost, input_tokens, "
    "output_tokens, cached_tokens, last_seen_us, sets"
)

_SORT_COLUMNS = {
    "start_time": "start_time_us",
    "duration": "duration_us",
    "cost": "cost",
    "llm_calls": "llm_calls",
}

# Status is a function of the rollup and the clock; `?` is the running cutoff (now - idle).
_STATUS_SQL: dict[RunStatus, str] = {
    "running": "(root_count = 0 AND last_seen_us >= ?)",
    "failed": "(error_count > 0 AND (root_count > 0 OR last_seen_us < ?))",
    "completed": "(error_count = 0 AND (root_count > 0 OR last_seen_us < ?))",
}


class _Where(Where):
    def __init__(self) -> None:
        super().__init__(QMARK)


def joined_ints(text: str | None) -> list[int]:
    """The integers of a `group_concat` (one text value instead of a row per value, which is
    most of the cost over tens of thousands of values). A comma-joined list of integers is a
    JSON array body, and orjson reads it about seven times faster than int() per item."""
    return orjson.loads(f"[{text}]") if text else []


def _run_where(q: RunQuery, cutoff_us: int) -> _Where:
    where = _Where()
    rollup_filters(where, "run_facets", "run_id", q, q.trace_ids)
    if selects_some_statuses(q.statuses):
        where.add(
            "(" + " OR ".join(_STATUS_SQL[s] for s in q.statuses) + ")", *([cutoff_us] * len(q.statuses))
        )
    if q.min_duration_us is not None:
        where.add("duration_us >= ?", q.min_duration_us)
    if q.min_cost is not None:
        where.add("cost >= ?", q.min_cost)
    return where


def _count_runs(conn: sqlite3.Connection, q: RunQuery, where: _Where, cutoff_us: int) -> int:
    """Counting 100k rollup rows costs milliseconds, so the common totals come from counters kept
    at ingest (runs, runs with errors) and the handful of rootless runs seen recently."""
    if only_status_filter(q):
        row = conn.execute(
            "SELECT run_count, error_run_count FROM projects WHERE id = ?", (q.project_id,)
        ).fetchone()
        total, with_errors = (int(row[0]), int(row[1])) if row else (0, 0)
        running, running_with_errors = conn.execute(
            "SELECT COUNT(*), TOTAL(error_count > 0) FROM runs WHERE project_id = ? AND root_count = 0 "
            "AND last_seen_us >= ?",
            (q.project_id, cutoff_us),
        ).fetchone()
        return status_total(q.statuses, total, with_errors, int(running), int(running_with_errors))
    (total,) = conn.execute(f"SELECT COUNT(*) FROM runs WHERE {where.sql()}", where.params).fetchone()
    return int(total)


def list_runs(conn: sqlite3.Connection, q: RunQuery, cutoff_us: int) -> Page[RollupRow]:
    where = _run_where(q, cutoff_us)
    column = _SORT_COLUMNS[q.sort_by]
    direction = "DESC" if q.order == "desc" else "ASC"
    rows = conn.execute(
        f"SELECT run_id, {_ROLLUP_FIELDS} FROM runs WHERE {where.sql()} "
        f"ORDER BY {column} {direction}, run_id {direction} LIMIT ? OFFSET ?",
        [*where.params, q.limit, q.offset],
    ).fetchall()
    total = _count_runs(conn, q, where, cutoff_us)
    return Page(
        rows=shape_rollups(rows, cutoff_us, "run_id"),
        total=total,
        limit=q.limit,
        offset=q.offset,
    )


def get_run(conn: sqlite3.Connection, project_id: str, run_id: str, cutoff_us: int) -> RollupRow | None:
    """The run object, plus `spans_expired_us`: when retention deleted its spans (or None)."""
    rows = conn.execute(
        f"SELECT run_id, {_ROLLUP_FIELDS}, spans_expired_us FROM runs WHERE project_id = ? AND run_id = ?",
        (project_id, run_id),
    ).fetchall()
    return shape_run(rows, cutoff_us)


def list_threads(conn: sqlite3.Connection, q: GroupQuery, cutoff_us: int) -> Page[RollupRow]:
    where = _Where()
    rollup_filters(where, "thread_facets", "thread_id", q, q.trace_ids)
    rows = conn.execute(
        f"SELECT thread_id, title, {_ROLLUP_FIELDS} FROM threads WHERE {where.sql()} "
        "ORDER BY start_time_us DESC, thread_id DESC LIMIT ? OFFSET ?",
        [*where.params, q.limit, q.offset],
    ).fetchall()
    if len(where.clauses) == 1:
        row = conn.execute("SELECT thread_count FROM projects WHERE id = ?", (q.project_id,)).fetchone()
        total = row[0] if row else 0
    else:
        (total,) = conn.execute(f"SELECT COUNT(*) FROM threads WHERE {where.sql()}", where.params).fetchone()
    return Page(rows=shape_threads(rows, cutoff_us), total=int(total), limit=q.limit, offset=q.offset)


def get_thread(conn: sqlite3.Connection, project_id: str, thread_id: str, cutoff_us: int) -> RollupRow | None:
    rows = conn.execute(
        f"SELECT thread_id, title, {_ROLLUP_FIELDS} FROM threads WHERE project_id = ? AND thread_id = ?",
        (project_id, thread_id),
    ).fetchall()
    shaped = shape_threads(rows, cutoff_us)
    return shaped[0] if shaped else None


def list_run_groups(conn: sqlite3.Connection, q: GroupQuery, cutoff_us: int) -> Page[RollupRow]:
    """`/group?group_by=run`: the run list with group filters."""
    return list_runs(conn, group_run_query(q), cutoff_us)
