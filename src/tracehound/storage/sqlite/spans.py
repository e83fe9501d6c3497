"""Span reads: lists, a run's spans, a group's spans, time-bucket groups, labels, projects."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

import orjson

from tracehound.ids import hex_key, span_id_candidates, text_key, trace_id_candidates
from tracehound.storage import shape
from tracehound.storage.queries import GroupKey, GroupQuery, ListFilter, SpanQuery
from tracehound.storage.rows import LabelCount, Page, ProjectRow, SpanRow, TimeBucketRow
from tracehound.storage.shape import like_literal, project_row, time_group_object
from tracehound.storage.sqlite.runs import _Where
from tracehound.storage.where import rollup_filters

_SPAN_FIELDS = (
    "trace_id, span_id, parent_span_id, run_id, thread_id, operation_name, kind, start_time_us, "
    "finish_time_us, is_error, error_message, model, provider, input_tokens, output_tokens, "
    "cached_tokens, cost, cost_source, label, attributes"
)


def _model_call_children(
    conn: sqlite3.Connection, project_id: str, rows: list[sqlite3.Row]
) -> list[tuple[str, str, str]]:
    """The `model_call` spans of the rows' traces, latest start first (see shape.shape_spans)."""
    out: list[tuple[str, str, str]] = []
    for trace_id in {row["trace_id"] for row in rows}:
        children = conn.execute(
            "SELECT parent_span_id, attributes FROM spans WHERE trace_key = ? AND project_id = ? "
            "AND trace_id = ? AND operation_name = 'model_call' ORDER BY start_time_us DESC",
            (hex_key(trace_id), project_id, trace_id),
        )
        out.extend((trace_id, parent, attributes) for parent, attributes in children)
    return out


def shape_spans(conn: sqlite3.Connection, project_id: str, rows: list[sqlite3.Row]) -> list[SpanRow]:
    return shape.shape_spans(rows, _model_call_children(conn, project_id, rows))


def _list_filter(
    where: _Where, column: str, f: ListFilter, key_column: str | None = None, expand: Any = None
) -> None:
    """A CSV filter; with `key_column`, the matching integer index keys narrow it first."""
    if f.is_null:
        where.add(f"{column} IS NULL")
    elif f.not_null:
        where.add(f"{column} IS NOT NULL")
    elif f.values:
        values = [c for v in f.values for c in expand(v)] if expand else list(f.values)
        if key_column is not None:
            keyer = text_key if key_column == "thread_key" else hex_key
            where.add_in(key_column, sorted({keyer(v) for v in values}))
        where.add_in(column, values)


def run_trace_keys(
    conn: sqlite3.Connection, project_id: str, run_ids: tuple[str, ...] | list[str]
) -> list[int]:
    """Index keys of the traces a run's spans live in (runs are found through their traces)."""
    if not run_ids:
        return []
    # `+facet` keeps the planner on the primary key (project, run, ...): with several run ids
    # it would otherwise scan every trace facet of the project off run_facets_value.
    rows = conn.execute(
        f"SELECT DISTINCT value FROM run_facets WHERE project_id = ? AND +facet = 'trace' "
        f"AND run_id IN ({','.join('?' * len(run_ids))})",
        (project_id, *run_ids),
    )
    return sorted({hex_key(v) for (v,) in rows})


def _span_where(conn: sqlite3.Connection, q: SpanQuery) -> _Where:
    where = _Where()
    where.add("project_id = ?", q.project_id)
    _list_filter(where, "span_id", q.span_ids, "span_key", span_id_candidates)
    _list_filter(where, "trace_id", q.trace_ids, "trace_key", trace_id_candidates)
    _list_filter(where, "thread_id", q.thread_ids, "thread_key")
    if q.run_ids.values:
        where.add_in("trace_key", run_trace_keys(conn, q.project_id, q.run_ids.values))
    _list_filter(where, "run_id", q.run_ids)
    _list_filter(where, "operation_name", q.operation_names)
    _list_filter(where, "parent_span_id", q.parent_span_ids, None, span_id_candidates)
    if q.labels:
        where.add_in("label", q.labels)
    if q.start_min_us is not None:
        where.add("start_time_us >= ?", q.start_min_us)
    if q.start_max_us is not None:
        where.add("start_time_us <= ?", q.start_max_us)
    if q.status is not None:
        where.add("is_error = ?", int(q.status == "error"))
    if q.models:
        where.add_in("model", q.models)
    if q.text and "\x00" in q.text:
        # SQLite's LIKE ends the pattern at a NUL, which then matched every span; attributes are
        # stored as JSON, where a NUL is written \u0000, so no span contains one.
        where.add("0")
    elif q.text:
        where.add("attributes LIKE ? ESCAPE '\\'", f"%{like_literal(q.text)}%")
    return where


_SPAN_SORT = {
    "start_time": "start_time_us",
    "finish_time": "finish_time_us",
    "duration": "finish_time_us - start_time_us",
    "cost": "COALESCE(cost, 0)",
}


def list_spans(conn: sqlite3.Connection, q: SpanQuery) -> Page[SpanRow]:
    where = _span_where(conn, q)
    direction = "DESC" if q.order == "desc" else "ASC"
    rows = conn.execute(
        f"SELECT {_SPAN_FIELDS} FROM spans WHERE {where.sql()} "
        f"ORDER BY {_SPAN_SORT[q.sort_by]} {direction}, span_id {direction} LIMIT ? OFFSET ?",
        [*where.params, q.limit, q.offset],
    ).fetchall()
    if len(where.clauses) == 1:  # the whole project: its counter, not a scan of every span
        row = conn.execute("SELECT span_count FROM projects WHERE id = ?", (q.project_id,)).fetchone()
        total = row[0] if row else 0
    else:
        (total,) = conn.execute(f"SELECT COUNT(*) FROM spans WHERE {where.sql()}", where.params).fetchone()
    return Page(rows=shape_spans(conn, q.project_id, rows), total=int(total), limit=q.limit, offset=q.offset)


def group_key_where(
    conn: sqlite3.Connection, project_id: str, key: GroupKey, labels: tuple[str, ...] = ()
) -> _Where:
    where = _Where()
    where.add("project_id = ?", project_id)
    if key.group_by == "time":
        start = key.time_bucket_us or 0
        where.add("start_time_us >= ? AND start_time_us < ?", start, start + key.bucket_size_s * 1_000_000)
    elif key.group_by == "thread":
        thread_id = key.thread_id or ""
        where.add("thread_key = ? AND thread_id = ?", text_key(thread_id), thread_id)
    else:
        run_id = key.run_id or ""
        where.add_in("trace_key", run_trace_keys(conn, project_id, [run_id]))
        where.add("run_id = ?", run_id)
    if labels:
        where.add_in("label", labels)
    return where


def group_spans(
    conn: sqlite3.Connection,
    project_id: str,
    key: GroupKey,
    limit: int,
    offset: int,
    labels: tuple[str, ...] = (),
) -> Page[SpanRow]:
    """All spans of one group (not only roots), oldest first."""
    where = group_key_where(conn, project_id, key, labels)
    rows = conn.execute(
        f"SELECT {_SPAN_FIELDS} FROM spans WHERE {where.sql()} "
        "ORDER BY start_time_us ASC, span_id ASC LIMIT ? OFFSET ?",
        [*where.params, limit, offset],
    ).fetchall()
    (total,) = conn.execute(f"SELECT COUNT(*) FROM spans WHERE {where.sql()}", where.params).fetchone()
    return Page(rows=shape_spans(conn, project_id, rows), total=int(total), limit=limit, offset=offset)


def _json_array(value: str | None) -> Any:
    return orjson.loads(value) if value else None


def list_time_groups(conn: sqlite3.Connection, q: GroupQuery) -> Page[TimeBucketRow]:
    """`/group?group_by=time`: spans bucketed by start time, aggregated over typed columns.
    Cost and tokens follow the ancestor rule (`usage_counted`), as the run rollups do."""
    bucket = q.bucket_size_s * 1_000_000
    where = _Where()
    where.add("project_id = ?", q.project_id)
    # As for runs and threads, filters select whole runs (vLLora filters rows before aggregating,
    # so `type_filter=model` kept only model_call rows and reported cost 0); the time bounds
    # apply to span starts, the axis being bucketed.
    runs = _Where()
    selecting = replace(q, start_min_us=None, start_max_us=None)
    rollup_filters(runs, "run_facets", "run_id", selecting, q.trace_ids)
    if len(runs.clauses) > 1:
        where.add(f"run_id IN (SELECT run_id FROM runs WHERE {runs.sql()})", *runs.params)
    if q.start_min_us is not None:
        where.add("start_time_us >= ?", q.start_min_us)
    if q.start_max_us is not None:
        where.add("start_time_us <= ?", q.start_max_us)
    rows = conn.execute(
        f"""SELECT (start_time_us / ?) * ? AS bucket,
            json_group_array(DISTINCT thread_id) AS thread_ids,
            json_group_array(DISTINCT trace_id) AS trace_ids,
            json_group_array(DISTINCT run_id) AS run_ids,
            json_group_array(DISTINCT CASE WHEN parent_span_id IS NULL THEN span_id END) AS root_span_ids,
            json_group_array(DISTINCT CASE WHEN operation_name = 'api_invoke' OR convention != 'vllora'
                THEN request_model END) AS request_models,
            json_group_array(DISTINCT CASE WHEN is_llm_call = 1 THEN model END) AS used_models,
            json_group_array(DISTINCT CASE WHEN is_error = 1 THEN error_message END) AS errors,
            SUM(is_llm_call) AS llm_calls,
            TOTAL(CASE WHEN usage_counted = 1 THEN cost END) AS cost,
            SUM(CASE WHEN usage_counted = 1 THEN input_tokens END) AS input_tokens,
            SUM(CASE WHEN usage_counted = 1 THEN output_tokens END) AS output_tokens,
            SUM(CASE WHEN usage_counted = 1 THEN cached_tokens END) AS cached_tokens,
            MIN(start_time_us) AS start_time_us, MAX(finish_time_us) AS finish_time_us,
            SUM(is_error) AS error_count, COUNT(*) AS span_count
        FROM spans WHERE {where.sql()}
        GROUP BY bucket ORDER BY bucket DESC LIMIT ? OFFSET ?""",
        [bucket, bucket, *where.params, q.limit, q.offset],
    ).fetchall()
    (total,) = conn.execute(
        f"SELECT COUNT(DISTINCT start_time_us / ?) FROM spans WHERE {where.sql()}", [bucket, *where.params]
    ).fetchone()
    out = [time_group_object(r, _json_array) for r in rows]
    return Page(rows=out, total=int(total), limit=q.limit, offset=q.offset)


def list_labels(
    conn: sqlite3.Connection, project_id: str, thread_id: str | None, limit: int
) -> list[LabelCount]:
    """Labels with their span counts, most used first."""
    if thread_id is None:
        rows = conn.execute(
            "SELECT label, n FROM project_labels WHERE project_id = ? ORDER BY n DESC, label LIMIT ?",
            (project_id, limit),
        )
    else:
        rows = conn.execute(
            "SELECT value, n FROM thread_facets WHERE project_id = ? AND thread_id = ? AND facet = 'label' "
            "ORDER BY n DESC, value LIMIT ?",
            (project_id, thread_id, limit),
        )
    return [LabelCount(name, n) for name, n in rows]


def list_projects(conn: sqlite3.Connection) -> list[ProjectRow]:
    rows = conn.execute(
        "SELECT id, created_at_us, run_count, thread_count, span_count FROM projects "
        "ORDER BY created_at_us, id"
    )
    return [project_row(r) for r in rows]
