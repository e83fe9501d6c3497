"""Retention on PostgreSQL: SQLite's rules (storage/sqlite retention) exactly, made safe beside
other writers. A run's spans go together, once the run has ended and nothing has arrived for it
before the cutoff; the rollups, their facets, the usage hours and the durations stay.

Beside concurrent writers, the batch takes the advisory locks of the traces it deletes from (the
writer's own, in the same order), then re-reads the runs under their row locks: a span that was
being written to one of these traces is either committed before (and the run no longer qualifies,
if it moved its last_seen_us) or written after, to a run already marked expired, as on SQLite.
"""

from __future__ import annotations

from typing import Any

import psycopg

from tracehound.ids import hex_key
from tracehound.storage.postgres.writer import trace_lock_key
from tracehound.storage.types import Expired

Conn = psycopg.Connection[tuple[Any, ...]]

_DUE = (
    "project_id = %s AND start_time_us < %s AND finish_time_us < %s AND last_seen_us < %s "
    "AND spans_expired_us IS NULL"
)


def policies(conn: Conn) -> dict[str, int | None]:
    """Each project's own maximum age in days (None: keep forever, whatever the default)."""
    return {p: d for p, d in conn.execute("SELECT project_id, retention_days FROM project_settings")}


def projects(conn: Conn) -> list[str]:
    return [p for (p,) in conn.execute("SELECT id FROM projects ORDER BY id")]


def set_policy(conn: Conn, project_id: str, days: int | None) -> None:
    """`days` None keeps the project's spans forever; `clear_policy` falls back to the default."""
    conn.execute(
        "INSERT INTO project_settings (project_id, retention_days) VALUES (%s, %s) "
        "ON CONFLICT (project_id) DO UPDATE SET retention_days = excluded.retention_days",
        (project_id, days),
    )


def clear_policy(conn: Conn, project_id: str) -> None:
    conn.execute("DELETE FROM project_settings WHERE project_id = %s", (project_id,))


def _run_traces(conn: Conn, project_id: str, run_ids: list[str]) -> set[str]:
    rows = conn.execute(
        "SELECT DISTINCT value FROM run_facets "
        "WHERE project_id = %s AND facet = 'trace' AND run_id = ANY(%s)",
        (project_id, run_ids),
    )
    return {v for (v,) in rows}


def _lock(conn: Conn, project_id: str, trace_ids: set[str]) -> None:
    keys = sorted({trace_lock_key(project_id, t) for t in trace_ids})
    conn.execute("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", (keys,))


def expire(conn: Conn, project_id: str, cutoff_us: int, now_us: int, max_runs: int) -> Expired:
    """Delete the spans of up to `max_runs` runs of the project that ended, and last received a
    span, before `cutoff_us`; one transaction on `conn` (autocommit mode)."""
    due = (project_id, cutoff_us, cutoff_us, cutoff_us)
    with conn.transaction():
        candidates = [
            r
            for (r,) in conn.execute(
                f"SELECT run_id FROM runs WHERE {_DUE} ORDER BY start_time_us LIMIT %s", (*due, max_runs)
            )
        ]
        if not candidates:
            return Expired(0, 0)
        locked = _run_traces(conn, project_id, candidates)
        _lock(conn, project_id, locked)
        run_ids = [
            r
            for (r,) in conn.execute(
                f"SELECT run_id FROM runs WHERE {_DUE} AND run_id = ANY(%s) ORDER BY run_id FOR UPDATE",
                (*due, candidates),
            )
        ]
        if not run_ids:
            return Expired(0, 0)
        traces = _run_traces(conn, project_id, run_ids)
        # A trace that joined these runs before the locks were taken (rare): lock it too. Out of
        # order, so this may deadlock; the caller's transaction then fails and is retried later.
        if traces - locked:
            _lock(conn, project_id, traces - locked)
        selected = "project_id = %s AND trace_key = ANY(%s) AND run_id = ANY(%s)"
        params = (project_id, sorted({hex_key(t) for t in traces}), run_ids)
        labels = conn.execute(
            f"SELECT label, COUNT(*) FROM spans WHERE {selected} AND label IS NOT NULL GROUP BY label",
            params,
        ).fetchall()
        conn.execute(
            f"DELETE FROM span_findings WHERE project_id = %s AND span_key IN "
            f"(SELECT span_key FROM spans WHERE {selected}) AND trace_key = ANY(%s)",
            (project_id, *params, params[1]),
        )
        deleted = conn.execute(f"DELETE FROM spans WHERE {selected}", params).rowcount
        cur = conn.cursor()
        cur.executemany(
            "UPDATE project_labels SET n = n - %s WHERE project_id = %s AND label = %s",
            [(n, project_id, label) for label, n in sorted(labels)],
        )
        conn.execute("DELETE FROM project_labels WHERE project_id = %s AND n <= 0", (project_id,))
        conn.execute("UPDATE projects SET span_count = span_count - %s WHERE id = %s", (deleted, project_id))
        conn.execute(
            "UPDATE runs SET spans_expired_us = %s WHERE project_id = %s AND run_id = ANY(%s)",
            (now_us, project_id, run_ids),
        )
    return Expired(len(run_ids), deleted)
