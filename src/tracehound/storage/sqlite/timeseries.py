"""Time-series reads: per-bucket aggregates of run rollups (by run start) or, per model, of the
LLM-call and counted-usage spans (by span start). Percentile metrics hand back each bucket's raw
durations, because percentiles are computed in one place (`tracehound.analytics.percentiles`).

Run buckets are read with one range search of `runs_start` per bucket (a recursive CTE of bucket
starts and a correlated subquery) rather than `GROUP BY start_time_us / interval`: SQLite cannot
tell that the bucket expression follows the index order, so GROUP BY sorts every run through a
temporary B-tree, which costs three to four times the index scan itself."""

from __future__ import annotations

import sqlite3

from tracehound.storage.series import failed_cells, run_selection, sum_cells
from tracehound.storage.sqlite.runs import _STATUS_SQL, _Where, joined_ints
from tracehound.storage.types import (
    BY_MODEL_METRICS,
    BucketAggregate,
    BucketValues,
    SeriesMetric,
    SeriesQuery,
)
from tracehound.storage.where import rollup_filters

_BUCKETS = "WITH RECURSIVE b(s) AS (SELECT ? UNION ALL SELECT s + ? FROM b WHERE s + ? < ?) "

# Run sums per bucket; a bucket without runs yields 0.
_RUN_SUMS: dict[SeriesMetric, str] = {
    "runs": "COUNT(*)",
    "cost": "TOTAL(cost)",
    "llm_calls": "COALESCE(SUM(llm_calls), 0)",
    "input_tokens": "COALESCE(SUM(input_tokens), 0)",
    "output_tokens": "COALESCE(SUM(output_tokens), 0)",
}

# Per-model aggregates over spans, and the partial index holding exactly the spans they read.
_SPAN_AGGREGATES: dict[SeriesMetric, tuple[str, str]] = {
    "llm_calls": ("COUNT(*), NULL", "spans_llm"),
    "error_rate": ("SUM(is_error), COUNT(*)", "spans_llm"),
    "duration": ("group_concat(finish_time_us - start_time_us), NULL", "spans_llm"),
    "cost": ("TOTAL(cost), NULL", "spans_counted"),
    "input_tokens": ("COALESCE(SUM(input_tokens), 0), NULL", "spans_counted"),
    "output_tokens": ("COALESCE(SUM(output_tokens), 0), NULL", "spans_counted"),
}
_INDEX_CONDITION = {"spans_llm": "is_llm_call = 1", "spans_counted": "usage_counted = 1"}

assert frozenset(_SPAN_AGGREGATES) == BY_MODEL_METRICS


def _selected_runs(q: SeriesQuery) -> _Where:
    """The runs /runs lists with the same filters (no time bounds: the caller adds them)."""
    where = _Where()
    rollup_filters(where, "run_facets", "run_id", run_selection(q), ())
    return where


def _per_bucket(
    conn: sqlite3.Connection, q: SeriesQuery, columns: list[tuple[str, _Where, str]]
) -> list[sqlite3.Row]:
    """Per bucket start `s`, one value per (aggregate, filter, index) over the runs started in
    the bucket, each a range search of the index (every bucket, empty ones included). The index
    is named because with a facet filter the planner may otherwise probe the primary key for
    every selected run, once per bucket."""
    parts = []
    params: list[object] = [q.start_us, q.interval_us, q.interval_us, q.end_us]
    for aggregate, where, index in columns:
        parts.append(
            f"(SELECT {aggregate} FROM runs INDEXED BY {index} WHERE {where.sql()} "
            "AND start_time_us >= s AND start_time_us < s + ?)"
        )
        params += [*where.params, q.interval_us]
    return conn.execute(f"{_BUCKETS}SELECT s, {', '.join(parts)} FROM b", params).fetchall()


def _running(
    conn: sqlite3.Connection, q: SeriesQuery, where: _Where, cutoff_us: int
) -> dict[int, tuple[int, int]]:
    """Running runs per bucket, and how many of them have errors. They are the few rootless runs
    seen within the idle timeout, read off runs_rootless."""
    rows = conn.execute(
        "SELECT (start_time_us / ?) * ?, COUNT(*), SUM(error_count > 0) FROM runs INDEXED BY runs_rootless "
        f"WHERE {where.sql()} AND {_STATUS_SQL['running']} AND start_time_us >= ? AND start_time_us < ? "
        "GROUP BY 1",
        [q.interval_us, q.interval_us, *where.params, cutoff_us, q.start_us, q.end_us],
    ).fetchall()
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def _run_aggregates(conn: sqlite3.Connection, q: SeriesQuery, cutoff_us: int) -> list[BucketAggregate]:
    runs = _selected_runs(q)
    if q.metric in _RUN_SUMS:
        return sum_cells(_per_bucket(conn, q, [(_RUN_SUMS[q.metric], runs, "runs_start")]))
    # Failed = with errors and not running. Runs with errors come off the runs_with_errors
    # partial index (about one run in twenty) and running runs are few, so no run row is read.
    with_errors = _selected_runs(q)
    with_errors.add("error_count > 0")
    running = _running(conn, q, runs, cutoff_us)
    columns = [("COUNT(*)", with_errors, "runs_with_errors")]
    if q.metric == "error_rate":
        columns.append(("COUNT(*)", runs, "runs_start"))
    return failed_cells(q.metric, _per_bucket(conn, q, columns), running)


def _spans_where(q: SeriesQuery, index: str) -> _Where:
    where = _Where()
    where.add("project_id = ?", q.project_id)
    where.add(_INDEX_CONDITION[index])
    where.add("start_time_us >= ?", q.start_us)
    where.add("start_time_us < ?", q.end_us)
    runs = _selected_runs(q)
    if len(runs.clauses) > 1:  # more than the project: select whole runs, as /runs does
        where.add(f"run_id IN (SELECT run_id FROM runs WHERE {runs.sql()})", *runs.params)
    return where


def _span_cells(conn: sqlite3.Connection, q: SeriesQuery) -> list[sqlite3.Row]:
    """One pass over the partial index: with only (project_id, start_time_us) in it, reading each
    span once and sorting the groups is cheaper than a range search per model and bucket."""
    aggregate, index = _SPAN_AGGREGATES[q.metric]
    where = _spans_where(q, index)
    return conn.execute(
        f"SELECT model, (start_time_us / ?) * ? AS bucket, {aggregate} "
        f"FROM spans INDEXED BY {index} WHERE {where.sql()} GROUP BY model, bucket",
        [q.interval_us, q.interval_us, *where.params],
    ).fetchall()


def bucket_aggregates(conn: sqlite3.Connection, q: SeriesQuery, cutoff_us: int) -> list[BucketAggregate]:
    """Sums, counts and rate parts per bucket (per model and bucket when `by_model`)."""
    if not q.by_model:
        return _run_aggregates(conn, q, cutoff_us)
    return [BucketAggregate(r[0], r[1], r[2], r[3]) for r in _span_cells(conn, q)]


def bucket_values(conn: sqlite3.Connection, q: SeriesQuery, cutoff_us: int) -> list[BucketValues]:
    """Durations in µs per bucket: of finished runs, or of LLM calls (per model). They travel as
    one group_concat string per bucket, because turning ~100,000 result rows into Python
    objects costs several times more than splitting a few hundred strings."""
    if q.by_model:
        return [BucketValues(r[0], r[1], joined_ints(r[2])) for r in _span_cells(conn, q)]
    finished = _selected_runs(q)
    # A running run's duration is not final yet, so only finished runs are measured.
    finished.add(f"NOT {_STATUS_SQL['running']}", cutoff_us)
    rows = _per_bucket(conn, q, [("group_concat(duration_us)", finished, "runs_start")])
    return [BucketValues(None, r[0], joined_ints(r[1])) for r in rows if r[1]]
