"""The parts /stats adds up (storage/stats_parts.py), read from SQLite: run figures and error
messages of a set of runs (those that started in one hour, or in a whole window with filters)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from tracehound.storage.sqlite.runs import _Where, joined_ints
from tracehound.storage.stats_parts import ErrorPart, RunPart, error_part_of, run_part_of

# Rootless runs come back as (last seen, has errors, duration) triples joined into one text.
_RUN_PART = """
    SELECT COUNT(*), TOTAL(cost), COALESCE(SUM(llm_calls), 0), COALESCE(SUM(input_tokens), 0),
        COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_tokens), 0),
        MAX(start_time_us + duration_us), COALESCE(SUM(root_count > 0 AND error_count > 0), 0),
        group_concat(CASE WHEN root_count > 0 THEN duration_us END),
        group_concat(CASE WHEN root_count = 0
            THEN last_seen_us || ',' || (error_count > 0) || ',' || duration_us END)
    FROM runs INDEXED BY runs_start WHERE {where}
"""


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction, so that figures read by several statements agree with each other
    while ingest commits beside them (the per-model costs add up to the total)."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


def run_part(conn: sqlite3.Connection, where: _Where) -> RunPart:
    """One pass over the runs `where` selects, off the covering runs_start index alone."""
    row = conn.execute(_RUN_PART.replace("{where}", where.sql()), where.params).fetchone()
    # Durations come back as one text value: one row instead of one per run, which is most of
    # the cost over ten thousand runs.
    return run_part_of(row[:8], joined_ints(row[8]), joined_ints(row[9]))


def error_part(conn: sqlite3.Connection, project_id: str, runs: _Where) -> ErrorPart:
    """Error messages of the runs `runs` selects. Only runs with errors are visited (their
    partial index), and each one's messages are read off its facet rows."""
    runs.add("error_count > 0")
    # CROSS JOIN keeps the runs as the outer loop: otherwise the planner may scan every error
    # facet of the project.
    return error_part_of(
        conn.execute(
            f"""SELECT f.value, f.n, r.run_id, r.start_time_us
            FROM (SELECT run_id, start_time_us FROM runs WHERE {runs.sql()}) AS r
            CROSS JOIN run_facets AS f
            WHERE f.project_id = ? AND f.run_id = r.run_id AND f.facet = 'error'""",
            [*runs.params, project_id],
        )
    )


def runs_between(project_id: str, start_us: int, end_us: int) -> _Where:
    """The project's runs that started in [start, end)."""
    where = _Where()
    where.add("project_id = ? AND start_time_us >= ? AND start_time_us < ?", project_id, start_us, end_us)
    return where
