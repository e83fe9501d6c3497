"""/stats and /stats/breakdown without filters, added up hour by hour (storage/stats_hours.py),
read from PostgreSQL.

Any number of processes write one database, so the per-hour stamps are the `hour_versions` table,
which every ingest transaction bumps for every hour it touched, in the transaction itself. The
stamps are read in the same REPEATABLE READ snapshot as the parts: a cached part tagged with the
stamp this snapshot sees was read under exactly the commits to that hour this snapshot sees, so a
write by any process makes another process's cached part stale, never fresh. An hour with no
stamp row was never written (stamp 0).

Retention bumps nothing, as on SQLite: the parts of whole hours are read from what it keeps
(runs, run_facets, usage_hours, llm_durations; it only sets runs.spans_expired_us, which no part
reads); the spans it deletes are read only for partial hours and straddling runs, never cached.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tracehound.ids import hex_key
from tracehound.storage import stats_hours as hours
from tracehound.storage.hour_cache import HourRef
from tracehound.storage.hourly import HOUR_US, hour_of
from tracehound.storage.postgres.connect import Conn
from tracehound.storage.postgres.stats_parts import error_part, run_part, runs_between, snapshot
from tracehound.storage.span_hours import SpanHour, span_hour_of
from tracehound.storage.stats_parts import ErrorPart, RunPart
from tracehound.storage.types import StatsData
from tracehound.storage.usage import Usage

StatsCache = hours.StatsCache

_SEEK = """
    WITH RECURSIVE found(t) AS (
        SELECT (SELECT {column} FROM {table}
            WHERE project_id = %(p)s AND {column} >= %(lo)s AND {column} < %(hi)s ORDER BY {column} LIMIT 1)
        UNION ALL
        SELECT (SELECT {column} FROM {table}
            WHERE project_id = %(p)s AND {column} >= t - ((t %% %(h)s) + %(h)s) %% %(h)s + %(h)s
                AND {column} < %(hi)s
            ORDER BY {column} LIMIT 1)
        FROM found WHERE t IS NOT NULL
    )
    SELECT t FROM found WHERE t IS NOT NULL
"""
_NONEMPTY = [
    _SEEK.format(table="runs", column="start_time_us"),
    _SEEK.format(table="usage_hours", column="hour_us"),
    _SEEK.format(table="llm_durations", column="hour_us"),
]

_CALLS = """
    SELECT model, provider, COUNT(*), SUM(is_error)::bigint, array_agg(duration_us)
    FROM llm_durations
    WHERE project_id = %s AND hour_us >= %s AND hour_us <= %s AND start_time_us >= %s AND start_time_us < %s
    GROUP BY hour_us, model, provider ORDER BY hour_us, model, provider
"""
_HOUR_CALLS = """
    SELECT model, provider, SUM(is_error)::bigint, array_agg(duration_us)
    FROM llm_durations WHERE project_id = %s AND hour_us = %s
    GROUP BY model, provider ORDER BY model, provider
"""
_HOUR_BILLED = """
    SELECT model, provider, spans, cost, input_tokens, output_tokens, cached_tokens, unpriced
    FROM usage_hours WHERE project_id = %s AND hour_us = %s ORDER BY model, provider
"""
# Summed in SQLite's spans_counted order (start, then cost), grouped in its order (NULL first).
_BILLED_SPANS = """
    SELECT model, provider, COUNT(*), COALESCE(SUM(cost ORDER BY start_time_us, cost), 0)::float8,
        COALESCE(SUM(input_tokens), 0)::bigint, COALESCE(SUM(output_tokens), 0)::bigint,
        COALESCE(SUM(cached_tokens), 0)::bigint, COUNT(*) FILTER (WHERE cost_source = 'unpriced')
    FROM spans WHERE project_id = %s AND usage_counted = 1 AND start_time_us >= %s AND start_time_us < %s
    GROUP BY model, provider ORDER BY model NULLS FIRST, provider NULLS FIRST
"""
_STRADDLING = """
    SELECT run_id FROM runs
    WHERE project_id = %s AND start_time_us >= %s AND start_time_us < %s AND start_time_us + duration_us >= %s
"""
_RUN_SPANS = """
    SELECT s.model, s.provider, s.is_llm_call, s.is_error, s.finish_time_us - s.start_time_us,
        s.usage_counted, s.cost, s.input_tokens, s.output_tokens, s.cached_tokens, s.cost_source
    FROM spans s
    WHERE s.project_id = %s AND s.trace_key = ANY(%s) AND s.run_id = ANY(%s)
        AND s.start_time_us >= %s AND s.start_time_us < %s
        AND (s.is_llm_call = 1 OR s.usage_counted = 1)
    ORDER BY s.trace_key, s.id
"""


def run_trace_keys(conn: Conn, project_id: str, run_ids: Sequence[str]) -> list[int]:
    """Index keys of the traces the runs' spans live in."""
    rows = conn.execute(
        "SELECT DISTINCT value FROM run_facets "
        "WHERE project_id = %s AND facet = 'trace' AND run_id = ANY(%s)",
        (project_id, list(run_ids)),
    )
    return sorted({hex_key(v) for (v,) in rows})


class _Source:
    """What storage/stats_hours.py reads, from one REPEATABLE READ snapshot."""

    def __init__(self, conn: Conn, project_id: str) -> None:
        self.conn = conn
        self.project_id = project_id

    def nonempty(self, first: int, end: int) -> list[int]:
        bounds = {"p": self.project_id, "lo": first, "hi": end, "h": HOUR_US}
        return sorted({hour_of(t) for sql in _NONEMPTY for (t,) in self.conn.execute(sql, bounds)})

    def stamps(self, hour_list: list[int]) -> dict[HourRef, int]:
        found: dict[int, int] = dict(
            self.conn.execute(
                "SELECT hour_us, version FROM hour_versions WHERE project_id = %s AND hour_us = ANY(%s)",
                (self.project_id, hour_list),
            ).fetchall()
        )
        return {(self.project_id, h): int(found.get(h, 0)) for h in hour_list}

    def run_part(self, start_us: int, end_us: int) -> RunPart:
        return run_part(self.conn, runs_between(self.project_id, start_us, end_us))

    def error_part(self, start_us: int, end_us: int) -> ErrorPart:
        return error_part(self.conn, self.project_id, runs_between(self.project_id, start_us, end_us))

    def span_hour(self, hour_us: int) -> SpanHour:
        args = (self.project_id, hour_us)
        return span_hour_of(
            self.conn.execute(_HOUR_CALLS, args), self.conn.execute(_HOUR_BILLED, args).fetchall()
        )

    def any_run(self, start_us: int, end_us: int) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM runs WHERE project_id = %s AND start_time_us >= %s AND start_time_us < %s LIMIT 1",
            (self.project_id, start_us, end_us),
        ).fetchone()
        return row is not None

    def partial_calls(self, start_us: int, end_us: int) -> Iterable[tuple[str, str, int, int, Sequence[int]]]:
        args = (self.project_id, hour_of(start_us), hour_of(end_us - 1), start_us, end_us)
        return self.conn.execute(_CALLS, args).fetchall()

    def partial_billed(self, start_us: int, end_us: int) -> Iterable[Sequence[Any]]:
        return self.conn.execute(_BILLED_SPANS, (self.project_id, start_us, end_us)).fetchall()

    def longest_run(self) -> int:
        row = self.conn.execute(
            "SELECT MAX(duration_us) FROM runs WHERE project_id = %s", (self.project_id,)
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def straddling(self, since_us: int, boundary_us: int) -> list[str]:
        args = (self.project_id, since_us, boundary_us, boundary_us)
        return [r for (r,) in self.conn.execute(_STRADDLING, args)]

    def run_spans(self, run_ids: list[str], lo_us: int, hi_us: int) -> Iterable[Sequence[Any]]:
        keys = run_trace_keys(self.conn, self.project_id, run_ids)
        args = (self.project_id, keys, run_ids, lo_us, hi_us)
        return self.conn.execute(_RUN_SPANS, args).fetchall()


def hour_stats(
    conn: Conn,
    project_id: str,
    window: tuple[int, int],
    previous: tuple[int, int] | None,
    cutoff_us: int,
    cache: hours.StatsCache | None,
) -> StatsData:
    with snapshot(conn):
        return hours.hour_stats(_Source(conn, project_id), window, previous, cutoff_us, cache)


def hour_usage(
    conn: Conn, project_id: str, start_us: int, end_us: int, by_provider: bool, cache: hours.StatsCache | None
) -> Usage:
    with snapshot(conn):
        return hours.hour_usage(_Source(conn, project_id), start_us, end_us, by_provider, cache)


def hour_durations(
    conn: Conn, project_id: str, buckets: tuple[int, int, int], cutoff_us: int, cache: hours.StatsCache
) -> list[tuple[int, list[int]]]:
    with snapshot(conn):
        return hours.hour_durations(_Source(conn, project_id), buckets, cutoff_us, cache)


def hour_model_cells(
    conn: Conn, project_id: str, buckets: tuple[int, int, int], cache: hours.StatsCache | None
) -> list[hours.ModelCell]:
    with snapshot(conn):
        return hours.hour_model_cells(_Source(conn, project_id), buckets, cache)
