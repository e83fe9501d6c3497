"""Span reads on PostgreSQL: lists, a run's or a group's spans, time-bucket groups, labels,
projects. The selections, order and totals of storage/sqlite/spans.py; rows are shaped by
storage/shape.py. A list, its total and its children's attributes are read in one snapshot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from psycopg.rows import dict_row

from tracehound.ids import hex_key, span_id_candidates, text_key, trace_id_candidates
from tracehound.storage import shape
from tracehound.storage.postgres.connect import Conn
from tracehound.storage.postgres.runs import snapshot
from tracehound.storage.postgres.where import Where, run_trace_keys
from tracehound.storage.queries import GroupKey, GroupQuery, ListFilter, SpanQuery
from tracehound.storage.rows import LabelCount, Page, ProjectRow, SpanRow, TimeBucketRow
from tracehound.storage.shape import like_literal, project_row, time_group_object
from tracehound.storage.where import rollup_filters

_SPAN_FIELDS = (
    "trace_id, span_id, parent_span_id, run_id, thread_id, operation_name, kind, start_time_us, "
    "finish_time_us, is_error, error_message, model, provider, input_tokens, output_tokens, "
    "cached_tokens, cost, cost_source, label, attributes"
)

_SPAN_SORT = {
    "start_time": "start_time_us",
    "finish_time": "finish_time_us",
    "duration": "finish_time_us - start_time_us",
    "cost": "COALESCE(cost, 0)",
}


def _shape_spans(conn: Conn, project_id: str, rows: Sequence[dict[str, Any]]) -> list[SpanRow]:
    """The rows as span objects, with the `model_call` spans of their traces read in one
    statement (ties in start broken by insertion order, as SQLite's stable sort does)."""
    traces = sorted({r["trace_id"] for r in rows})
    children: list[tuple[str, str, str]] = []
    if traces:
        children = conn.execute(
            "SELECT trace_id, parent_span_id, attributes FROM spans WHERE project_id = %s "
            "AND trace_key = ANY(%s) AND trace_id = ANY(%s) AND operation_name = 'model_call' "
            "ORDER BY start_time_us DESC, id",
            (project_id, sorted({hex_key(t) for t in traces}), traces),
        ).fetchall()
    return shape.shape_spans(rows, children)


def _list_filter(
    where: Where,
    column: str,
    f: ListFilter,
    key_column: str | None = None,
    expand: Callable[[str], list[str]] | None = None,
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


def _span_where(conn: Conn, q: SpanQuery) -> Where:
    # A NUL in the text: attributes are JSON, where a NUL is written \u0000, so no span has one.
    nul_text = q.text is not None and "\x00" in q.text
    where = Where()
    where.add("project_id = %s", q.project_id)
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
        where.add("start_time_us >= %s", q.start_min_us)
    if q.start_max_us is not None:
        where.add("start_time_us <= %s", q.start_max_us)
    if q.status is not None:
        where.add("is_error = %s", int(q.status == "error"))
    if q.models:
        where.add_in("model", q.models)
    if nul_text:
        where.add("FALSE")
    elif q.text:
        # ILIKE on COLLATE "C" text folds ASCII letters only: SQLite's LIKE.
        where.add("attributes ILIKE %s ESCAPE '\\'", f"%{like_literal(q.text)}%")
    return where


def list_spans(conn: Conn, q: SpanQuery) -> Page[SpanRow]:
    direction = "DESC" if q.order == "desc" else "ASC"
    with conn.transaction():
        snapshot(conn)
        where = _span_where(conn, q)
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                f"SELECT {_SPAN_FIELDS} FROM spans WHERE {where.sql()} "
                f"ORDER BY {_SPAN_SORT[q.sort_by]} {direction}, span_id {direction} LIMIT %s OFFSET %s",
                [*where.params, q.limit, q.offset],
            )
            .fetchall()
        )
        project_id = q.project_id
        if len(where.clauses) == 1:  # the whole project: its counter, not a scan of every span
            row = conn.execute("SELECT span_count FROM projects WHERE id = %s", (project_id,)).fetchone()
        else:
            row = conn.execute(f"SELECT COUNT(*) FROM spans WHERE {where.sql()}", where.params).fetchone()
        shaped = _shape_spans(conn, project_id, rows)
    return Page(rows=shaped, total=int(row[0]) if row else 0, limit=q.limit, offset=q.offset)


def _group_key_where(conn: Conn, project_id: str, key: GroupKey, labels: tuple[str, ...]) -> Where:
    where = Where()
    where.add("project_id = %s", project_id)
    if key.group_by == "time":
        start = key.time_bucket_us or 0
        where.add("start_time_us >= %s AND start_time_us < %s", start, start + key.bucket_size_s * 1_000_000)
    elif key.group_by == "thread":
        thread_id = key.thread_id or ""
        where.add("thread_key = %s AND thread_id = %s", text_key(thread_id), thread_id)
    else:
        run_id = key.run_id or ""
        where.add_in("trace_key", run_trace_keys(conn, project_id, [run_id]))
        where.add("run_id = %s", run_id)
    if labels:
        where.add_in("label", labels)
    return where


def group_spans(
    conn: Conn, project_id: str, key: GroupKey, limit: int, offset: int, labels: tuple[str, ...] = ()
) -> Page[SpanRow]:
    """All spans of one group (not only roots), oldest first."""
    with conn.transaction():
        snapshot(conn)
        where = _group_key_where(conn, project_id, key, labels)
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                f"SELECT {_SPAN_FIELDS} FROM spans WHERE {where.sql()} "
                "ORDER BY start_time_us ASC, span_id ASC LIMIT %s OFFSET %s",
                [*where.params, limit, offset],
            )
            .fetchall()
        )
        row = conn.execute(f"SELECT COUNT(*) FROM spans WHERE {where.sql()}", where.params).fetchone()
        shaped = _shape_spans(conn, project_id, rows)
    return Page(rows=shaped, total=int(row[0]) if row else 0, limit=limit, offset=offset)


def _identity(value: Any) -> Any:
    return value


def list_time_groups(conn: Conn, q: GroupQuery) -> Page[TimeBucketRow]:
    """`/group?group_by=time`: spans bucketed by start time, as on SQLite: filters select whole
    runs, the time bounds apply to span starts; cost and tokens follow the ancestor rule."""
    bucket = q.bucket_size_s * 1_000_000
    where = Where()
    where.add("project_id = %s", q.project_id)
    runs = Where()
    selecting = replace(q, start_min_us=None, start_max_us=None)
    rollup_filters(runs, "run_facets", "run_id", selecting, q.trace_ids)
    if len(runs.clauses) > 1:
        where.add(f"run_id IN (SELECT run_id FROM runs WHERE {runs.sql()})", *runs.params)
    if q.start_min_us is not None:
        where.add("start_time_us >= %s", q.start_min_us)
    if q.start_max_us is not None:
        where.add("start_time_us <= %s", q.start_max_us)
    with conn.transaction():
        snapshot(conn)
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                f"""SELECT (start_time_us / %s::bigint) * %s::bigint AS bucket,
                array_agg(DISTINCT thread_id) AS thread_ids,
                array_agg(DISTINCT trace_id) AS trace_ids,
                array_agg(DISTINCT run_id) AS run_ids,
                array_agg(DISTINCT CASE WHEN parent_span_id IS NULL THEN span_id END) AS root_span_ids,
                array_agg(DISTINCT CASE WHEN operation_name = 'api_invoke' OR convention != 'vllora'
                    THEN request_model END) AS request_models,
                array_agg(DISTINCT CASE WHEN is_llm_call = 1 THEN model END) AS used_models,
                array_agg(DISTINCT CASE WHEN is_error = 1 THEN error_message END) AS errors,
                SUM(is_llm_call)::bigint AS llm_calls,
                COALESCE(SUM(CASE WHEN usage_counted = 1 THEN cost END), 0)::float8 AS cost,
                SUM(CASE WHEN usage_counted = 1 THEN input_tokens END)::bigint AS input_tokens,
                SUM(CASE WHEN usage_counted = 1 THEN output_tokens END)::bigint AS output_tokens,
                SUM(CASE WHEN usage_counted = 1 THEN cached_tokens END)::bigint AS cached_tokens,
                MIN(start_time_us) AS start_time_us, MAX(finish_time_us) AS finish_time_us,
                SUM(is_error)::bigint AS error_count, COUNT(*) AS span_count
            FROM spans WHERE {where.sql()}
            GROUP BY bucket ORDER BY bucket DESC LIMIT %s OFFSET %s""",
                [bucket, bucket, *where.params, q.limit, q.offset],
            )
            .fetchall()
        )
        row = conn.execute(
            f"SELECT COUNT(DISTINCT start_time_us / %s::bigint) FROM spans WHERE {where.sql()}",
            [bucket, *where.params],
        ).fetchone()
    out = [time_group_object(r, _identity) for r in rows]
    return Page(rows=out, total=int(row[0]) if row else 0, limit=q.limit, offset=q.offset)


def list_labels(conn: Conn, project_id: str, thread_id: str | None, limit: int) -> list[LabelCount]:
    """Labels with their span counts, most used first."""
    if thread_id is None:
        rows = conn.execute(
            "SELECT label, n FROM project_labels WHERE project_id = %s ORDER BY n DESC, label LIMIT %s",
            (project_id, limit),
        )
    else:
        rows = conn.execute(
            "SELECT value, n FROM thread_facets WHERE project_id = %s AND thread_id = %s AND facet = 'label' "
            "ORDER BY n DESC, value LIMIT %s",
            (project_id, thread_id, limit),
        )
    return [LabelCount(name, n) for name, n in rows]


def list_projects(conn: Conn) -> list[ProjectRow]:
    rows = conn.cursor(row_factory=dict_row).execute(
        "SELECT id, created_at_us, run_count, thread_count, span_count FROM projects "
        "ORDER BY created_at_us, id"
    )
    return [project_row(r) for r in rows]
