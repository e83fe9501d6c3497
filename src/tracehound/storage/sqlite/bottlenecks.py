"""What a run's bottleneck analysis reads: the run's rollup, its spans' typed timing and cost
columns (never the attribute JSON), and recent durations of the same operations in the project.

The record types here are what every backend returns; the analysis itself lives in
`tracehound.analytics.bottlenecks`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from functools import partial

from tracehound.storage.bottleneck_reads import run_timings_record, sample_durations
from tracehound.storage.sqlite.spans import run_trace_keys
from tracehound.storage.types import OpModel, RunTimings, SpanTiming

_RUN = """
    SELECT start_time_us, finish_time_us, span_count, root_count, error_count, last_seen_us, cost,
        spans_expired_us
    FROM runs WHERE project_id = ? AND run_id = ?
"""

# In no particular order unless the run has more spans than are read: sorting costs more than
# the analysis needs, which breaks ties by span id.
_SPANS = """
    SELECT span_id, parent_span_id, operation_name, kind, model, start_time_us, finish_time_us,
        cost, usage_counted
    FROM spans WHERE trace_key IN ({marks}) AND project_id = ? AND run_id = ? {order} LIMIT ?
"""

# Both walk spans_op backwards from the window's end, through at most `scan` spans of the
# operation: the inner LIMIT bounds the work for a model that is rare in a busy operation, and
# the outer one stops the walk (a lazy co-routine) once `n` spans of the model are found.
_DURATIONS_OF_MODEL = """
    SELECT d FROM (
        SELECT model AS m, max(finish_time_us - start_time_us, 0) AS d FROM spans
        WHERE project_id = ? AND operation_name = ? AND start_time_us >= ? AND start_time_us <= ?
        ORDER BY start_time_us DESC LIMIT ?
    ) WHERE m IS ? LIMIT ?
"""

_DURATIONS_OF_OPERATION = """
    SELECT model, max(finish_time_us - start_time_us, 0) FROM spans
    WHERE project_id = ? AND operation_name = ? AND start_time_us >= ? AND start_time_us <= ?
    ORDER BY start_time_us DESC LIMIT ?
"""

# A row as a SpanTiming without _make's Python-level call (a fifth of the read of 2,000 spans).
_timing = partial(tuple.__new__, SpanTiming)

# Keeps each IN list well below SQLite's bound on host parameters.
_KEYS_PER_QUERY = 500


def run_timings(
    conn: sqlite3.Connection, project_id: str, run_id: str, cutoff_us: int, max_spans: int
) -> RunTimings | None:
    """The run's rollup and its spans, at most `max_spans` of them (then the earliest by start),
    read in one snapshot so that the spans agree with the rollup's bounds and cost. None for an
    unknown run, and for one whose spans retention deleted."""
    conn.execute("BEGIN")
    try:
        row = conn.execute(_RUN, (project_id, run_id)).fetchone()
        if row is None or row["spans_expired_us"] is not None:
            return None
        truncated = row["span_count"] > max_spans
        sql = _SPANS.replace("{order}", "ORDER BY start_time_us, span_id" if truncated else "")
        keys = run_trace_keys(conn, project_id, [run_id])
        spans: list[SpanTiming] = []
        cur = conn.cursor()
        cur.row_factory = None
        for i in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[i : i + _KEYS_PER_QUERY]
            cur.execute(
                sql.replace("{marks}", ",".join("?" * len(chunk))), (*chunk, project_id, run_id, max_spans)
            )
            spans.extend(map(_timing, cur))
        if truncated and len(keys) > _KEYS_PER_QUERY:
            spans.sort(key=lambda s: (s.start_us, s.span_id))
            del spans[max_spans:]
        return run_timings_record(run_id, row, cutoff_us, spans, truncated)
    finally:
        conn.execute("COMMIT")


def recent_durations(
    conn: sqlite3.Connection,
    project_id: str,
    pairs: Iterable[OpModel],
    since_us: int,
    until_us: int,
    max_sample: int,
    max_scan: int,
) -> dict[OpModel, list[int]]:
    """Durations (µs, ascending) of the project's spans of each (operation, model) that started
    in [since_us, until_us]: of the `max_scan` most recent spans of the operation, the
    `max_sample` most recent with that model."""
    cur = conn.cursor()
    cur.row_factory = None

    def of_model(op: str, model: str | None) -> list[int]:
        cur.execute(_DURATIONS_OF_MODEL, (project_id, op, since_us, until_us, max_scan, model, max_sample))
        return [d for (d,) in cur]

    def of_operation(op: str) -> sqlite3.Cursor:
        return cur.execute(_DURATIONS_OF_OPERATION, (project_id, op, since_us, until_us, max_scan))

    return sample_durations(pairs, max_sample, of_model, of_operation)
