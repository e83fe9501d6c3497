"""WHERE clauses for PostgreSQL reads: the run selection /runs makes (rollup filters, facets),
the run status as SQL, and the span selection of a summary. The same selections as the SQLite
backend's (storage/sqlite/runs.py, spans.py), with psycopg placeholders; lists go in as one array
parameter (`= ANY(%s)`), so a list has no length bound and an empty one selects nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracehound.ids import hex_key, text_key
from tracehound.model import RunStatus
from tracehound.storage.postgres.connect import Conn
from tracehound.storage.queries import GroupQuery, RunQuery

# Status is a function of the rollup and the clock; `%s` is the running cutoff (now - idle).
STATUS_SQL: dict[RunStatus, str] = {
    "running": "(root_count = 0 AND last_seen_us >= %s)",
    "failed": "(error_count > 0 AND (root_count > 0 OR last_seen_us < %s))",
    "completed": "(error_count = 0 AND (root_count > 0 OR last_seen_us < %s))",
}


class Where:
    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def add_in(self, column: str, values: Sequence[object]) -> None:
        self.add(f"{column} = ANY(%s)", list(values))

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"


def _facet_subquery(
    table: str, key: str, where: Where, project: str, facets: tuple[str, ...], values: tuple[str, ...]
) -> None:
    where.add(
        f"{key} IN (SELECT {key} FROM {table} WHERE project_id = %s AND facet = ANY(%s) AND value = ANY(%s))",
        project,
        list(facets),
        list(values),
    )


def rollup_filters(
    where: Where, table: str, key: str, q: RunQuery | GroupQuery, trace_ids: tuple[str, ...]
) -> None:
    """Filters on a rollup table; `table` is its facet table (run_facets or thread_facets)."""
    where.add("project_id = %s", q.project_id)
    if isinstance(q, RunQuery) and q.run_ids:
        where.add_in("run_id", q.run_ids)
    if q.thread_ids:
        if table == "thread_facets":
            where.add_in("thread_id", q.thread_ids)
        else:
            _facet_subquery(table, key, where, q.project_id, ("thread",), q.thread_ids)
    if trace_ids:
        _facet_subquery(table, key, where, q.project_id, ("trace",), trace_ids)
    if q.labels:
        _facet_subquery(table, key, where, q.project_id, ("label",), q.labels)
    if q.model_name:
        _facet_subquery(table, key, where, q.project_id, ("used_model", "request_model"), (q.model_name,))
    if q.type_filter == "model":
        where.add("llm_calls > 0")
    elif q.type_filter == "mcp":
        where.add("mcp_calls > 0")
    if q.start_min_us is not None:
        where.add("start_time_us >= %s", q.start_min_us)
    if q.start_max_us is not None:
        where.add("start_time_us <= %s", q.start_max_us)


def run_trace_keys(conn: Conn, project_id: str, run_ids: Sequence[str]) -> list[int]:
    """Index keys of the traces a run's spans live in (runs are found through their traces)."""
    if not run_ids:
        return []
    rows = conn.execute(
        "SELECT DISTINCT value FROM run_facets WHERE project_id = %s AND facet = 'trace' "
        "AND run_id = ANY(%s)",
        (project_id, list(run_ids)),
    )
    return sorted({hex_key(v) for (v,) in rows})


def selected_spans(
    conn: Conn, project_id: str, thread_ids: Sequence[str], run_ids: Sequence[str], labels: Sequence[str]
) -> Where:
    """The spans of the project in any of the threads, of any of the runs and with any of the
    labels (each filter given narrows), found through the integer index keys first."""
    where = Where()
    where.add("project_id = %s", project_id)
    if thread_ids:
        where.add_in("thread_key", sorted({text_key(v) for v in thread_ids}))
        where.add_in("thread_id", thread_ids)
    if run_ids:
        where.add_in("trace_key", run_trace_keys(conn, project_id, run_ids))
        where.add_in("run_id", run_ids)
    if labels:
        where.add_in("label", labels)
    return where
