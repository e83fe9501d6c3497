"""The parts /stats adds up, whichever backend read them: run figures and error messages of a set
of runs (those that started in one hour, or in a whole window with filters), read as facts that
do not depend on the time of the request. A run's status does (a run without a root is running
until it has been idle for the idle timeout), so it is decided when the parts are added up, by
`run_figures`. Pure Python: each backend's SQL reads the rows and builds the parts with
`run_part_of` and `error_part_of`."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from tracehound.storage.hour_cache import values_bytes
from tracehound.storage.types import ErrorTally, RunFigures


@dataclass(slots=True)
class RunPart:
    """Runs by what decides their status: those with a root are running never, failed when they
    have errors; those without one are running while their last span is recent."""

    total: int = 0
    cost: float = 0.0
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    max_finish_us: int | None = None
    failed_rooted: int = 0
    rooted_us: Sequence[int] = ()  # durations, ascending
    rootless: list[tuple[int, int, int]] = field(default_factory=list)  # (last seen, errors > 0, duration)

    def size_bytes(self) -> int:
        return 200 + values_bytes(self.rooted_us) + 100 * len(self.rootless)


def run_part_of(sums: Sequence[Any], rooted: Iterable[int], rootless_flat: Iterable[int]) -> RunPart:
    """A part from one aggregate row: `sums` is (count, cost, LLM calls, input, output and cached
    tokens, latest finish, failed runs with a root), `rooted` the durations of the runs with a
    root, `rootless_flat` (last seen, has errors, duration) of each run without one, flattened."""
    total, cost, calls, tin, tout, tcached, max_finish, failed = sums
    flat = iter(rootless_flat)
    return RunPart(
        total=int(total),
        cost=float(cost),
        llm_calls=int(calls),
        input_tokens=int(tin),
        output_tokens=int(tout),
        cached_tokens=int(tcached),
        max_finish_us=None if max_finish is None else int(max_finish),
        failed_rooted=int(failed),
        rooted_us=array("q", sorted(rooted)),
        rootless=list(zip(flat, flat, flat, strict=True)),
    )


def merge_runs(parts: Sequence[RunPart]) -> RunPart:
    """The parts as one, in order (float sums are added in that order)."""
    out = RunPart()
    rooted: list[int] = list(chain.from_iterable(p.rooted_us for p in parts))
    # Sorted runs, one per part: timsort merges them rather than sorting from scratch.
    rooted.sort()
    out.rooted_us = rooted
    for p in parts:
        out.total += p.total
        out.cost += p.cost
        out.llm_calls += p.llm_calls
        out.input_tokens += p.input_tokens
        out.output_tokens += p.output_tokens
        out.cached_tokens += p.cached_tokens
        if p.max_finish_us is not None and (out.max_finish_us is None or p.max_finish_us > out.max_finish_us):
            out.max_finish_us = p.max_finish_us
        out.failed_rooted += p.failed_rooted
        out.rootless += p.rootless
    return out


def run_figures(parts: Sequence[RunPart], cutoff_us: int) -> RunFigures:
    """The parts added up, with each run's status as the run reads decide it: running when no
    root has arrived and the last span arrived at or after `cutoff_us`."""
    p = merge_runs(parts) if len(parts) != 1 else parts[0]
    out = RunFigures(
        total=p.total,
        failed=p.failed_rooted,
        cost=p.cost,
        llm_calls=p.llm_calls,
        input_tokens=p.input_tokens,
        output_tokens=p.output_tokens,
        cached_tokens=p.cached_tokens,
        max_finish_us=p.max_finish_us,
    )
    idle = []
    for seen, errors, duration in p.rootless:
        if seen >= cutoff_us:
            out.running += 1
        else:
            out.failed += errors
            idle.append(duration)
    out.durations_us = list(p.rooted_us)
    if idle:
        out.durations_us += idle
        out.durations_us.sort()
    return out


@dataclass(slots=True)
class ErrorPart:
    tallies: dict[str, ErrorTally] = field(default_factory=dict)

    def size_bytes(self) -> int:
        return 200 + sum(150 + len(m) for m in self.tallies)


def error_part_of(rows: Iterable[tuple[str, int, str, int]]) -> ErrorPart:
    """A part from (message, spans carrying it, run id, run start) per error facet of a run."""
    part = ErrorPart()
    for message, n, run_id, start in rows:
        tally = part.tallies.get(message)
        if tally is None:
            tally = part.tallies[message] = ErrorTally()
        tally.add(int(n), 1, (start, run_id))
    return part


def merge_errors(parts: Iterable[ErrorPart]) -> ErrorPart:
    out = ErrorPart()
    for part in parts:
        for message, t in part.tallies.items():
            mine = out.tallies.get(message)
            if mine is None:
                mine = out.tallies[message] = ErrorTally()
            mine.add(t.count, t.runs, t.last)
    return out
