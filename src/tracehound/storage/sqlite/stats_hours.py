"""/stats and /stats/breakdown without filters, added up hour by hour: a window is its whole
hours, each read as three parts (its runs' figures, its runs' error messages, its spans' usage),
plus the partial hours at its edges, read from the spans and runs each time. Whole past hours
are kept in the store's `StatsCache` and checked against the writer's per-hour stamps, so a
day's answer reads about two hours' worth of rows; with no cache (a read-only store, or a cache
of size 0) every hour is read, and the answer is the same to the last bit, since the same parts
are added up in the same order.

A part of hour H covers the runs that started in H (run figures, error messages) or the spans
that started in H (usage). The writer stamps every hour a transaction touched: the hours of its
spans, of the spans whose usage it took back (the ancestor rule), and the start hours, old and
new, of the runs it changed. What depends on the time of the request (which runs are still
running) is decided when the parts are added up, not kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from tracehound.storage.hour_cache import HourCache, HourRef, HourVersions, Sized
from tracehound.storage.hourly import HOUR_US, hour_of
from tracehound.storage.sqlite.hourly import (
    SpanHour,
    hourly_usage,
    merge_span_hours,
    span_hour,
    whole_hours,
)
from tracehound.storage.sqlite.stats_parts import (
    ErrorPart,
    RunPart,
    error_part,
    merge_errors,
    merge_runs,
    run_figures,
    run_part,
    runs_between,
    snapshot,
)
from tracehound.storage.types import StatsData
from tracehound.storage.usage import Usage

P = TypeVar("P", bound=Sized)

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


class StatsCache:
    """The writer's per-hour stamps and the cached parts of whole hours, at most `max_bytes`
    (estimated: 8 bytes a kept duration, about 150 a model or error message)."""

    def __init__(self, max_bytes: int) -> None:
        self.versions = HourVersions()
        self.parts: HourCache[Sized] = HourCache(max_bytes)


class _Hours:
    """The whole hours one read snapshot uses, merged into one part per kind: the merged part of
    the same run of hours, or else each hour's part, comes from the cache when their stamps allow;
    what is read (or merged) is kept when they allow. With no cache, the same parts are read and
    merged the same way, so the answer is the same to the last bit."""

    def __init__(self, conn: sqlite3.Connection, project_id: str, cache: StatsCache | None, since: int):
        self.conn = conn
        self.project_id = project_id
        self.cache = cache
        self.since = since

    def nonempty(self, start_us: int, end_us: int) -> list[int]:
        """The whole hours of [start, end) that hold a run's start, a billed span's usage or an
        LLM call's duration. One index seek each, so an idle month costs nothing."""
        first, end = whole_hours(start_us, end_us)
        if first >= end:
            return []
        bounds = {"p": self.project_id, "lo": first, "hi": end, "h": HOUR_US}
        return sorted({hour_of(t) for sql in _NONEMPTY for (t,) in self.conn.execute(sql, bounds)})

    def _parts(
        self, kind: str, hours: list[int], read: Callable[[int], P], stamps: dict[HourRef, int]
    ) -> list[P]:
        cache = self.cache
        if cache is None:
            return [read(h) for h in hours]
        parts: list[P] = []
        for h in hours:
            stamp = stamps.get((self.project_id, h))
            key = (self.project_id, kind, h)
            part = None if stamp is None else cache.parts.get(key, stamp)
            if part is None:
                part = read(h)
                if stamp is not None:
                    cache.parts.put(key, stamp, part)
            parts.append(part)  # type: ignore[arg-type]  # keys name their kind
        return parts

    def _stamps(self, hours: list[int]) -> dict[HourRef, int]:
        if self.cache is None:
            return {}
        return self.cache.versions.usable([(self.project_id, h) for h in hours], self.since)

    def _merged(
        self, kind: str, hours: list[int], read: Callable[[int], P], merge: Callable[[list[P]], P]
    ) -> P:
        cache = self.cache
        stamps = self._stamps(hours)
        block_key = (self.project_id, kind, tuple(hours))
        block_stamp = tuple(stamps.values()) if cache is not None and len(stamps) == len(hours) else None
        if cache is not None and block_stamp is not None:
            hit = cache.parts.get(block_key, block_stamp)
            if hit is not None:
                return hit  # type: ignore[return-value]  # keys name their kind
        merged = merge(self._parts(kind, hours, read, stamps))
        if cache is not None and block_stamp is not None:
            cache.parts.put(block_key, block_stamp, merged)
        return merged

    def _run_hour(self, h: int) -> RunPart:
        return run_part(self.conn, runs_between(self.project_id, h, h + HOUR_US))

    def runs(self, hours: list[int]) -> RunPart:
        return self._merged("runs", hours, self._run_hour, merge_runs)

    def run_hour(self, hour: int) -> RunPart:
        """One hour's runs part, without a merged copy of it."""
        return self._parts("runs", [hour], self._run_hour, self._stamps([hour]))[0]

    def errors(self, hours: list[int]) -> ErrorPart:
        def read(h: int) -> ErrorPart:
            return error_part(self.conn, self.project_id, runs_between(self.project_id, h, h + HOUR_US))

        return self._merged("errors", hours, read, merge_errors)

    def spans(self, hours: list[int]) -> SpanHour:
        return self._merged(
            "spans", hours, lambda h: span_hour(self.conn, self.project_id, h), merge_span_hours
        )


def _edges(start_us: int, end_us: int) -> list[tuple[int, int]]:
    """The partial hours of [start, end), or the whole window when it holds no whole hour."""
    first, end = whole_hours(start_us, end_us)
    if first >= end:
        return [(start_us, end_us)]
    return [(lo, hi) for lo, hi in ((start_us, first), (end, end_us)) if lo < hi]


def _run_parts(hours: _Hours, start_us: int, end_us: int, whole: list[int]) -> list[RunPart]:
    edges = [
        run_part(hours.conn, runs_between(hours.project_id, lo, hi)) for lo, hi in _edges(start_us, end_us)
    ]
    return [hours.runs(whole), *edges]


def _begin(cache: StatsCache | None) -> int:
    # Taken before the snapshot starts (a deferred BEGIN starts it at the first read).
    return 0 if cache is None else cache.versions.stamp()


def hour_stats(
    conn: sqlite3.Connection,
    project_id: str,
    window: tuple[int, int],
    previous: tuple[int, int] | None,
    cutoff_us: int,
    cache: StatsCache | None,
) -> StatsData:
    """What sqlite_stats.stats_data reads without filters, added up from hours."""
    since = _begin(cache)
    start_us, end_us = window
    with snapshot(conn):
        hours = _Hours(conn, project_id, cache, since)
        whole = hours.nonempty(start_us, end_us)
        current = run_figures(_run_parts(hours, start_us, end_us, whole), cutoff_us)
        before = None
        if previous is not None:
            parts = _run_parts(hours, *previous, hours.nonempty(*previous))
            before = run_figures(parts, cutoff_us)
        edges = [error_part(conn, project_id, runs_between(project_id, lo, hi)) for lo, hi in _edges(*window)]
        errors = merge_errors([hours.errors(whole), *edges]).tallies
        usage = Usage()
        if current.max_finish_us is not None:
            usage = hourly_usage(conn, project_id, start_us, end_us, hours.spans(whole), by_provider=False)
    return StatsData(current=current, previous=before, errors=errors, usage=usage)


def hour_usage(
    conn: sqlite3.Connection,
    project_id: str,
    start_us: int,
    end_us: int,
    by_provider: bool,
    cache: StatsCache | None,
) -> Usage:
    """What sqlite_stats.breakdown reads by model or provider without filters, from hours."""
    since = _begin(cache)
    with snapshot(conn):
        hours = _Hours(conn, project_id, cache, since)
        if conn.execute(_ANY_RUN, (project_id, start_us, end_us)).fetchone() is None:
            return Usage()
        whole = hours.nonempty(start_us, end_us)
        return hourly_usage(conn, project_id, start_us, end_us, hours.spans(whole), by_provider)


def hour_durations(
    conn: sqlite3.Connection,
    project_id: str,
    buckets: tuple[int, int, int],
    cutoff_us: int,
    cache: StatsCache,
) -> list[tuple[int, list[int]]]:
    """Per bucket of (start, end, interval), a whole number of hours long and on an hour, the
    durations of the finished runs that started in it (ascending; empty buckets left out): the
    percentile time series by run, from the same parts of whole hours as /stats."""
    start_us, end_us, interval_us = buckets
    since = _begin(cache)
    out = []
    with snapshot(conn):
        hours = _Hours(conn, project_id, cache, since)
        nonempty = hours.nonempty(start_us, end_us)
        per_bucket: dict[int, list[int]] = {}
        for h in nonempty:
            per_bucket.setdefault(h - (h - start_us) % interval_us, []).append(h)
        for bucket, whole in per_bucket.items():
            part = hours.runs(whole) if len(whole) > 1 else hours.run_hour(whole[0])
            durations = run_figures([part], cutoff_us).durations_us
            if durations:
                out.append((bucket, durations))
    return out
