"""The ingest transaction on SQLite: spans, the ancestor rule for cost and tokens, and the
rollups, all committed together or not at all.

The plan (new versus duplicate spans, un-counts, rollup deltas) is storage/plan.py's, shared with
PostgreSQL; what is SQLite's own is the SQL that reads the skeletons and applies the `Batch`, and
the in-process hour stamps (`HourVersions`) taken around COMMIT.
"""

from __future__ import annotations

import sqlite3

from tracehound.ids import hex_key
from tracehound.model import Span
from tracehound.storage.hour_cache import HourVersions
from tracehound.storage.hourly import DURATION_INSERT, USAGE_UPSERT, hour_of
from tracehound.storage.plan import (
    FINDING_COLUMNS,
    SKELETON_COLUMNS,
    SPAN_COLUMNS,
    Batch,
    Stored,
    group_traces,
    plan_trace,
)
from tracehound.storage.rollups import (
    RUN_FILTER_FACETS,
    THREAD_FILTER_FACETS,
    facet_upsert_sql,
    merge_sets,
    upsert_sql,
    usage_update_sql,
)
from tracehound.storage.types import WriteResult


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


_INSERT_SPAN = _insert_sql("spans", SPAN_COLUMNS)
_INSERT_FINDING = _insert_sql("span_findings", FINDING_COLUMNS)

_SKELETON = f"SELECT {SKELETON_COLUMNS} FROM spans WHERE trace_key = ? AND project_id = ? AND trace_id = ?"

# In `Batch.uncount`'s order: (project, trace_key, trace_id, span_id).
_UNCOUNT = """
    UPDATE spans SET usage_counted = 0
    WHERE project_id = ? AND trace_key = ? AND trace_id = ? AND span_id = ?
"""


def write_spans(
    conn: sqlite3.Connection, spans: list[Span], versions: HourVersions | None = None
) -> WriteResult:
    """Store `spans` and fold them into the rollups, in one transaction, stamping in `versions`
    the hours it touched, before and after COMMIT.

    A span already stored (an exporter retry) is skipped and counted as a duplicate, so rollups
    never count it twice. De-duplication reads each trace's stored spans, which is safe because
    this connection is the file's only writer (see SqliteStore's lock).
    """
    batch = Batch()
    traces = group_traces(spans)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "INSERT OR IGNORE INTO projects (id, created_at_us) VALUES (?, ?)",
            [(p, spans[0].received_us) for p in {project for project, _ in traces}],
        )
        for (project, trace_id), group in traces.items():
            key = hex_key(trace_id)
            stored = [Stored(*r) for r in conn.execute(_SKELETON, (key, project, trace_id))]
            plan_trace(project, trace_id, group, stored, batch)
        conn.executemany(_UNCOUNT, batch.uncount)
        conn.executemany(_INSERT_SPAN, batch.rows)
        conn.executemany(_INSERT_FINDING, batch.findings)
        conn.executemany(
            "INSERT OR IGNORE INTO resources (id, attributes) VALUES (?, ?)", list(batch.resources.items())
        )
        _apply(conn, batch)
        if versions is None:
            conn.execute("COMMIT")
        else:
            versions.begin(batch.hours)
            try:
                conn.execute("COMMIT")
            finally:
                versions.end(batch.hours)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return WriteResult(inserted=len(batch.rows), duplicates=len(spans) - len(batch.rows))


def _stored(
    conn: sqlite3.Connection, table: str, key: str, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, int]]:
    """The stored `sets` and start of the rollups `keys` name (those that exist)."""
    out: dict[tuple[str, str], tuple[str, int]] = {}
    for project in {p for p, _ in keys}:
        ids = [k for p, k in keys if p == project]
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT {key}, sets, start_time_us FROM {table} WHERE project_id = ? AND {key} IN ({marks})",
                (project, *chunk),
            )
            out.update(((project, k), (sets, start)) for k, sets, start in rows)
    return out


def _apply(conn: sqlite3.Connection, batch: Batch) -> None:
    rollups = (
        ("runs", "run_id", batch.runs, "run_facets", RUN_FILTER_FACETS),
        ("threads", "thread_id", batch.threads, "thread_facets", THREAD_FILTER_FACETS),
    )
    for table, key, deltas, facet_table, filtered in rollups:
        grown = [k for k, d in deltas.items() if d.span_count]
        stored = _stored(conn, table, key, grown)
        if table == "runs":
            # A run's figures count in its start hour, which an earlier span arriving late moves.
            moved = _stored(conn, table, key, [k for k, d in deltas.items() if not d.span_count])
            batch.hours.update((p, hour_of(start)) for (p, _), (_, start) in (stored | moved).items())
        conn.executemany(
            upsert_sql(table, key),
            [
                deltas[k].row(*k, merge_sets(stored[k][0] if k in stored else None, deltas[k].facets))
                for k in grown
            ],
        )
        conn.executemany(
            usage_update_sql(table, key),
            [
                (d.cost, d.input_tokens or 0, d.output_tokens or 0, d.cached_tokens or 0, *k)
                for k, d in deltas.items()
                if not d.span_count
            ],
        )
        conn.executemany(
            facet_upsert_sql(facet_table, key),
            [(*k, f, v, n) for k, d in deltas.items() for (f, v), n in d.facets.items() if f in filtered],
        )
    titled = [(d.title, p, t) for (p, t), d in batch.threads.items() if d.title]
    if titled:
        conn.executemany(
            "UPDATE threads SET title = ? WHERE project_id = ? AND thread_id = ? AND title IS NULL", titled
        )
    conn.executemany(
        """INSERT INTO project_labels (project_id, label, n) VALUES (?, ?, ?)
           ON CONFLICT (project_id, label) DO UPDATE SET n = n + excluded.n""",
        [(p, label, n) for (p, label), n in batch.labels.items()],
    )
    conn.executemany(
        "UPDATE projects SET span_count = span_count + ? WHERE id = ?",
        [(n, p) for p, n in batch.project_spans.items()],
    )
    conn.executemany(USAGE_UPSERT, [u.row(k) for k, u in batch.usage_hours.items()])
    conn.executemany(DURATION_INSERT, batch.llm_durations)
