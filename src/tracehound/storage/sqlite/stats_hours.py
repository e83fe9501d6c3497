"""/stats and /stats/breakdown without filters, added up hour by hour (storage/stats_hours.py),
read from SQLite. The per-hour stamps live in the store's memory (hour_cache.HourVersions): the
store is the file's one writer, and it stamps every hour a transaction touches before and after
COMMIT. A reader takes the global stamp before its snapshot starts and uses an hour's cached
parts only when no write to it is in flight or newer (HourVersions.usable).

Retention stamps nothing: the parts of whole hours are read from the rollups and the per-hour
aggregates (runs, run_facets, usage_hours, llm_durations), which it keeps; the spans it deletes
are read only for the partial hours and the straddling runs, which are never cached.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from tracehound.storage import stats_hours as hours
from tracehound.storage.hour_cache import HourRef, HourVersions
from tracehound.storage.hourly import HOUR_US, hour_of
from tracehound.storage.span_hours import SpanHour
from tracehound.storage.sqlite import hourly
from tracehound.storage.sqlite.stats_parts import error_part, run_part, runs_between, snapshot
from tracehound.storage.stats_parts import ErrorPart, RunPart
from tracehound.storage.types import StatsData
from tracehound.storage.usage import Usage

# Hour after hour, the first hour at or after the last one found that holds a row of `table`:
# one index seek per hour. The hours come from the tables the parts are read from (runs by their
# start, usage_hours, llm_durations), not from the spans, which retention may have deleted.
_SEEK = """
    WITH RECURSIVE found(t) AS (
        SELECT (SELECT {column} FROM {table}{hint}
            WHERE project_id = :p AND {column} >= :lo AND {column} < :hi ORDER BY {column} LIMIT 1)
        UNION ALL
        SELECT (SELECT {column} FROM {table}{hint}
            WHERE project_id = :p AND {column} >= t - ((t % :h) + :h) % :h + :h AND {column} < :hi
            ORDER BY {column} LIMIT 1)
        FROM found WHERE t IS NOT NULL
    )
    SELECT t FROM found WHERE t IS NOT NULL
"""
_NONEMPTY = [
    _SEEK.format(table="runs", column="start_time_us", hint=" INDEXED BY runs_start"),
    _SEEK.format(table="usage_hours", column="hour_us", hint=""),
    _SEEK.format(table="llm_durations", column="hour_us", hint=""),
]

_ANY_RUN = """
    SELECT 1 FROM runs INDEXED BY runs_start WHERE project_id = ? AND start_time_us >= ? AND start_time_us < ?
    LIMIT 1
"""


class StatsCache(hours.StatsCache):
    """The writer's per-hour stamps and the cached parts of whole hours."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes)
        self.versions = HourVersions()


class _Source:
    """What storage/stats_hours.py reads, from one SQLite read snapshot."""

    def __init__(self, conn: sqlite3.Connection, project_id: str, cache: StatsCache | None) -> None:
        self.conn = conn
        self.project_id = project_id
        self.versions = None if cache is None else cache.versions
        # Taken before the snapshot starts (a deferred BEGIN starts it at the first read).
        self.since = 0 if self.versions is None else self.versions.stamp()

    def nonempty(self, first: int, end: int) -> list[int]:
        bounds = {"p": self.project_id, "lo": first, "hi": end, "h": HOUR_US}
        return sorted({hour_of(t) for sql in _NONEMPTY for (t,) in self.conn.execute(sql, bounds)})

    def stamps(self, hour_list: list[int]) -> dict[HourRef, int]:
        if self.versions is None:
            return {}
        return self.versions.usable([(self.project_id, h) for h in hour_list], self.since)

    def run_part(self, start_us: int, end_us: int) -> RunPart:
        return run_part(self.conn, runs_between(self.project_id, start_us, end_us))

    def error_part(self, start_us: int, end_us: int) -> ErrorPart:
        return error_part(self.conn, self.project_id, runs_between(self.project_id, start_us, end_us))

    def span_hour(self, hour_us: int) -> SpanHour:
        return hourly.span_hour(self.conn, self.project_id, hour_us)

    def any_run(self, start_us: int, end_us: int) -> bool:
        return self.conn.execute(_ANY_RUN, (self.project_id, start_us, end_us)).fetchone() is not None

    def partial_calls(self, start_us: int, end_us: int) -> Iterable[tuple[str, str, int, int, Sequence[int]]]:
        return hourly.partial_calls(self.conn, self.project_id, start_us, end_us)

    def partial_billed(self, start_us: int, end_us: int) -> Iterable[Sequence[Any]]:
        return hourly.partial_billed(self.conn, self.project_id, start_us, end_us)

    def longest_run(self) -> int:
        return hourly.longest_run_us(self.conn, self.project_id)

    def straddling(self, since_us: int, boundary_us: int) -> list[str]:
        return hourly.straddling(self.conn, self.project_id, since_us, boundary_us)

    def run_spans(self, run_ids: list[str], lo_us: int, hi_us: int) -> Iterable[Sequence[Any]]:
        return hourly.run_spans(self.conn, self.project_id, run_ids, lo_us, hi_us)


def hour_stats(
    conn: sqlite3.Connection,
    project_id: str,
    window: tuple[int, int],
    previous: tuple[int, int] | None,
    cutoff_us: int,
    cache: StatsCache | None,
) -> StatsData:
    """What sqlite_stats.stats_data reads without filters, added up from hours."""
    source = _Source(conn, project_id, cache)
    with snapshot(conn):
        return hours.hour_stats(source, window, previous, cutoff_us, cache)


def hour_usage(
    conn: sqlite3.Connection,
    project_id: str,
    start_us: int,
    end_us: int,
    by_provider: bool,
    cache: StatsCache | None,
) -> Usage:
    """What sqlite_stats.breakdown reads by model or provider without filters, from hours."""
    source = _Source(conn, project_id, cache)
    with snapshot(conn):
        return hours.hour_usage(source, start_us, end_us, by_provider, cache)


def hour_durations(
    conn: sqlite3.Connection,
    project_id: str,
    buckets: tuple[int, int, int],
    cutoff_us: int,
    cache: StatsCache,
) -> list[tuple[int, list[int]]]:
    """The run durations of the percentile time series by whole hours (storage/stats_hours.py)."""
    source = _Source(conn, project_id, cache)
    with snapshot(conn):
        return hours.hour_durations(source, buckets, cutoff_us, cache)


def hour_model_cells(
    conn: sqlite3.Connection, project_id: str, buckets: tuple[int, int, int], cache: StatsCache | None
) -> list[hours.ModelCell]:
    """The LLM calls and usage by model of the time series by whole hours (storage/stats_hours.py)."""
    source = _Source(conn, project_id, cache)
    with snapshot(conn):
        return hours.hour_model_cells(source, buckets, cache)
