"""The parts /stats adds up: run figures and error messages of a set of runs (those that started
in one hour, or in a whole window with filters), read as facts that do not depend on the time of
the request. A run's status does (a run without a root is running until it has been idle for the
idle timeout), so it is decided when the parts are added up, by `run_figures`."""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain

from tracehound.storage.hour_cache import values_bytes
from tracehound.storage.sqlite.runs import _Where, joined_ints
from tracehound.storage.types import ErrorTally, RunFigures

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


def run_part(conn: sqlite3.Connection, where: _Where) -> RunPart:
    """One pass over the runs `where` selects, off the covering runs_start index alone."""
    row = conn.execute(_RUN_PART.replace("{where}", where.sql()), where.params).fetchone()
    # Durations come back as one text value: one row instead of one per run, which is most of
    # the cost over ten thousand runs.
    rooted = array("q", sorted(joined_ints(row[8])))
    flat = iter(joined_ints(row[9]))
    return RunPart(
        total=int(row[0]),
        cost=float(row[1]),
        llm_calls=int(row[2]),
        input_tokens=int(row[3]),
        output_tokens=int(row[4]),
        cached_tokens=int(row[5]),
        max_finish_us=row[6],
        failed_rooted=int(row[7]),
        rooted_us=rooted,
        rootless=list(zip(flat, flat, flat, strict=True)),
    )


def run_figures(parts: Sequence[RunPart], cutoff_us: int) -> RunFigures:
    """The parts added up, with each run's status as sqlite_runs.run_status decides it: running
    when no root has arrived and the last span arrived at or after `cutoff_us`."""
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


def merge_errors(parts: Iterable[ErrorPart]) -> ErrorPart:
    out = ErrorPart()
    for part in parts:
        for message, t in part.tallies.items():
            mine = out.tallies.get(message)
            if mine is None:
                mine = out.tallies[message] = ErrorTally()
            mine.add(t.count, t.runs, t.last)
    return out


def error_part(conn: sqlite3.Connection, project_id: str, runs: _Where) -> ErrorPart:
    """Error messages of the runs `runs` selects. Only runs with errors are visited (their
    partial index), and each one's messages are read off its facet rows."""
    runs.add("error_count > 0")
    # CROSS JOIN keeps the runs as the outer loop: otherwise the planner may scan every error
    # facet of the project.
    rows = conn.execute(
        f"""SELECT f.value, f.n, r.run_id, r.start_time_us
        FROM (SELECT run_id, start_time_us FROM runs WHERE {runs.sql()}) AS r
        CROSS JOIN run_facets AS f
        WHERE f.project_id = ? AND f.run_id = r.run_id AND f.facet = 'error'""",
        [*runs.params, project_id],
    )
    part = ErrorPart()
    for message, n, run_id, start in rows:
        tally = part.tallies.get(message)
        if tally is None:
            tally = part.tallies[message] = ErrorTally()
        tally.add(int(n), 1, (start, run_id))
    return part


def runs_between(project_id: str, start_us: int, end_us: int) -> _Where:
    """The project's runs that started in [start, end)."""
    where = _Where()
    where.add("project_id = ? AND start_time_us >= ? AND start_time_us < ?", project_id, start_us, end_us)
    return where
