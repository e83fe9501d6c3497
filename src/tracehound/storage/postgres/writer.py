"""The PostgreSQL ingest transaction: exact with any number of writer processes on one database.

Per transaction:
1. `pg_advisory_xact_lock` on a 64-bit hash of (project, trace id) for every trace of the batch, in
   ascending order (so two batches sharing traces cannot deadlock on them). A trace's spans are
   written only under its lock, and the lock is released at COMMIT, after the rows are visible:
   whoever takes the lock next reads everything the previous holder wrote.
2. Read each trace's stored skeleton (a new statement, so a new READ COMMITTED snapshot taken
   after the lock), then plan in Python (storage/plan.py, the same code as SQLite's writer): new
   versus duplicate spans, the ancestor rule's un-counts, every rollup delta.
3. Apply. Spans (COPY), findings and durations only ever gain rows of locked traces. Rollups shared
   between traces (runs, threads, facets, labels, usage hours, project counters, hour stamps) are
   additive upserts, which compose whatever the order of commits. The run and thread `sets` (a
   merged JSON object) and the one-time facts (a run's first error, a thread's title, a new run's
   count) are read and rewritten under the row's lock: new rows are inserted first (ON CONFLICT DO
   NOTHING tells which were new), then the existing ones are locked with SELECT ... FOR UPDATE in
   key order, merged in Python and updated; a concurrent writer of the same run waits for COMMIT,
   then reads the merged value.
4. COMMIT; only then does `write_spans` return. A deadlock or serialization failure retries the
   whole transaction, re-planning from a fresh read.

Rows are locked table by table in key order, and the hot rows every batch shares (the project's
counters, the current hour's stamp) last, so they are held only for the COMMIT itself.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import errors

from tracehound.ids import hex_key, text_key
from tracehound.model import Finding, Span
from tracehound.storage.hourly import hour_of
from tracehound.storage.plan import (
    DURATION_COLUMNS,
    FINDING_COLUMNS,
    SKELETON_COLUMNS,
    SPAN_COLUMNS,
    Batch,
    Stored,
    group_traces,
    plan_trace,
)
from tracehound.storage.postgres.text import clean
from tracehound.storage.rollups import RUN_FILTER_FACETS, THREAD_FILTER_FACETS, Delta, merge_sets
from tracehound.storage.types import WriteResult

Conn = psycopg.Connection[tuple[Any, ...]]

MAX_ATTEMPTS = 8
_RETRY = (errors.DeadlockDetected, errors.SerializationFailure, errors.UniqueViolation)

_TEXT_FIELDS = (
    "project_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "run_id",
    "thread_id",
    "operation_name",
    "kind",
    "status_message",
    "error_message",
    "model",
    "request_model",
    "provider",
    "cost_source",
    "label",
    "tool_name",
    "title",
    "convention",
    "scope_name",
    "attributes_json",
    "events_json",
    "resource_json",
)


def trace_lock_key(project_id: str, trace_id: str) -> int:
    """The advisory lock key of a trace (also what retention takes before deleting its spans)."""
    return text_key(f"{project_id}\x00{trace_id}")


def write_spans(conn: Conn, spans: list[Span]) -> WriteResult:
    """Store `spans` and fold them into the rollups in one transaction; returns after COMMIT.
    A span already stored (by this or any other process) is skipped and counted as a duplicate."""
    spans = [_without_nul(s) for s in spans]
    for attempt in range(MAX_ATTEMPTS):
        try:
            with conn.transaction():
                inserted = _write(conn, spans)
            return WriteResult(inserted=inserted, duplicates=len(spans) - inserted)
        except _RETRY:
            if attempt == MAX_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.001, 0.01 * (attempt + 1)))
    raise AssertionError("unreachable")


def _write(conn: Conn, spans: list[Span]) -> int:
    traces = group_traces(spans)
    cur = conn.cursor()
    projects = sorted({p for p, _ in traces})
    cur.executemany(
        "INSERT INTO projects (id, created_at_us) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
        [(p, spans[0].received_us) for p in projects],
    )
    keys = sorted({trace_lock_key(p, t) for p, t in traces})
    cur.execute("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", (keys,))
    batch = Batch()
    skeletons = _skeletons(cur, traces)
    for (project, trace_id), group in traces.items():
        plan_trace(project, trace_id, group, skeletons.get((project, trace_id), []), batch)
    if not batch.rows:
        return 0
    cur.executemany(
        "UPDATE spans SET usage_counted = 0 "
        "WHERE project_id = %s AND trace_key = %s AND trace_id = %s AND span_id = %s",
        sorted(batch.uncount),
    )
    _copy(cur, "spans", SPAN_COLUMNS, batch.rows)
    _copy(cur, "span_findings", FINDING_COLUMNS, batch.findings)
    cur.executemany(
        "INSERT INTO resources (id, attributes) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
        sorted(batch.resources.items()),
    )
    new_runs, first_errors = _rollup(
        cur, batch, "runs", "run_id", batch.runs, "run_facets", RUN_FILTER_FACETS
    )
    new_threads, _ = _rollup(
        cur, batch, "threads", "thread_id", batch.threads, "thread_facets", THREAD_FILTER_FACETS
    )
    cur.executemany(
        "UPDATE threads SET title = %s WHERE project_id = %s AND thread_id = %s AND title IS NULL",
        [(d.title, p, t) for (p, t), d in sorted(batch.threads.items()) if d.title],
    )
    cur.executemany(
        """INSERT INTO project_labels (project_id, label, n) VALUES (%s, %s, %s)
           ON CONFLICT (project_id, label) DO UPDATE SET n = project_labels.n + excluded.n""",
        [(p, label, n) for (p, label), n in sorted(batch.labels.items())],
    )
    cur.executemany(_USAGE_UPSERT, [u.row(k) for k, u in sorted(batch.usage_hours.items())])
    _copy(cur, "llm_durations", DURATION_COLUMNS, batch.llm_durations)
    cur.executemany(
        """UPDATE projects SET span_count = span_count + %s, run_count = run_count + %s,
            error_run_count = error_run_count + %s, thread_count = thread_count + %s WHERE id = %s""",
        [
            (batch.project_spans[p], new_runs.get(p, 0), first_errors.get(p, 0), new_threads.get(p, 0), p)
            for p in projects
        ],
    )
    cur.executemany(
        """INSERT INTO hour_versions (project_id, hour_us, version) VALUES (%s, %s, 1)
           ON CONFLICT (project_id, hour_us) DO UPDATE SET version = hour_versions.version + 1""",
        sorted(batch.hours),
    )
    return len(batch.rows)


def _skeletons(
    cur: psycopg.Cursor[tuple[Any, ...]], traces: dict[tuple[str, str], dict[str, Span]]
) -> dict[tuple[str, str], list[Stored]]:
    """What each trace of the batch already holds, read after its lock was taken."""
    by_project: dict[str, set[int]] = {}
    for project, trace_id in traces:
        by_project.setdefault(project, set()).add(hex_key(trace_id))
    out: dict[tuple[str, str], list[Stored]] = {}
    for project, trace_keys in by_project.items():
        cur.execute(
            f"SELECT trace_id, {SKELETON_COLUMNS} FROM spans WHERE project_id = %s AND trace_key = ANY(%s)",
            (project, sorted(trace_keys)),
        )
        for trace_id, *rest in cur.fetchall():
            if (project, trace_id) in traces:
                out.setdefault((project, trace_id), []).append(Stored(*rest))
    return out


def _copy(
    cur: psycopg.Cursor[tuple[Any, ...]], table: str, columns: tuple[str, ...], rows: list[Any]
) -> None:
    if not rows:
        return
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            # Flags are SMALLINT 0/1; COPY's text form of a Python bool is 't'/'f'.
            copy.write_row([int(v) if v.__class__ is bool else v for v in row])


def _insert_sql(table: str, key: str) -> str:
    return f"""
        INSERT INTO {table} (project_id, {key}, start_time_us, finish_time_us, duration_us,
            root_start_us, root_finish_us, span_count, root_count, error_count, llm_calls,
            tool_calls, mcp_calls, cost, input_tokens, output_tokens, cached_tokens, last_seen_us, sets)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (project_id, {key}) DO NOTHING
        RETURNING project_id, {key}
    """


def _nullable_sum(col: str) -> str:
    return (
        f"{col} = CASE WHEN %({col})s::bigint IS NULL THEN {col} "
        f"ELSE COALESCE({col}, 0) + %({col})s::bigint END"
    )


def _update_sql(table: str, key: str) -> str:
    """Fold a Delta into an existing, locked rollup row: SQLite's upsert, as an UPDATE (SET
    expressions read the row's old values)."""
    return f"""
        UPDATE {table} SET
            start_time_us = LEAST(start_time_us, %(start)s),
            finish_time_us = GREATEST(finish_time_us, %(finish)s),
            duration_us = GREATEST(finish_time_us, %(finish)s) - LEAST(start_time_us, %(start)s),
            root_start_us = LEAST(root_start_us, %(root_start)s::bigint),
            root_finish_us = GREATEST(root_finish_us, %(root_finish)s::bigint),
            span_count = span_count + %(span_count)s,
            root_count = root_count + %(root_count)s,
            error_count = error_count + %(error_count)s,
            llm_calls = llm_calls + %(llm_calls)s,
            tool_calls = tool_calls + %(tool_calls)s,
            mcp_calls = mcp_calls + %(mcp_calls)s,
            cost = cost + %(cost)s,
            {_nullable_sum("input_tokens")},
            {_nullable_sum("output_tokens")},
            {_nullable_sum("cached_tokens")},
            last_seen_us = GREATEST(last_seen_us, %(last_seen)s),
            sets = %(sets)s
        WHERE project_id = %(project)s AND {key} = %(key)s
    """


def _usage_sql(table: str, key: str) -> str:
    """A rollup that gained no span, only usage moved (a late parent covers it); as SQLite's."""
    return f"""
        UPDATE {table} SET cost = cost + %s,
            input_tokens = input_tokens + %s, output_tokens = output_tokens + %s,
            cached_tokens = cached_tokens + %s
        WHERE project_id = %s AND {key} = %s
    """


def _update_params(project: str, key: str, d: Delta, sets: str) -> dict[str, object]:
    return {
        "project": project,
        "key": key,
        "start": d.start_time_us,
        "finish": d.finish_time_us,
        "root_start": d.root_start_us,
        "root_finish": d.root_finish_us,
        "span_count": d.span_count,
        "root_count": d.root_count,
        "error_count": d.error_count,
        "llm_calls": d.llm_calls,
        "tool_calls": d.tool_calls,
        "mcp_calls": d.mcp_calls,
        "cost": d.cost,
        "input_tokens": d.input_tokens,
        "output_tokens": d.output_tokens,
        "cached_tokens": d.cached_tokens,
        "last_seen": d.last_seen_us,
        "sets": sets,
    }


def _rollup(
    cur: psycopg.Cursor[tuple[Any, ...]],
    batch: Batch,
    table: str,
    key: str,
    deltas: dict[tuple[str, str], Delta],
    facet_table: str,
    filtered: frozenset[str],
) -> tuple[dict[str, int], dict[str, int]]:
    """Apply a table's deltas; returns, per project, the rows created and the rows whose first
    error this transaction brought (what SQLite's triggers count)."""
    grown = sorted(k for k, d in deltas.items() if d.span_count)
    new_rows: dict[str, int] = {}
    first_errors: dict[str, int] = {}
    inserted: set[tuple[str, str]] = set()
    if grown:
        cur.executemany(
            _insert_sql(table, key),
            [deltas[k].row(*k, merge_sets(None, deltas[k].facets)) for k in grown],
            returning=True,
        )
        inserted = set(_returned(cur))
    for project, _ in inserted:
        new_rows[project] = new_rows.get(project, 0) + 1
    for k in inserted:
        if deltas[k].error_count:
            first_errors[k[0]] = first_errors.get(k[0], 0) + 1
    existing = sorted(k for k in deltas if k not in inserted)
    stored = _lock_rows(cur, table, key, existing)
    if table == "runs":
        # A run's figures count in its start hour, which an earlier span arriving late moves.
        batch.hours.update((p, hour_of(start)) for (p, _), (_, start, _) in stored.items())
    updates = []
    for k in existing:
        d = deltas[k]
        if not d.span_count or k not in stored:
            continue
        sets, _, errors_before = stored[k]
        updates.append(_update_params(*k, d, merge_sets(sets, d.facets)))
        if d.error_count and not errors_before:
            first_errors[k[0]] = first_errors.get(k[0], 0) + 1
    cur.executemany(_update_sql(table, key), updates)
    cur.executemany(
        _usage_sql(table, key),
        [
            (d.cost, d.input_tokens or 0, d.output_tokens or 0, d.cached_tokens or 0, *k)
            for k in existing
            if not (d := deltas[k]).span_count
        ],
    )
    cur.executemany(
        f"""INSERT INTO {facet_table} (project_id, {key}, facet, value, n) VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (project_id, {key}, facet, value) DO UPDATE SET n = {facet_table}.n + excluded.n""",
        sorted((*k, f, v, n) for k, d in deltas.items() for (f, v), n in d.facets.items() if f in filtered),
    )
    return new_rows, first_errors


def _returned(cur: psycopg.Cursor[tuple[Any, ...]]) -> Iterable[tuple[str, str]]:
    while True:
        row = cur.fetchone()
        if row is not None:
            yield (row[0], row[1])
        if not cur.nextset():
            break


def _lock_rows(
    cur: psycopg.Cursor[tuple[Any, ...]], table: str, key: str, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, int, int]]:
    """Lock the rollup rows `keys` (those that exist) in key order; their sets, start and error
    count as committed by whoever held them last."""
    out: dict[tuple[str, str], tuple[str, int, int]] = {}
    for project in sorted({p for p, _ in keys}):
        ids = [k for p, k in keys if p == project]
        cur.execute(
            f"SELECT {key}, sets, start_time_us, error_count FROM {table} "
            f"WHERE project_id = %s AND {key} = ANY(%s) ORDER BY {key} FOR UPDATE",
            (project, ids),
        )
        out.update(((project, k), (sets, start, errs)) for k, sets, start, errs in cur.fetchall())
    return out


_USAGE_UPSERT = """
    INSERT INTO usage_hours (project_id, hour_us, model, provider, spans, cost, input_tokens,
        output_tokens, cached_tokens, unpriced)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (project_id, hour_us, model, provider) DO UPDATE SET
        spans = usage_hours.spans + excluded.spans,
        cost = usage_hours.cost + excluded.cost,
        input_tokens = usage_hours.input_tokens + excluded.input_tokens,
        output_tokens = usage_hours.output_tokens + excluded.output_tokens,
        cached_tokens = usage_hours.cached_tokens + excluded.cached_tokens,
        unpriced = usage_hours.unpriced + excluded.unpriced
"""


def _without_nul(span: Span) -> Span:
    """PostgreSQL text cannot hold NUL, which span text may carry: it is stored as U+FFFD (so the
    facets and sets made from the span agree with its row)."""
    changes: dict[str, object] = {}
    for name in _TEXT_FIELDS:
        value = getattr(span, name)
        if value and "\x00" in value:
            changes[name] = clean(value)
    if any("\x00" in (f.snippet + f.pattern + f.source + (f.tool_name or "")) for f in span.findings):
        changes["findings"] = [
            Finding(
                clean(f.source),
                f.position,
                None if f.tool_name is None else clean(f.tool_name),
                clean(f.pattern),
                f.severity,
                clean(f.snippet),
            )
            for f in span.findings
        ]
    return dataclasses.replace(span, **changes) if changes else span  # type: ignore[arg-type]
