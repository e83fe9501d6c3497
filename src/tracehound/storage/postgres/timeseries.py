"""Time-series reads: per-bucket aggregates of run rollups (by run start) or, per model, of the
LLM-call and counted-usage spans (by span start). Percentile metrics hand back each bucket's raw
durations, because percentiles are computed in one place (`tracehound.analytics.percentiles`).

Run buckets are read with one range search of `runs_start` per bucket (generate_series and a
correlated subquery), every bucket included, as on SQLite: each search is an index-only scan of a
bucket's runs, so the cost follows the runs of the range, not the buckets' sort. Cells come in the
order SQLite gives them (bucket; model, then bucket), so that float sums over them agree."""

from __future__ import annotations

from typing import Any

from tracehound.storage.postgres.connect import Conn
from tracehound.storage.postgres.stats_hours import StatsCache, hour_durations
from tracehound.storage.postgres.where import STATUS_SQL, Where
from tracehound.storage.series import failed_cells, on_hour_parts, run_selection, sum_cells
from tracehound.storage.types import (
    BY_MODEL_METRICS,
    BucketAggregate,
    BucketValues,
    SeriesMetric,
    SeriesQuery,
)
from tracehound.storage.where import rollup_filters

# Run sums per bucket; a bucket without runs yields 0 (of the metric's type, as on SQLite).
_RUN_SUMS: dict[SeriesMetric, str] = {
    "runs": "COUNT(*)",
    "cost": "COALESCE(SUM(cost), 0)::float8",
    "llm_calls": "COALESCE(SUM(llm_calls), 0)::bigint",
    "input_tokens": "COALESCE(SUM(input_tokens), 0)::bigint",
    "output_tokens": "COALESCE(SUM(output_tokens), 0)::bigint",
}

# Per-model aggregates over spans, and the partial index condition of the spans they read.
_SPAN_AGGREGATES: dict[SeriesMetric, tuple[str, str]] = {
    "llm_calls": ("COUNT(*), NULL::bigint", "is_llm_call = 1"),
    "error_rate": ("SUM(is_error)::bigint, COUNT(*)", "is_llm_call = 1"),
    "duration": ("array_agg(finish_time_us - start_time_us), NULL::bigint", "is_llm_call = 1"),
    "cost": ("COALESCE(SUM(cost), 0)::float8, NULL::bigint", "usage_counted = 1"),
    "input_tokens": ("COALESCE(SUM(input_tokens), 0)::bigint, NULL::bigint", "usage_counted = 1"),
    "output_tokens": ("COALESCE(SUM(output_tokens), 0)::bigint, NULL::bigint", "usage_counted = 1"),
}

assert frozenset(_SPAN_AGGREGATES) == BY_MODEL_METRICS


def _selected_runs(q: SeriesQuery) -> Where:
    where = Where()
    rollup_filters(where, "run_facets", "run_id", run_selection(q), ())
    return where


def _per_bucket(conn: Conn, q: SeriesQuery, columns: list[tuple[str, Where]]) -> list[tuple[Any, ...]]:
    """Per bucket start `s`, one value per (aggregate, filter) over the runs started in the
    bucket (every bucket of the range, empty ones included, and at least the first)."""
    parts = []
    params: list[object] = []
    for aggregate, where in columns:
        parts.append(
            f"(SELECT {aggregate} FROM runs WHERE {where.sql()} "
            "AND start_time_us >= b.s AND start_time_us < b.s + %s)"
        )
        params += [*where.params, q.interval_us]
    params += [q.start_us, max(q.start_us, q.end_us - 1), q.interval_us]
    return conn.execute(
        f"SELECT b.s, {', '.join(parts)} FROM generate_series(%s::bigint, %s::bigint, %s::bigint) AS b(s) "
        "ORDER BY b.s",
        params,
    ).fetchall()


def _running(conn: Conn, q: SeriesQuery, where: Where, cutoff_us: int) -> dict[int, tuple[int, int]]:
    """Running runs per bucket, and how many of them have errors. They are the few rootless runs
    seen within the idle timeout, read off runs_rootless."""
    rows = conn.execute(
        "SELECT (start_time_us / %s) * %s, COUNT(*), COUNT(*) FILTER (WHERE error_count > 0) FROM runs "
        f"WHERE {where.sql()} AND {STATUS_SQL['running']} AND start_time_us >= %s AND start_time_us < %s "
        "GROUP BY 1",
        [q.interval_us, q.interval_us, *where.params, cutoff_us, q.start_us, q.end_us],
    ).fetchall()
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def _run_aggregates(conn: Conn, q: SeriesQuery, cutoff_us: int) -> list[BucketAggregate]:
    runs = _selected_runs(q)
    if q.metric in _RUN_SUMS:
        return sum_cells(_per_bucket(conn, q, [(_RUN_SUMS[q.metric], runs)]))
    # Failed = with errors and not running. Runs with errors come off the runs_with_errors
    # partial index (about one run in twenty) and running runs are few.
    with_errors = _selected_runs(q)
    with_errors.add("error_count > 0")
    columns = [("COUNT(*)", with_errors)]
    if q.metric == "error_rate":
        columns.append(("COUNT(*)", runs))
    with conn.transaction():  # the running runs are among the runs counted: one snapshot
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        running = _running(conn, q, runs, cutoff_us)
        rows = _per_bucket(conn, q, columns)
    return failed_cells(q.metric, rows, running)


def _span_cells(conn: Conn, q: SeriesQuery) -> list[tuple[Any, ...]]:
    """One pass over the spans of the range (their partial index), grouped by model and bucket."""
    aggregate, condition = _SPAN_AGGREGATES[q.metric]
    where = Where()
    where.add("project_id = %s", q.project_id)
    where.add(condition)
    where.add("start_time_us >= %s", q.start_us)
    where.add("start_time_us < %s", q.end_us)
    runs = _selected_runs(q)
    if len(runs.clauses) > 1:  # more than the project: select whole runs, as /runs does
        where.add(f"run_id IN (SELECT run_id FROM runs WHERE {runs.sql()})", *runs.params)
    return conn.execute(
        f"SELECT model, (start_time_us / %s) * %s AS bucket, {aggregate} FROM spans WHERE {where.sql()} "
        "GROUP BY model, bucket ORDER BY model NULLS FIRST, bucket",
        [q.interval_us, q.interval_us, *where.params],
    ).fetchall()


def bucket_aggregates(conn: Conn, q: SeriesQuery, cutoff_us: int) -> list[BucketAggregate]:
    """Sums, counts and rate parts per bucket (per model and bucket when `by_model`)."""
    if not q.by_model:
        return _run_aggregates(conn, q, cutoff_us)
    return [BucketAggregate(r[0], r[1], r[2], r[3]) for r in _span_cells(conn, q)]


def bucket_values(conn: Conn, q: SeriesQuery, cutoff_us: int, cache: StatsCache | None) -> list[BucketValues]:
    """Durations in µs per bucket: of finished runs, or of LLM calls (per model), one array per
    bucket. Unfiltered hourly run durations come from /stats' hour parts (checked against
    hour_versions, as /stats checks them); everything else straight from the runs and spans."""
    if q.by_model:
        return [BucketValues(r[0], r[1], r[2]) for r in _span_cells(conn, q)]
    if cache is not None and on_hour_parts(q):
        buckets = (q.start_us, q.end_us, q.interval_us)
        cells = hour_durations(conn, q.project_id, buckets, cutoff_us, cache)
        return [BucketValues(None, start, durations) for start, durations in cells]
    return run_durations(conn, q, cutoff_us)


def run_durations(conn: Conn, q: SeriesQuery, cutoff_us: int) -> list[BucketValues]:
    """Durations of the finished runs per bucket (a running run's duration is not final yet),
    buckets without any left out."""
    finished = _selected_runs(q)
    finished.add(f"NOT {STATUS_SQL['running']}", cutoff_us)
    rows = _per_bucket(conn, q, [("array_agg(duration_us)", finished)])
    return [BucketValues(None, r[0], r[1]) for r in rows if r[1]]
