"""What a run's bottleneck analysis reads: the run's rollup, its spans' typed timing and cost
columns (never the attribute JSON), and recent durations of the same operations in the project.
The analysis itself lives in `tracehound.analytics.bottlenecks`."""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.rows import dict_row

from tracehound.storage.bottleneck_reads import run_timings_record, sample_durations
from tracehound.storage.postgres.connect import Conn
from tracehound.storage.postgres.where import run_trace_keys
from tracehound.storage.types import OpModel, RunTimings, SpanTiming

_RUN = """
    SELECT start_time_us, finish_time_us, span_count, root_count, error_count, last_seen_us, cost,
        spans_expired_us
    FROM runs WHERE project_id = %s AND run_id = %s
"""

# In no particular order unless the run has more spans than are read: sorting costs more than
# the analysis needs, which breaks ties by span id.
_SPANS = """
    SELECT span_id, parent_span_id, operation_name, kind, model, start_time_us, finish_time_us,
        cost, usage_counted
    FROM spans WHERE trace_key = ANY(%s) AND project_id = %s AND run_id = %s {order} LIMIT %s
"""

# Both walk spans_op backwards from the window's end, through at most `scan` spans of the
# operation: the inner LIMIT bounds the work for a model that is rare in a busy operation, and
# the outer one stops the walk once `n` spans of the model are found.
_DURATIONS_OF_MODEL = """
    SELECT d FROM (
        SELECT model AS m, GREATEST(finish_time_us - start_time_us, 0) AS d FROM spans
        WHERE project_id = %s AND operation_name = %s AND start_time_us >= %s AND start_time_us <= %s
        ORDER BY start_time_us DESC LIMIT %s
    ) AS recent WHERE m IS NOT DISTINCT FROM %s::text LIMIT %s
"""

_DURATIONS_OF_OPERATION = """
    SELECT model, GREATEST(finish_time_us - start_time_us, 0) FROM spans
    WHERE project_id = %s AND operation_name = %s AND start_time_us >= %s AND start_time_us <= %s
    ORDER BY start_time_us DESC LIMIT %s
"""


def run_timings(
    conn: Conn, project_id: str, run_id: str, cutoff_us: int, max_spans: int
) -> RunTimings | None:
    """The run's rollup and its spans, at most `max_spans` of them (then the earliest by start),
    read in one snapshot so that the spans agree with the rollup's bounds and cost. None for an
    unknown run, and for one whose spans retention deleted."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        row = conn.cursor(row_factory=dict_row).execute(_RUN, (project_id, run_id)).fetchone()
        if row is None or row["spans_expired_us"] is not None:
            return None
        truncated = row["span_count"] > max_spans
        sql = _SPANS.replace("{order}", "ORDER BY start_time_us, span_id" if truncated else "")
        keys = run_trace_keys(conn, project_id, [run_id])
        rows = conn.execute(sql, (keys, project_id, run_id, max_spans))
        spans = list(map(SpanTiming._make, rows))
        return run_timings_record(run_id, row, cutoff_us, spans, truncated)


def recent_durations(
    conn: Conn,
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

    def of_model(op: str, model: str | None) -> list[int]:
        rows = conn.execute(
            _DURATIONS_OF_MODEL, (project_id, op, since_us, until_us, max_scan, model, max_sample)
        )
        return [int(d) for (d,) in rows]

    def of_operation(op: str) -> list[tuple[str | None, int]]:
        rows = conn.execute(_DURATIONS_OF_OPERATION, (project_id, op, since_us, until_us, max_scan))
        return [(m, int(d)) for m, d in rows]

    return sample_durations(pairs, max_sample, of_model, of_operation)
