"""Usage of a window's runs by model or provider, read off the per-hour aggregates kept at ingest
(`usage_hours`, `llm_durations`; see storage/hourly.py) instead of the spans themselves.

The aggregates are by span start, and a usage row sums the spans of the window's runs, so the
answer is built in three exact parts:
1. the spans that started in the window: whole hours as `SpanHour`s (from `usage_hours` and
   `llm_durations`, or the cache of them), the partial hours at the edges from the covering
   `spans_counted` index and from `llm_durations`, whose rows carry their start;
2. minus the spans in the window of runs that started before it (the few runs straddling its
   start);
3. plus the spans after the window of runs that started in it (the few still going at its end).
"""

from __future__ import annotations

import sqlite3
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain

from tracehound.storage.hour_cache import values_bytes
from tracehound.storage.hourly import HOUR_US, hour_of, key_name
from tracehound.storage.sqlite.runs import joined_ints
from tracehound.storage.sqlite.spans import run_trace_keys
from tracehound.storage.usage import Billed, Calls, Usage

# (model, provider)
Group = tuple[str | None, str | None]

_CALLS = """
    SELECT model, provider, COUNT(*), SUM(is_error), group_concat(duration_us)
    FROM llm_durations
    WHERE project_id = ? AND hour_us >= ? AND hour_us <= ? AND start_time_us >= ? AND start_time_us < ?
    GROUP BY hour_us, model, provider
"""

_HOUR_CALLS = """
    SELECT model, provider, SUM(is_error), group_concat(duration_us)
    FROM llm_durations WHERE project_id = ? AND hour_us = ? GROUP BY model, provider
"""

_HOUR_BILLED = """
    SELECT model, provider, spans, cost, input_tokens, output_tokens, cached_tokens, unpriced
    FROM usage_hours WHERE project_id = ? AND hour_us = ?
"""

_BILLED_SPANS = """
    SELECT model, provider, COUNT(*), TOTAL(cost), COALESCE(SUM(input_tokens), 0),
        COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_tokens), 0),
        SUM(cost_source IS 'unpriced')
    FROM spans INDEXED BY spans_counted
    WHERE project_id = ? AND usage_counted = 1 AND start_time_us >= ? AND start_time_us < ?
    GROUP BY model, provider
"""

# Runs that started in [since, boundary) and were still going at `boundary`; runs_start holds
# start and duration, so no run row is read.
_STRADDLING = """
    SELECT run_id FROM runs INDEXED BY runs_start
    WHERE project_id = ? AND start_time_us >= ? AND start_time_us < ? AND start_time_us + duration_us >= ?
"""

_RUN_SPANS = """
    SELECT model, provider, is_llm_call, is_error, finish_time_us - start_time_us, usage_counted,
        cost, input_tokens, output_tokens, cached_tokens, cost_source
    FROM spans INDEXED BY spans_trace WHERE trace_key IN ({marks}) AND project_id = ? AND run_id IN ({runs})
        AND start_time_us >= ? AND start_time_us < ? AND (is_llm_call = 1 OR usage_counted = 1)
"""


@dataclass(slots=True)
class SpanHour:
    """The LLM calls and counted spans that started in whole hours (one, or several merged), by
    (model, provider): what the cache keeps (the calls' durations ascending)."""

    calls: dict[Group, tuple[int, Sequence[int]]] = field(default_factory=dict)  # errors, durations
    billed: dict[Group, tuple[float, ...]] = field(default_factory=dict)  # as _Group.billed

    def size_bytes(self) -> int:
        calls = sum(150 + values_bytes(d) for _, d in self.calls.values())
        return 200 + calls + 150 * len(self.billed)


def merge_span_hours(hours: Sequence[SpanHour]) -> SpanHour:
    """The hours as one, in order (float sums are added in that order)."""
    acc = _Acc()
    for hour in hours:
        for key, (errors, durations) in hour.calls.items():
            g = acc[key]
            g.errors += errors
            g.durations.append(durations)
        for key, values in hour.billed.items():
            acc[key].add_billed(values)
    out = SpanHour()
    for key, g in acc.groups.items():
        if g.durations:
            out.calls[key] = (g.errors, g.sorted_durations())
        if any(g.billed):
            out.billed[key] = tuple(g.billed)
    return out


def span_hour(conn: sqlite3.Connection, project_id: str, hour_us: int) -> SpanHour:
    out = SpanHour()
    for model, provider, errors, durations in conn.execute(_HOUR_CALLS, (project_id, hour_us)):
        # Clustered by duration within the group; sorting an already sorted list is one pass.
        out.calls[(key_name(model), key_name(provider))] = (
            int(errors),
            array("q", sorted(joined_ints(durations))),
        )
    for model, provider, *values in conn.execute(_HOUR_BILLED, (project_id, hour_us)):
        out.billed[(key_name(model), key_name(provider))] = tuple(values)
    return out


def whole_hours(start_us: int, end_us: int) -> tuple[int, int]:
    """The first and the end of the whole hours inside [start, end); first >= end when none."""
    return -(-start_us // HOUR_US) * HOUR_US, hour_of(end_us)


@dataclass(slots=True)
class _Group:
    calls: int = 0
    errors: int = 0
    durations: list[Sequence[int]] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    billed: list[float] = field(default_factory=lambda: [0, 0.0, 0, 0, 0, 0])

    def add_billed(self, values: tuple[float, ...], sign: int = 1) -> None:
        for i, v in enumerate(values):
            self.billed[i] += sign * v

    def sorted_durations(self) -> list[int]:
        # A new list: the parts may be cached hours'.
        merged = list(chain.from_iterable(self.durations))
        # Sorted runs, one per hour: timsort merges them rather than sorting from scratch.
        merged.sort()
        for d in self.removed:  # a few, from runs straddling the window's start
            del merged[bisect_left(merged, d)]
        return merged


class _Acc:
    def __init__(self) -> None:
        self.groups: dict[Group, _Group] = {}

    def __getitem__(self, key: Group) -> _Group:
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = _Group()
        return g


def _billed_rows(acc: _Acc, rows: sqlite3.Cursor) -> None:
    for model, provider, *values in rows:
        acc[(model, provider)].add_billed(tuple(values))


def _partial_spans(conn: sqlite3.Connection, project_id: str, start_us: int, end_us: int, acc: _Acc) -> None:
    """The LLM calls and counted spans that started in [start, end), read one by one."""
    for model, provider, n, errors, durations in conn.execute(
        _CALLS, (project_id, hour_of(start_us), hour_of(end_us - 1), start_us, end_us)
    ):
        g = acc[(key_name(model), key_name(provider))]
        g.calls += n
        g.errors += errors
        g.durations.append(joined_ints(durations))
    _billed_rows(acc, conn.execute(_BILLED_SPANS, (project_id, start_us, end_us)))


def _window_spans(
    conn: sqlite3.Connection, project_id: str, start_us: int, end_us: int, whole: SpanHour, acc: _Acc
) -> None:
    """Part 1: the LLM calls and counted spans that started in [start, end): the whole hours,
    `whole`, then the partial hours at the edges."""
    first_whole, last_whole = whole_hours(start_us, end_us)
    for key, (errors, durations) in whole.calls.items():
        g = acc[key]
        g.calls += len(durations)
        g.errors += errors
        g.durations.append(durations)
    for key, values in whole.billed.items():
        acc[key].add_billed(values)
    if first_whole >= last_whole:  # no whole hour inside: the spans themselves
        _partial_spans(conn, project_id, start_us, end_us, acc)
        return
    for lo, hi in ((start_us, first_whole), (last_whole, end_us)):
        if lo < hi:
            _partial_spans(conn, project_id, lo, hi, acc)


def _runs_spans(
    conn: sqlite3.Connection, project_id: str, run_ids: list[str], lo: int, hi: int, acc: _Acc, sign: int
) -> None:
    """Parts 2 and 3: add (or take away) the spans of `run_ids` that started in [lo, hi)."""
    for i in range(0, len(run_ids), 200):
        runs = run_ids[i : i + 200]
        keys = run_trace_keys(conn, project_id, runs)
        sql = _RUN_SPANS.replace("{marks}", ",".join("?" * len(keys))).replace(
            "{runs}", ",".join("?" * len(runs))
        )
        for model, provider, llm, error, duration, counted, *usage in conn.execute(
            sql, (*keys, project_id, *runs, lo, hi)
        ):
            g = acc[(model, provider)]
            if llm:
                g.calls += sign
                g.errors += sign * error
                if sign > 0:
                    g.durations.append([duration])
                else:
                    g.removed.append(duration)
            if counted:
                cost, tin, tout, tcached, source = usage
                g.add_billed((1, cost or 0.0, tin or 0, tout or 0, tcached or 0, source == "unpriced"), sign)


def longest_run_us(conn: sqlite3.Connection, project_id: str) -> int:
    """The project's longest run: no run straddles a boundary by more. Read off runs_duration's
    end (the planner would otherwise scan runs_start, which also covers duration_us)."""
    row = conn.execute(
        "SELECT duration_us FROM runs INDEXED BY runs_duration WHERE project_id = ? "
        "ORDER BY duration_us DESC LIMIT 1",
        (project_id,),
    ).fetchone()
    return int(row[0]) if row else 0


def _straddling(conn: sqlite3.Connection, project_id: str, since: int, boundary: int) -> list[str]:
    return [r for (r,) in conn.execute(_STRADDLING, (project_id, since, boundary, boundary))]


def hourly_usage(
    conn: sqlite3.Connection,
    project_id: str,
    start_us: int,
    end_us: int,
    whole: SpanHour,
    by_provider: bool,
) -> Usage:
    """Usage of the spans of the runs that started in [start, end), by model (or provider),
    without filters, from the aggregates: `whole` is the window's whole hours, merged."""
    acc = _Acc()
    _window_spans(conn, project_id, start_us, end_us, whole, acc)
    longest = longest_run_us(conn, project_id)
    before = _straddling(conn, project_id, start_us - longest, start_us)
    _runs_spans(conn, project_id, before, start_us, end_us, acc, sign=-1)
    after = _straddling(conn, project_id, max(start_us, end_us - longest), end_us)
    _runs_spans(conn, project_id, after, end_us, 2**63 - 1, acc, sign=1)
    usage = Usage()
    for (model, provider), g in acc.groups.items():
        key = provider if by_provider else model
        if g.calls:
            usage.calls.append(Calls(key, provider, g.errors, g.sorted_durations()))
        spans, cost, tin, tout, tcached, unpriced = g.billed
        if spans:
            usage.billed.append(
                Billed(key, provider, int(spans), cost, int(tin), int(tout), int(tcached), int(unpriced))
            )
    return usage
