"""/stats and /stats/breakdown without filters, added up hour by hour, whichever backend reads the
rows: a window is its whole hours, each read as three parts (its runs' figures, its runs' error
messages, its spans' usage), plus the partial hours at its edges, read from the spans and runs
each time. Whole past hours are kept in the store's `StatsCache`, each tagged with its hour's
stamp, and used again only under the same stamp; with no cache (a read-only store, or a cache of
size 0) every hour is read, and the answer is the same to the last bit, since the same parts are
added up in the same order.

A part of hour H covers the runs that started in H (run figures, error messages) or the spans
that started in H (usage). The writer stamps every hour a transaction touched: the hours of its
spans, of the spans whose usage it took back (the ancestor rule), and the start hours, old and
new, of the runs it changed. What depends on the time of the request (which runs are still
running) is decided when the parts are added up, not kept. Where the stamps live, and when one
may be trusted, is the backend's business (`HourSource.stamps`): SQLite keeps them in its one
writer's memory, PostgreSQL in a table every writer process updates.

Usage of a window's runs (by model or provider) is built in three exact parts:
1. the spans that started in the window: whole hours as `SpanHour`s (from the per-hour
   aggregates, or the cache of them), the partial hours at the edges from the spans' rows;
2. minus the spans in the window of runs that started before it (the few runs straddling its
   start);
3. plus the spans after the window of runs that started in it (the few still going at its end).
No run lasts longer than the project's longest run, which bounds the search for those runs.

Each function here runs inside one read snapshot that the backend opened for `source`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from tracehound.storage.hour_cache import HourCache, HourRef, Sized
from tracehound.storage.hourly import HOUR_US
from tracehound.storage.span_hours import (
    Acc,
    ModelSums,
    SpanHour,
    by_model,
    edges,
    merge_span_hours,
    whole_hours,
)
from tracehound.storage.stats_parts import (
    ErrorPart,
    RunPart,
    merge_errors,
    merge_runs,
    run_figures,
)
from tracehound.storage.types import StatsData
from tracehound.storage.usage import Usage

P = TypeVar("P", bound=Sized)
ModelCell = tuple[str | None, int, ModelSums]  # model, bucket start, its sums


class StatsCache:
    """The cached parts of whole hours, at most `max_bytes` (estimated: 8 bytes a kept
    duration, about 150 a model or error message)."""

    def __init__(self, max_bytes: int) -> None:
        self.parts: HourCache[Sized] = HourCache(max_bytes)


class HourSource(Protocol):
    """One backend's reads of one project, all in the snapshot the backend opened."""

    project_id: str

    def nonempty(self, first: int, end: int) -> list[int]:
        """The hours of [first, end), on hour boundaries, that hold a run's start, a billed
        span's usage or an LLM call's duration, ascending."""

    def stamps(self, hours: list[int]) -> dict[HourRef, int]:
        """The stamps of those of `hours` whose cached parts this snapshot may use (and store):
        an entry with the same stamp sees the hour as this snapshot does."""

    def run_part(self, start_us: int, end_us: int) -> RunPart:
        """The runs that started in [start, end)."""

    def error_part(self, start_us: int, end_us: int) -> ErrorPart:
        """The error messages of the runs that started in [start, end)."""

    def span_hour(self, hour_us: int) -> SpanHour:
        """One whole hour's LLM calls and counted spans, from the per-hour aggregates."""

    def any_run(self, start_us: int, end_us: int) -> bool:
        """Whether a run started in [start, end)."""

    def partial_calls(self, start_us: int, end_us: int) -> Iterable[tuple[str, str, int, int, Sequence[int]]]:
        """The LLM calls that started in [start, end), as `Acc.add_calls` takes them: groups by
        hour, model and provider, in that order."""

    def partial_billed(self, start_us: int, end_us: int) -> Iterable[Sequence[Any]]:
        """The counted spans that started in [start, end), as `Acc.add_billed` takes them:
        groups by model and provider in that order, each summed in start order."""

    def longest_run(self) -> int:
        """The project's longest run duration (0 with no runs)."""

    def straddling(self, since_us: int, boundary_us: int) -> list[str]:
        """Runs that started in [since, boundary) and were still going at `boundary`."""

    def run_spans(self, run_ids: list[str], lo_us: int, hi_us: int) -> Iterable[Sequence[Any]]:
        """The spans of `run_ids` that started in [lo, hi) and are LLM calls or counted, as
        `Acc.add_spans` takes them, in the order of their trace keys, then of storage."""


class Hours:
    """The whole hours one read snapshot uses, merged into one part per kind: the merged part of
    the same run of hours, or else each hour's part, comes from the cache when their stamps allow;
    what is read (or merged) is kept when they allow. With no cache, the same parts are read and
    merged the same way, so the answer is the same to the last bit."""

    def __init__(self, source: HourSource, cache: StatsCache | None):
        self.source = source
        self.project_id = source.project_id
        self.cache = cache
        # Stamps read once for many hours (`buckets`): one snapshot sees each hour one way.
        self._known: dict[HourRef, int] = {}

    def nonempty(self, start_us: int, end_us: int) -> list[int]:
        """The whole hours of [start, end) that hold anything (an idle month costs nothing)."""
        first, end = whole_hours(start_us, end_us)
        return [] if first >= end else self.source.nonempty(first, end)

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
        known = self._known
        if all((self.project_id, h) in known for h in hours):
            return {(self.project_id, h): known[(self.project_id, h)] for h in hours}
        return self.source.stamps(hours)

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
        return self.source.run_part(h, h + HOUR_US)

    def runs(self, hours: list[int]) -> RunPart:
        return self._merged("runs", hours, self._run_hour, merge_runs)

    def run_hour(self, hour: int) -> RunPart:
        """One hour's runs part, without a merged copy of it."""
        return self._parts("runs", [hour], self._run_hour, self._stamps([hour]))[0]

    def errors(self, hours: list[int]) -> ErrorPart:
        return self._merged("errors", hours, lambda h: self.source.error_part(h, h + HOUR_US), merge_errors)

    def spans(self, hours: list[int]) -> SpanHour:
        return self._merged("spans", hours, self.source.span_hour, merge_span_hours)

    def span_hour(self, hour: int) -> SpanHour:
        """One hour's spans part, without a merged copy of it."""
        return self._parts("spans", [hour], self.source.span_hour, self._stamps([hour]))[0]

    def buckets(self, start_us: int, end_us: int, interval_us: int) -> dict[int, list[int]]:
        """The nonempty whole hours of [start, end) by bucket of `interval_us` from `start`."""
        per_bucket: dict[int, list[int]] = {}
        found = self.nonempty(start_us, end_us)
        for h in found:
            per_bucket.setdefault(h - (h - start_us) % interval_us, []).append(h)
        if self.cache is not None and found:
            self._known = self.source.stamps(found)  # one read, not one per bucket
        return per_bucket


def _run_parts(hours: Hours, start_us: int, end_us: int, whole: list[int]) -> list[RunPart]:
    return [hours.runs(whole), *(hours.source.run_part(lo, hi) for lo, hi in edges(start_us, end_us))]


def _window_spans(source: HourSource, start_us: int, end_us: int, whole: SpanHour, acc: Acc) -> None:
    """Part 1: the LLM calls and counted spans that started in [start, end): the whole hours,
    `whole`, then the partial hours at the edges."""
    acc.add_hours(whole)
    for lo, hi in edges(start_us, end_us):
        acc.add_calls(source.partial_calls(lo, hi))
        acc.add_billed(source.partial_billed(lo, hi))


def _runs_spans(source: HourSource, run_ids: list[str], lo: int, hi: int, acc: Acc, sign: int) -> None:
    """Parts 2 and 3: add (or take away) the spans of `run_ids` that started in [lo, hi)."""
    for i in range(0, len(run_ids), 200):
        acc.add_spans(source.run_spans(run_ids[i : i + 200], lo, hi), sign)


def hourly_usage(source: HourSource, start_us: int, end_us: int, whole: SpanHour, by_provider: bool) -> Usage:
    """Usage of the spans of the runs that started in [start, end), by model (or provider),
    without filters, from the aggregates: `whole` is the window's whole hours, merged."""
    acc = Acc()
    _window_spans(source, start_us, end_us, whole, acc)
    longest = source.longest_run()
    before = source.straddling(start_us - longest, start_us)
    _runs_spans(source, before, start_us, end_us, acc, sign=-1)
    after = source.straddling(max(start_us, end_us - longest), end_us)
    _runs_spans(source, after, end_us, 2**63 - 1, acc, sign=1)
    return acc.usage(by_provider)


def hour_stats(
    source: HourSource,
    window: tuple[int, int],
    previous: tuple[int, int] | None,
    cutoff_us: int,
    cache: StatsCache | None,
) -> StatsData:
    """What /stats reads without filters, added up from hours."""
    start_us, end_us = window
    hours = Hours(source, cache)
    whole = hours.nonempty(start_us, end_us)
    current = run_figures(_run_parts(hours, start_us, end_us, whole), cutoff_us)
    before = None
    if previous is not None:
        before = run_figures(_run_parts(hours, *previous, hours.nonempty(*previous)), cutoff_us)
    errors = merge_errors([hours.errors(whole), *(source.error_part(lo, hi) for lo, hi in edges(*window))])
    usage = Usage()
    if current.max_finish_us is not None:
        usage = hourly_usage(source, start_us, end_us, hours.spans(whole), by_provider=False)
    return StatsData(current=current, previous=before, errors=errors.tallies, usage=usage)


def hour_usage(
    source: HourSource, start_us: int, end_us: int, by_provider: bool, cache: StatsCache | None
) -> Usage:
    """What the breakdown by model or provider reads without filters, from hours."""
    if not source.any_run(start_us, end_us):
        return Usage()
    hours = Hours(source, cache)
    whole = hours.nonempty(start_us, end_us)
    return hourly_usage(source, start_us, end_us, hours.spans(whole), by_provider)


def hour_durations(
    source: HourSource, buckets: tuple[int, int, int], cutoff_us: int, cache: StatsCache
) -> list[tuple[int, list[int]]]:
    """Per bucket of (start, end, interval), a whole number of hours long and on an hour, the
    durations of the finished runs that started in it (ascending; empty buckets left out): the
    percentile time series by run, from the same parts of whole hours as /stats."""
    hours = Hours(source, cache)
    out = []
    for bucket, whole in hours.buckets(*buckets).items():
        part = hours.runs(whole) if len(whole) > 1 else hours.run_hour(whole[0])
        durations = run_figures([part], cutoff_us).durations_us
        if durations:
            out.append((bucket, durations))
    return out


def hour_model_cells(
    source: HourSource, buckets: tuple[int, int, int], cache: StatsCache | None
) -> list[ModelCell]:
    """Per model and bucket of (start, end, interval), a whole number of hours long and on an
    hour, the LLM calls and counted spans that started in it, from the same `SpanHour`s of
    whole hours as /stats: (model, bucket start, sums), by model (None first), then bucket."""
    hours = Hours(source, cache)
    cells = []
    for bucket, whole in hours.buckets(*buckets).items():
        part = hours.spans(whole) if len(whole) > 1 else hours.span_hour(whole[0])
        cells += [(model, bucket, sums) for model, sums in by_model(part).items()]
    # SQLite's GROUP BY model, bucket order: NULL first, then code points (= UTF-8 bytes).
    cells.sort(key=lambda c: (c[0] is not None, c[0] or "", c[1]))
    return cells
