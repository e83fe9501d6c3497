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

from tracehound.storage.hour_cache import HourCache, HourVersions, Sized
from tracehound.storage.hourly import HOUR_US, hour_of
from tracehound.storage.sqlite_hourly import SpanHour, hourly_usage, span_hour, whole_hours
from tracehound.storage.sqlite_stats_parts import (
    ErrorPart,
    ErrorTally,
    RunPart,
    StatsData,
    add_errors,
    error_part,
    run_figures,
    run_part,
    runs_between,
    snapshot,
)
from tracehound.storage.usage import Usage

P = TypeVar("P", bound=Sized)

_NEXT_SPAN = """
    SELECT start_time_us FROM spans INDEXED BY spans_start
    WHERE project_id = ? AND start_time_us >= ? AND start_time_us < ? ORDER BY start_time_us LIMIT 1
"""

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
    """The parts of whole hours one read snapshot uses: cached when the hour's stamp allows,
    else read (and then kept, when it allows)."""

    def __init__(self, conn: sqlite3.Connection, project_id: str, cache: StatsCache | None, since: int):
        self.conn = conn
        self.project_id = project_id
        self.cache = cache
        self.since = since

    def nonempty(self, start_us: int, end_us: int) -> list[int]:
        """The whole hours of [start, end) in which some span started: every hour that holds a
        run's start or a span's usage. One index seek each, so an idle month costs nothing."""
        first, end = whole_hours(start_us, end_us)
        out: list[int] = []
        while first < end:
            row = self.conn.execute(_NEXT_SPAN, (self.project_id, first, end)).fetchone()
            if row is None:
                break
            out.append(hour_of(row[0]))
            first = out[-1] + HOUR_US
        return out

    def _parts(self, kind: str, hours: list[int], read: Callable[[int], P]) -> list[P]:
        cache = self.cache
        if cache is None:
            return [read(h) for h in hours]
        stamps = cache.versions.usable([(self.project_id, h) for h in hours], self.since)
        out: list[P] = []
        for h in hours:
            ref = (self.project_id, h)
            stamp = stamps.get(ref)
            key = (f"{self.project_id}\0{kind}", h)
            hit = None if stamp is None else cache.parts.get(key, stamp)
            if hit is None:
                part = read(h)
                if stamp is not None:
                    cache.parts.put(key, stamp, part)
            else:
                part = hit  # type: ignore[assignment]  # kinds do not share keys
            out.append(part)
        return out

    def runs(self, hours: list[int]) -> list[RunPart]:
        return self._parts(
            "runs", hours, lambda h: run_part(self.conn, runs_between(self.project_id, h, h + HOUR_US))
        )

    def errors(self, hours: list[int]) -> list[ErrorPart]:
        return self._parts(
            "errors",
            hours,
            lambda h: error_part(self.conn, self.project_id, runs_between(self.project_id, h, h + HOUR_US)),
        )

    def spans(self, hours: list[int]) -> list[SpanHour]:
        return self._parts("spans", hours, lambda h: span_hour(self.conn, self.project_id, h))


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
    return edges + hours.runs(whole)


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
        errors: dict[str, ErrorTally] = add_errors({}, edges + hours.errors(whole))
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
