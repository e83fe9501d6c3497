"""Retention: deleting the raw spans of old runs while keeping what stats and charts read.

A run's spans go together, once the run has ended and nothing has arrived for it before the
cutoff, so that no run is ever half there. Kept: the run and thread rollups and their facets
(runs, statuses, durations, costs, tokens, errors, labels, models), the per-hour usage by model
and the LLM-call duration store. Deleted: the span rows, with their attributes and their
semantic findings. The project's span counters and label counts drop with them, so that
`/spans` totals stay true.
"""

from __future__ import annotations

import sqlite3

from tracehound.storage.sqlite.spans import run_trace_keys
from tracehound.storage.types import Expired


def policies(conn: sqlite3.Connection) -> dict[str, int | None]:
    """Each project's own maximum age in days (None: keep forever, whatever the default)."""
    return dict(conn.execute("SELECT project_id, retention_days FROM project_settings"))


def projects(conn: sqlite3.Connection) -> list[str]:
    return [p for (p,) in conn.execute("SELECT id FROM projects ORDER BY id")]


def set_policy(conn: sqlite3.Connection, project_id: str, days: int | None) -> None:
    """`days` None keeps the project's spans forever; use `clear_policy` to fall back to the
    server's default instead."""
    conn.execute(
        "INSERT INTO project_settings (project_id, retention_days) VALUES (?, ?) "
        "ON CONFLICT (project_id) DO UPDATE SET retention_days = excluded.retention_days",
        (project_id, days),
    )


def clear_policy(conn: sqlite3.Connection, project_id: str) -> None:
    conn.execute("DELETE FROM project_settings WHERE project_id = ?", (project_id,))


def expire(conn: sqlite3.Connection, project_id: str, cutoff_us: int, now_us: int, max_runs: int) -> Expired:
    """Delete the spans of up to `max_runs` runs of the project that ended, and last received a
    span, before `cutoff_us`; one transaction. The caller holds the write lock."""
    run_ids = [
        r
        for (r,) in conn.execute(
            "SELECT run_id FROM runs WHERE project_id = ? AND start_time_us < ? AND finish_time_us < ? "
            "AND last_seen_us < ? AND spans_expired_us IS NULL ORDER BY start_time_us LIMIT ?",
            (project_id, cutoff_us, cutoff_us, cutoff_us, max_runs),
        )
    ]
    if not run_ids:
        return Expired(0, 0)
    traces = run_trace_keys(conn, project_id, run_ids)
    runs = ",".join("?" * len(run_ids))
    selected = f"project_id = ? AND trace_key IN ({','.join('?' * len(traces))}) AND run_id IN ({runs})"
    params = [project_id, *traces, *run_ids]
    conn.execute("BEGIN IMMEDIATE")
    try:
        labels = conn.execute(
            f"SELECT label, COUNT(*) FROM spans WHERE {selected} AND label IS NOT NULL GROUP BY label", params
        ).fetchall()
        conn.execute(
            f"DELETE FROM span_findings WHERE project_id = ? AND span_key IN "
            f"(SELECT span_key FROM spans WHERE {selected}) AND trace_key IN ({','.join('?' * len(traces))})",
            [project_id, *params, *traces],
        )
        deleted = conn.execute(f"DELETE FROM spans WHERE {selected}", params).rowcount
        conn.executemany(
            "UPDATE project_labels SET n = n - ? WHERE project_id = ? AND label = ?",
            [(n, project_id, label) for label, n in labels],
        )
        conn.execute("DELETE FROM project_labels WHERE project_id = ? AND n <= 0", (project_id,))
        conn.execute("UPDATE projects SET span_count = span_count - ? WHERE id = ?", (deleted, project_id))
        conn.execute(
            f"UPDATE runs SET spans_expired_us = ? WHERE project_id = ? AND run_id IN ({runs})",
            (now_us, project_id, *run_ids),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Expired(len(run_ids), deleted)
