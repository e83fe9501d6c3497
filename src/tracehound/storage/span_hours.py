"""Usage by model and provider added up from hours, whichever backend read them: the whole hours'
`SpanHour`s (from the per-hour aggregates, or the cache of them) and the rows of the partial
hours and of the runs straddling a window's edges, accumulated per (model, provider) in the
order they are added (float sums depend on it), then turned into a `Usage`."""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from tracehound.storage.hour_cache import values_bytes
from tracehound.storage.hourly import HOUR_US, hour_of, key_name
from tracehound.storage.usage import Billed, Calls, Usage

# (model, provider)
Group = tuple[str | None, str | None]


@dataclass(slots=True)
class SpanHour:
    """The LLM calls and counted spans that started in whole hours (one, or several merged), by
    (model, provider): what the cache keeps (the calls' durations ascending)."""

    calls: dict[Group, tuple[int, Sequence[int]]] = field(default_factory=dict)  # errors, durations
    billed: dict[Group, tuple[float, ...]] = field(default_factory=dict)  # as GroupSums.billed

    def size_bytes(self) -> int:
        calls = sum(150 + values_bytes(d) for _, d in self.calls.values())
        return 200 + calls + 150 * len(self.billed)


def whole_hours(start_us: int, end_us: int) -> tuple[int, int]:
    """The first and the end of the whole hours inside [start, end); first >= end when none."""
    return -(-start_us // HOUR_US) * HOUR_US, hour_of(end_us)


def edges(start_us: int, end_us: int) -> list[tuple[int, int]]:
    """The partial hours of [start, end), or the whole window when it holds no whole hour."""
    first, end = whole_hours(start_us, end_us)
    if first >= end:
        return [(start_us, end_us)]
    return [(lo, hi) for lo, hi in ((start_us, first), (end, end_us)) if lo < hi]


@dataclass(slots=True)
class GroupSums:
    calls: int = 0
    errors: int = 0
    durations: list[Sequence[int]] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    # spans, cost, input, output and cached tokens, unpriced spans
    billed: list[float] = field(default_factory=lambda: [0, 0.0, 0, 0, 0, 0])

    def add_billed(self, values: Sequence[float], sign: int = 1) -> None:
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


class Acc:
    """GroupSums by (model, provider), in the order the groups were first met."""

    def __init__(self) -> None:
        self.groups: dict[Group, GroupSums] = {}

    def __getitem__(self, key: Group) -> GroupSums:
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = GroupSums()
        return g

    def add_hours(self, whole: SpanHour) -> None:
        for key, (errors, durations) in whole.calls.items():
            g = self[key]
            g.calls += len(durations)
            g.errors += errors
            g.durations.append(durations)
        for key, values in whole.billed.items():
            self[key].add_billed(values)

    def add_calls(self, rows: Iterable[tuple[str, str, int, int, Sequence[int]]]) -> None:
        """(model key, provider key, calls, errors, durations) per group of LLM calls."""
        for model, provider, n, errors, durations in rows:
            g = self[(key_name(model), key_name(provider))]
            g.calls += n
            g.errors += errors
            g.durations.append(durations)

    def add_billed(self, rows: Iterable[Sequence[Any]]) -> None:
        """(model, provider, *sums as GroupSums.billed) per group of counted spans."""
        for model, provider, *values in rows:
            self[(model, provider)].add_billed(values)

    def add_spans(self, rows: Iterable[Sequence[Any]], sign: int) -> None:
        """Add (or take away) spans one by one: (model, provider, is LLM call, is error,
        duration, usage counted, cost, input, output and cached tokens, cost source)."""
        for model, provider, llm, error, duration, counted, *usage in rows:
            g = self[(model, provider)]
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

    def usage(self, by_provider: bool) -> Usage:
        usage = Usage()
        for (model, provider), g in self.groups.items():
            key = provider if by_provider else model
            if g.calls:
                usage.calls.append(Calls(key, provider, g.errors, g.sorted_durations()))
            spans, cost, tin, tout, tcached, unpriced = g.billed
            if spans:
                usage.billed.append(
                    Billed(key, provider, int(spans), cost, int(tin), int(tout), int(tcached), int(unpriced))
                )
        return usage


def merge_span_hours(hours: Sequence[SpanHour]) -> SpanHour:
    """The hours as one, in order (float sums are added in that order)."""
    acc = Acc()
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


def span_hour_of(
    calls: Iterable[tuple[str, str, int, Iterable[int]]], billed: Iterable[Sequence[Any]]
) -> SpanHour:
    """One hour from its aggregate rows: (model key, provider key, errors, durations) per group
    of LLM calls, (model key, provider key, *sums as GroupSums.billed) per group of counted spans."""
    out = SpanHour()
    for model, provider, errors, durations in calls:
        # Clustered by duration within the group; sorting an already sorted list is one pass.
        out.calls[(key_name(model), key_name(provider))] = (int(errors), array("q", sorted(durations)))
    for model, provider, *values in billed:
        out.billed[(key_name(model), key_name(provider))] = tuple(values)
    return out


@dataclass(slots=True)
class ModelSums:
    """One model's LLM calls and counted spans in some hours, all providers together."""

    calls: int = 0
    errors: int = 0
    durations: list[Sequence[int]] = field(default_factory=list)  # per provider and hour
    billed: list[float] = field(default_factory=lambda: [0, 0.0, 0, 0, 0, 0])  # as GroupSums.billed


def by_model(part: SpanHour) -> dict[str | None, ModelSums]:
    """`part`'s groups added up per model, providers in the part's order (float sums depend on it)."""
    out: dict[str | None, ModelSums] = {}
    for (model, _), (errors, durations) in part.calls.items():
        m = out.setdefault(model, ModelSums())
        m.calls += len(durations)
        m.errors += errors
        m.durations.append(durations)
    for (model, _), values in part.billed.items():
        billed = out.setdefault(model, ModelSums()).billed
        for i, v in enumerate(values):
            billed[i] += v
    return out
