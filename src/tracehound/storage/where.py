"""WHERE clauses built once for both backends: a conjunction of clauses with their parameters,
in the placeholder style of the backend's driver, and the run selection /runs, /stats, the time
series and the span lists make on a rollup table. Only column and table names from the callers'
fixed lists are formatted into the text; every value is a parameter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracehound.storage.queries import GroupQuery, RunQuery


@dataclass(frozen=True, slots=True)
class Placeholders:
    """`mark` stands for one parameter; `true` is the empty conjunction. With `arrays`, a list
    is one array parameter (`= ANY(%s)`: no length bound, and an empty list selects nothing);
    without, a mark per value (`IN (?,?)`)."""

    mark: str
    true: str
    arrays: bool


QMARK = Placeholders("?", "1", arrays=False)  # sqlite3
PYFORMAT = Placeholders("%s", "TRUE", arrays=True)  # psycopg


class Where:
    def __init__(self, style: Placeholders) -> None:
        self.style = style
        self.mark = style.mark
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def in_list(self, column: str, values: Sequence[object]) -> tuple[str, list[Any]]:
        """`column` is one of `values`: the clause and its parameters."""
        if self.style.arrays:
            return f"{column} = ANY({self.mark})", [list(values)]
        return f"{column} IN ({','.join([self.mark] * len(values))})", list(values)

    def add_in(self, column: str, values: Sequence[object]) -> None:
        clause, params = self.in_list(column, values)
        self.add(clause, *params)

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else self.style.true


def _facet_subquery(
    table: str, key: str, where: Where, project: str, facets: tuple[str, ...], values: tuple[str, ...]
) -> None:
    facet_in, facet_params = where.in_list("facet", facets)
    value_in, value_params = where.in_list("value", values)
    where.add(
        f"{key} IN (SELECT {key} FROM {table} WHERE project_id = {where.mark} AND {facet_in} AND {value_in})",
        project,
        *facet_params,
        *value_params,
    )


def rollup_filters(
    where: Where, table: str, key: str, q: RunQuery | GroupQuery, trace_ids: tuple[str, ...]
) -> None:
    """Filters on a rollup table; `table` is its facet table (run_facets or thread_facets)."""
    m = where.mark
    where.add(f"project_id = {m}", q.project_id)
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
        where.add(f"start_time_us >= {m}", q.start_min_us)
    if q.start_max_us is not None:
        where.add(f"start_time_us <= {m}", q.start_max_us)
