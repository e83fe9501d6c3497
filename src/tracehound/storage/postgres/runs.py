"""Run, thread and group-by-run/thread reads on PostgreSQL, answered from the rollups as on SQLite
(storage/sqlite/runs.py): the same selections, order and totals; the rows are shaped by
storage/shape.py. A list and its total are two statements read in one snapshot."""

from __future__ import annotations

from psycopg.rows import dict_row

from tracehound.storage.postgres.connect import Conn
from tracehound.storage.postgres.where import STATUS_SQL, Where
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
from tracehound.storage.where import rollup_filters

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


def snapshot(conn: Conn) -> None:
    """Inside `conn.transaction()`: the statements that follow read one snapshot."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def _run_where(q: RunQuery, cutoff_us: int) -> Where:
    where = Where()
    rollup_filters(where, "run_facets", "run_id", q, q.trace_ids)
    if selects_some_statuses(q.statuses):
        statuses = " OR ".join(STATUS_SQL[s] for s in q.statuses)
        where.add(f"({statuses})", *([cutoff_us] * len(q.statuses)))
    if q.min_duration_us is not None:
        where.add("duration_us >= %s", q.min_duration_us)
    if q.min_cost is not None:
        where.add("cost >= %s", q.min_cost)
    return where


def _count_runs(conn: Conn, q: RunQuery, where: Where, cutoff_us: int) -> int:
    """As on SQLite: the common totals come from the project's counters and the rootless runs
    seen recently, not from counting rollup rows."""
    if only_status_filter(q):
        row = conn.execute(
            "SELECT run_count, error_run_count FROM projects WHERE id = %s", (q.project_id,)
        ).fetchone()
        total, with_errors = (int(row[0]), int(row[1])) if row else (0, 0)
        running, running_with_errors = conn.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE error_count > 0) FROM runs "
            "WHERE project_id = %s AND root_count = 0 AND last_seen_us >= %s",
            (q.project_id, cutoff_us),
        ).fetchone() or (0, 0)
        return status_total(q.statuses, total, with_errors, int(running), int(running_with_errors))
    row = conn.execute(f"SELECT COUNT(*) FROM runs WHERE {where.sql()}", where.params).fetchone()
    return int(row[0]) if row else 0


def list_runs(conn: Conn, q: RunQuery, cutoff_us: int) -> Page[RollupRow]:
    where = _run_where(q, cutoff_us)
    column = _SORT_COLUMNS[q.sort_by]
    direction = "DESC" if q.order == "desc" else "ASC"
    with conn.transaction():
        snapshot(conn)
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                f"SELECT run_id, {_ROLLUP_FIELDS} FROM runs WHERE {where.sql()} "
                f"ORDER BY {column} {direction}, run_id {direction} LIMIT %s OFFSET %s",
                [*where.params, q.limit, q.offset],
            )
            .fetchall()
        )
        total = _count_runs(conn, q, where, cutoff_us)
    return Page(rows=shape_rollups(rows, cutoff_us, "run_id"), total=total, limit=q.limit, offset=q.offset)


def get_run(conn: Conn, project_id: str, run_id: str, cutoff_us: int) -> RollupRow | None:
    """The run object, plus `spans_expired_us`: when retention deleted its spans (or None)."""
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            f"SELECT run_id, {_ROLLUP_FIELDS}, spans_expired_us FROM runs "
            "WHERE project_id = %s AND run_id = %s",
            (project_id, run_id),
        )
        .fetchall()
    )
    return shape_run(rows, cutoff_us)


def list_threads(conn: Conn, q: GroupQuery, cutoff_us: int) -> Page[RollupRow]:
    where = Where()
    rollup_filters(where, "thread_facets", "thread_id", q, q.trace_ids)
    with conn.transaction():
        snapshot(conn)
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                f"SELECT thread_id, title, {_ROLLUP_FIELDS} FROM threads WHERE {where.sql()} "
                "ORDER BY start_time_us DESC, thread_id DESC LIMIT %s OFFSET %s",
                [*where.params, q.limit, q.offset],
            )
            .fetchall()
        )
        if len(where.clauses) == 1:
            row = conn.execute("SELECT thread_count FROM projects WHERE id = %s", (q.project_id,)).fetchone()
        else:
            row = conn.execute(f"SELECT COUNT(*) FROM threads WHERE {where.sql()}", where.params).fetchone()
    total = int(row[0]) if row else 0
    return Page(rows=shape_threads(rows, cutoff_us), total=total, limit=q.limit, offset=q.offset)


def get_thread(conn: Conn, project_id: str, thread_id: str, cutoff_us: int) -> RollupRow | None:
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            f"SELECT thread_id, title, {_ROLLUP_FIELDS} FROM threads "
            "WHERE project_id = %s AND thread_id = %s",
            (project_id, thread_id),
        )
        .fetchall()
    )
    shaped = shape_threads(rows, cutoff_us)
    return shaped[0] if shaped else None


def list_run_groups(conn: Conn, q: GroupQuery, cutoff_us: int) -> Page[RollupRow]:
    """`/group?group_by=run`: the run list with group filters."""
    return list_runs(conn, group_run_query(q), cutoff_us)
