"""The ingest transaction: spans, the ancestor rule for cost and tokens, and the rollups, all
committed together or not at all."""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass

import orjson

from tracehound.model import Span
from tracehound.storage.rollups import (
    Delta,
    facet_upsert_sql,
    run_facets,
    thread_facets,
    upsert_sql,
    usage_update_sql,
)

_INSERT_SPAN = """
    INSERT OR IGNORE INTO spans (project_id, trace_id, span_id, parent_span_id, run_id, thread_id,
        operation_name, kind, is_llm_call, start_time_us, finish_time_us, status_code,
        status_message, is_error, error_message, model, request_model, provider, input_tokens,
        output_tokens, cached_tokens, cost, cost_source, has_usage, usage_counted, label,
        tool_name, title, ttft_us, convention, rules, attributes, events, resource, scope_name,
        received_us)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
        ?, ?, ?, ?, ?, ?, ?)
"""

_PARENT = "SELECT parent_span_id, has_usage FROM spans WHERE project_id = ? AND trace_id = ? AND span_id = ?"

# Counted usage below a span: descend through spans without usage only, because a span with
# usage already hides everything beneath it.
_COUNTED_DESCENDANTS = """
    WITH RECURSIVE below(span_id, has_usage, usage_counted) AS (
        SELECT span_id, has_usage, usage_counted FROM spans
        WHERE project_id = ?1 AND trace_id = ?2 AND parent_span_id = ?3
        UNION ALL
        SELECT s.span_id, s.has_usage, s.usage_counted FROM spans s JOIN below b
            ON s.project_id = ?1 AND s.trace_id = ?2 AND s.parent_span_id = b.span_id
        WHERE b.has_usage = 0
    )
    SELECT s.span_id, s.run_id, s.thread_id, s.cost, s.input_tokens, s.output_tokens,
        s.cached_tokens
    FROM below b JOIN spans s ON s.project_id = ?1 AND s.trace_id = ?2 AND s.span_id = b.span_id
    WHERE b.has_usage = 1 AND b.usage_counted = 1
"""

_UNCOUNT = "UPDATE spans SET usage_counted = 0 WHERE project_id = ? AND trace_id = ? AND span_id = ?"

_MAX_ANCESTOR_WALK = 256


@dataclass(slots=True)
class WriteResult:
    inserted: int
    duplicates: int


def _json(value: object) -> str:
    return orjson.dumps(value, default=str).decode()


def _events_json(span: Span) -> str | None:
    if not span.events:
        return None
    return _json([{"name": e.name, "time_us": e.time_us, "attributes": e.attributes} for e in span.events])


class _Batch:
    """Deltas of one transaction."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str], Delta] = {}
        self.threads: dict[tuple[str, str], Delta] = {}
        self.labels: Counter[tuple[str, str]] = Counter()
        self.project_spans: Counter[str] = Counter()

    def run(self, project_id: str, run_id: str) -> Delta:
        key = (project_id, run_id)
        delta = self.runs.get(key)
        if delta is None:
            delta = self.runs[key] = Delta()
        return delta

    def thread(self, project_id: str, thread_id: str) -> Delta:
        key = (project_id, thread_id)
        delta = self.threads.get(key)
        if delta is None:
            delta = self.threads[key] = Delta()
        return delta


def write_spans(conn: sqlite3.Connection, spans: list[Span]) -> WriteResult:
    """Store `spans` and fold them into the rollups, in one transaction.

    A span already stored (an exporter retry) is skipped and counted as a duplicate, so rollups
    never count it twice.
    """
    batch = _Batch()
    inserted = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "INSERT OR IGNORE INTO projects (id, created_at_us) VALUES (?, ?)",
            [(p, spans[0].received_us) for p in {s.project_id for s in spans}],
        )
        for span in spans:
            if _insert(conn, span, batch):
                inserted += 1
        _apply(conn, batch)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return WriteResult(inserted=inserted, duplicates=len(spans) - inserted)


def _has_usage_ancestor(conn: sqlite3.Connection, span: Span) -> bool:
    parent = span.parent_span_id
    for _ in range(_MAX_ANCESTOR_WALK):
        if parent is None:
            return False
        row = conn.execute(_PARENT, (span.project_id, span.trace_id, parent)).fetchone()
        if row is None:
            return False
        if row[1]:
            return True
        parent = row[0]
    return False


def _insert(conn: sqlite3.Connection, span: Span, batch: _Batch) -> bool:
    has_usage = span.has_usage
    covered = _has_usage_ancestor(conn, span)
    counted = has_usage and not covered
    cursor = conn.execute(
        _INSERT_SPAN,
        (
            span.project_id,
            span.trace_id,
            span.span_id,
            span.parent_span_id,
            span.run_id,
            span.thread_id,
            span.operation_name,
            span.kind,
            span.is_llm_call,
            span.start_time_us,
            span.finish_time_us,
            span.status_code,
            span.status_message,
            span.is_error,
            span.error_message,
            span.model,
            span.request_model,
            span.provider,
            span.input_tokens,
            span.output_tokens,
            span.cached_tokens,
            span.cost,
            span.cost_source,
            has_usage,
            counted,
            span.label,
            span.tool_name,
            span.title,
            span.ttft_us,
            span.convention,
            _json(span.rules),
            _json(span.attributes),
            _events_json(span),
            _json(span.resource) if span.resource else None,
            span.scope_name or None,
            span.received_us,
        ),
    )
    if cursor.rowcount != 1:
        return False
    project = span.project_id
    run = batch.run(project, span.run_id)
    run.add_span(span)
    run.facets.update(run_facets(span))
    thread = None
    if span.thread_id is not None:
        thread = batch.thread(project, span.thread_id)
        thread.add_span(span)
        thread.facets.update(thread_facets(span))
    if span.label:
        batch.labels[(project, span.label)] += 1
    batch.project_spans[project] += 1
    if counted:
        usage = (span.cost, span.input_tokens, span.output_tokens, span.cached_tokens)
        run.add_usage(*usage)
        if thread is not None:
            thread.add_usage(*usage)
    if has_usage or covered:
        _uncount_descendants(conn, span, batch)
    return True


def _uncount_descendants(conn: sqlite3.Connection, span: Span, batch: _Batch) -> None:
    """`span` now covers the usage below it: take that usage back out of the rollups."""
    rows = conn.execute(_COUNTED_DESCENDANTS, (span.project_id, span.trace_id, span.span_id)).fetchall()
    for span_id, run_id, thread_id, cost, input_tokens, output_tokens, cached_tokens in rows:
        conn.execute(_UNCOUNT, (span.project_id, span.trace_id, span_id))
        usage = (cost, input_tokens, output_tokens, cached_tokens)
        batch.run(span.project_id, run_id).add_usage(*usage, sign=-1)
        if thread_id is not None:
            batch.thread(span.project_id, thread_id).add_usage(*usage, sign=-1)


def _apply(conn: sqlite3.Connection, batch: _Batch) -> None:
    for table, key, deltas in (("runs", "run_id", batch.runs), ("threads", "thread_id", batch.threads)):
        conn.executemany(upsert_sql(table, key), [d.row(*k) for k, d in deltas.items() if d.span_count])
        conn.executemany(
            usage_update_sql(table, key),
            [
                (d.cost, d.input_tokens or 0, d.output_tokens or 0, d.cached_tokens or 0, *k)
                for k, d in deltas.items()
                if not d.span_count
            ],
        )
    titled = [(d.title, p, t) for (p, t), d in batch.threads.items() if d.title]
    if titled:
        conn.executemany(
            "UPDATE threads SET title = ? WHERE project_id = ? AND thread_id = ? AND title IS NULL", titled
        )
    conn.executemany(
        facet_upsert_sql("run_facets", "run_id"),
        [(p, r, f, v, n) for (p, r), d in batch.runs.items() for (f, v), n in d.facets.items()],
    )
    conn.executemany(
        facet_upsert_sql("thread_facets", "thread_id"),
        [(p, t, f, v, n) for (p, t), d in batch.threads.items() for (f, v), n in d.facets.items()],
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
