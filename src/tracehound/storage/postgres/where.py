"""WHERE clauses for PostgreSQL reads: the clauses and their parameters, built together, and the
run filters of /runs (storage/sqlite/runs.py's `_rollup_filters`, in psycopg's placeholders)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracehound.storage.queries import GroupQuery, RunQuery


class Where:
    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def add_any(self, column: str, values: Sequence[object]) -> None:
        self.add(f"{column} = ANY(%s)", list(values))

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"


def _facet(
    where: Where, table: str, key: str, project: str, facets: tuple[str, ...], values: tuple[str, ...]
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
        where.add_any("run_id", q.run_ids)
    if q.thread_ids:
        if table == "thread_facets":
            where.add_any("thread_id", q.thread_ids)
        else:
            _facet(where, table, key, q.project_id, ("thread",), q.thread_ids)
    if trace_ids:
        _facet(where, table, key, q.project_id, ("trace",), trace_ids)
    if q.labels:
        _facet(where, table, key, q.project_id, ("label",), q.labels)
    if q.model_name:
        _facet(where, table, key, q.project_id, ("used_model", "request_model"), (q.model_name,))
    if q.type_filter == "model":
        where.add("llm_calls > 0")
    elif q.type_filter == "mcp":
        where.add("mcp_calls > 0")
    if q.start_min_us is not None:
        where.add("start_time_us >= %s", q.start_min_us)
    if q.start_max_us is not None:
        where.add("start_time_us <= %s", q.start_max_us)
