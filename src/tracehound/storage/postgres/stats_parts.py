"""The parts /stats adds up (storage/stats_parts.py), read from PostgreSQL. Float sums are
ordered as SQLite's index scans add them (runs_start: start, then run id), so both backends give
the same answer to the last bit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tracehound.storage.postgres.connect import Conn
from tracehound.storage.postgres.where import Where
from tracehound.storage.stats_parts import ErrorPart, RunPart, error_part_of, run_part_of

_RUN_PART = """
    SELECT COUNT(*), COALESCE(SUM(cost ORDER BY start_time_us, run_id), 0)::float8,
        COALESCE(SUM(llm_calls), 0)::bigint, COALESCE(SUM(input_tokens), 0)::bigint,
        COALESCE(SUM(output_tokens), 0)::bigint, COALESCE(SUM(cached_tokens), 0)::bigint,
        MAX(start_time_us + duration_us), COUNT(*) FILTER (WHERE root_count > 0 AND error_count > 0),
        COALESCE(array_agg(duration_us) FILTER (WHERE root_count > 0), '{}'),
        COALESCE(array_agg(ARRAY[last_seen_us, (error_count > 0)::int::bigint, duration_us])
            FILTER (WHERE root_count = 0), '{}')
    FROM runs WHERE {where}
"""


@contextmanager
def snapshot(conn: Conn) -> Iterator[Conn]:
    """One REPEATABLE READ, read-only transaction: the statements of one answer (and the hour
    stamps they are checked against) see the same commits."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield conn


def run_part(conn: Conn, where: Where) -> RunPart:
    row = conn.execute(_RUN_PART.replace("{where}", where.sql()), where.params).fetchone()
    assert row is not None
    flat = [v for triple in row[9] for v in triple]
    return run_part_of(row[:8], row[8], flat)


def error_part(conn: Conn, project_id: str, runs: Where) -> ErrorPart:
    """Error messages of the runs `runs` selects, off runs_with_errors and each run's facets."""
    runs.add("error_count > 0")
    return error_part_of(
        conn.execute(
            f"""SELECT f.value, f.n, r.run_id, r.start_time_us
            FROM (SELECT run_id, start_time_us FROM runs WHERE {runs.sql()}) AS r
            JOIN run_facets AS f ON f.project_id = %s AND f.run_id = r.run_id AND f.facet = 'error'""",
            [*runs.params, project_id],
        )
    )


def runs_between(project_id: str, start_us: int, end_us: int) -> Where:
    where = Where()
    where.add("project_id = %s AND start_time_us >= %s AND start_time_us < %s", project_id, start_us, end_us)
    return where
