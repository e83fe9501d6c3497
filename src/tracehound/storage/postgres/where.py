"""WHERE clauses for PostgreSQL reads: the run status as SQL, and the span selection of a
summary; the run selection /runs makes is storage/where.py's, in psycopg's placeholders. Lists go
in as one array parameter (`= ANY(%s)`), so a list has no length bound and an empty one selects
nothing."""

from __future__ import annotations

from collections.abc import Sequence

from tracehound.ids import hex_key, text_key
from tracehound.model import RunStatus
from tracehound.storage.postgres.connect import Conn
from tracehound.storage.where import PYFORMAT
from tracehound.storage.where import Where as NeutralWhere

# Status is a function of the rollup and the clock; `%s` is the running cutoff (now - idle).
STATUS_SQL: dict[RunStatus, str] = {
    "running": "(root_count = 0 AND last_seen_us >= %s)",
    "failed": "(error_count > 0 AND (root_count > 0 OR last_seen_us < %s))",
    "completed": "(error_count = 0 AND (root_count > 0 OR last_seen_us < %s))",
}


class Where(NeutralWhere):
    def __init__(self) -> None:
        super().__init__(PYFORMAT)


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
