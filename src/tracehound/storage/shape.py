"""The database rows of the run and span reads as the typed rows of `rows.py`, for every backend:
rollups (with the status rule of status.py), spans and their earliest `model_call` child's
attributes, time buckets, projects, and the totals /runs counts from the project counters.

Pure Python on rows that answer `row["column"]` (sqlite3.Row, psycopg's dict rows), so that each
backend holds only its SQL and the answers cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import orjson

from tracehound.model import RunStatus
from tracehound.storage.queries import GroupQuery, RunQuery
from tracehound.storage.rows import ProjectRow, RollupRow, SpanRow, TimeBucketRow
from tracehound.storage.status import DbRow, run_status

RUN_STATUSES: tuple[RunStatus, ...] = ("running", "failed", "completed")


Row = DbRow


def shape_rollups(rows: Iterable[Row], cutoff_us: int, key: str) -> list[RollupRow]:
    """Rollup rows (runs or threads; `key` names the key column), with the computed fields."""
    out = []
    for row in rows:
        f = orjson.loads(row["sets"])
        out.append(
            RollupRow(
                key=row[key],
                thread_ids=f.get("thread", []),
                run_ids=f.get("run", []),
                trace_ids=f.get("root_trace", []),
                all_trace_ids=f.get("trace", []),
                root_span_ids=f.get("root_span", []),
                request_models=f.get("request_model", []),
                used_models=f.get("used_model", []),
                used_tools=f.get("tool", []),
                labels=f.get("label", []),
                errors=f.get("error", []),
                llm_calls=row["llm_calls"],
                tool_calls=row["tool_calls"],
                cost=row["cost"],
                input_tokens=row["input_tokens"],
                output_tokens=row["output_tokens"],
                cached_tokens=row["cached_tokens"],
                start_time_us=row["start_time_us"],
                finish_time_us=row["finish_time_us"],
                root_start_us=row["root_start_us"],
                root_finish_us=row["root_finish_us"],
                duration_ms=row["duration_us"] / 1000,
                status=run_status(row, cutoff_us),
                error_count=row["error_count"],
                span_count=row["span_count"],
            )
        )
    return out


def shape_run(rows: Sequence[Row], cutoff_us: int) -> RollupRow | None:
    """The one run of `rows` (or None), with `spans_expired_us`: when retention deleted its spans."""
    shaped = shape_rollups(rows, cutoff_us, "run_id")
    if not shaped:
        return None
    return replace(shaped[0], spans_expired_us=rows[0]["spans_expired_us"])


def shape_threads(rows: Sequence[Row], cutoff_us: int) -> list[RollupRow]:
    shaped = shape_rollups(rows, cutoff_us, "thread_id")
    return [replace(obj, title=row["title"]) for obj, row in zip(shaped, rows, strict=True)]


def only_status_filter(q: RunQuery) -> bool:
    """Whether the query selects runs by status alone, so that its total comes from counters."""
    return not (
        q.run_ids
        or q.thread_ids
        or q.trace_ids
        or q.labels
        or q.model_name
        or q.type_filter
        or q.start_min_us is not None
        or q.start_max_us is not None
        or q.min_duration_us is not None
        or q.min_cost is not None
    )


def selects_some_statuses(statuses: Sequence[RunStatus]) -> bool:
    """Whether a status filter leaves some runs out (none given, or all three, selects all)."""
    return bool(statuses) and set(statuses) != set(RUN_STATUSES)


def status_total(
    statuses: Sequence[RunStatus], runs: int, with_errors: int, running: int, running_with_errors: int
) -> int:
    """How many runs have one of `statuses` (all when empty), from the project's run counters and
    the rootless runs seen since the running cutoff: a running run is neither failed nor
    completed whatever its errors."""
    failed = with_errors - running_with_errors
    counts = {"running": running, "failed": failed, "completed": runs - failed - running}
    return sum(counts[s] for s in (statuses or RUN_STATUSES))


def group_run_query(q: GroupQuery) -> RunQuery:
    """`/group?group_by=run`: the run list with the group filters."""
    return RunQuery(
        project_id=q.project_id,
        thread_ids=q.thread_ids,
        trace_ids=q.trace_ids,
        labels=q.labels,
        model_name=q.model_name,
        type_filter=q.type_filter,
        start_min_us=q.start_min_us,
        start_max_us=q.start_max_us,
        limit=q.limit,
        offset=q.offset,
    )


def span_row(row: Row, child_attributes: str | None = None) -> SpanRow:
    return SpanRow(
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        parent_span_id=row["parent_span_id"],
        thread_id=row["thread_id"],
        run_id=row["run_id"],
        operation_name=row["operation_name"],
        start_time_us=row["start_time_us"],
        finish_time_us=row["finish_time_us"],
        kind=row["kind"],
        is_error=bool(row["is_error"]),
        error_message=row["error_message"],
        model=row["model"],
        provider=row["provider"],
        cost=row["cost"],
        cost_source=row["cost_source"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cached_tokens=row["cached_tokens"],
        attributes=row["attributes"],
        child_attributes=child_attributes,
    )


def shape_spans(rows: Sequence[Row], children: Iterable[tuple[str, str, str]]) -> list[SpanRow]:
    """Span rows as SpanRows. `children` are the `model_call` spans of the rows' traces as
    (trace_id, parent_span_id, attributes), latest start first: a span's `child_attributes` are
    its earliest model_call child's (the last one given wins)."""
    earliest = {(trace_id, parent): attributes for trace_id, parent, attributes in children}
    return [span_row(row, earliest.get((row["trace_id"], row["span_id"]))) for row in rows]


def like_literal(text: str) -> str:
    """`text` as a LIKE pattern that matches only itself (the pattern's escape is a backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def distinct_values(values: Iterable[Any] | None) -> list[Any]:
    """An aggregate's distinct values, sorted like the rollup facets, without NULLs."""
    return sorted(v for v in values or () if v is not None)


TIME_GROUP_LISTS = (
    "thread_ids",
    "trace_ids",
    "run_ids",
    "root_span_ids",
    "request_models",
    "used_models",
    "errors",
)


def time_group_object(r: Row, decode: Callable[[Any], Iterable[Any] | None]) -> TimeBucketRow:
    """A time bucket's aggregate row; `decode` reads one of its distinct-value aggregates
    (TIME_GROUP_LISTS) as the backend returns it."""
    lists = {name: distinct_values(decode(r[name])) for name in TIME_GROUP_LISTS}
    return TimeBucketRow(
        key=r["bucket"],
        **lists,
        llm_calls=r["llm_calls"],
        cost=r["cost"],
        input_tokens=r["input_tokens"],
        output_tokens=r["output_tokens"],
        cached_tokens=r["cached_tokens"],
        start_time_us=r["start_time_us"],
        finish_time_us=r["finish_time_us"],
        duration_ms=(r["finish_time_us"] - r["start_time_us"]) / 1000,
        error_count=r["error_count"],
        span_count=r["span_count"],
    )


def project_row(r: Row) -> ProjectRow:
    return ProjectRow(
        id=r["id"],
        created_at_us=r["created_at_us"],
        run_count=r["run_count"],
        thread_count=r["thread_count"],
        span_count=r["span_count"],
    )
