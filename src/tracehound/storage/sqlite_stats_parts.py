"""The parts /stats adds up: run figures and error messages of a set of runs (those that started
in one hour, or in a whole window with filters), read as facts that do not depend on the time of
the request. A run's status does (a run without a root is running until it has been idle for the
idle timeout), so it is decided when the parts are added up, by `run_figures`."""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tracehound.storage.sqlite_runs import _Where, joined_ints
from tracehound.storage.usage import Usage

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
    rooted_us: array[int] = field(default_factory=lambda: array("q"))  # durations, ascending
    rootless: list[tuple[int, int, int]] = field(default_factory=list)  # (last seen, errors > 0, duration)

    def size_bytes(self) -> int:
        return 200 + 8 * len(self.rooted_us) + 100 * len(self.rootless)


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


@dataclass(slots=True)
class RunFigures:
    """The runs that started in a window, by status, with their rollup sums."""

    total: int = 0
    running: int = 0
    failed: int = 0
    cost: float = 0.0
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    # Durations of the runs that are not running, ascending.
    durations_us: list[int] = field(default_factory=list)
    # Latest finish over the window's runs: no span of theirs starts after it.
    max_finish_us: int | None = None

    @property
    def completed(self) -> int:
        return self.total - self.running - self.failed


def run_figures(parts: Iterable[RunPart], cutoff_us: int) -> RunFigures:
    """The parts added up, with each run's status as sqlite_runs.run_status decides it: running
    when no root has arrived and the last span arrived at or after `cutoff_us`."""
    out = RunFigures()
    durations: list[int] = []
    for p in parts:
        out.total += p.total
        out.cost += p.cost
        out.llm_calls += p.llm_calls
        out.input_tokens += p.input_tokens
        out.output_tokens += p.output_tokens
        out.cached_tokens += p.cached_tokens
        if p.max_finish_us is not None and (out.max_finish_us is None or p.max_finish_us > out.max_finish_us):
            out.max_finish_us = p.max_finish_us
        out.failed += p.failed_rooted
        durations += p.rooted_us
        for seen, errors, duration in p.rootless:
            if seen >= cutoff_us:
                out.running += 1
            else:
                out.failed += errors
                durations.append(duration)
    # Sorted runs, one per part: timsort merges them rather than sorting from scratch.
    durations.sort()
    out.durations_us = durations
    return out


@dataclass(slots=True)
class ErrorTally:
    """One error message over some runs: the error spans carrying it, the runs with such a span
    and the latest-starting of them (start, run id; ties: the greatest id)."""

    count: int = 0
    runs: int = 0
    last: tuple[int, str] = (-(2**63), "")

    def add(self, count: int, runs: int, last: tuple[int, str]) -> None:
        self.count += count
        self.runs += runs
        if last > self.last:
            self.last = last


@dataclass(slots=True)
class ErrorPart:
    tallies: dict[str, ErrorTally] = field(default_factory=dict)

    def size_bytes(self) -> int:
        return 200 + sum(150 + len(m) for m in self.tallies)


def add_errors(into: dict[str, ErrorTally], parts: Iterable[ErrorPart]) -> dict[str, ErrorTally]:
    for part in parts:
        for message, t in part.tallies.items():
            mine = into.get(message)
            if mine is None:
                mine = into[message] = ErrorTally()
            mine.add(t.count, t.runs, t.last)
    return into


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


@dataclass(slots=True)
class StatsData:
    current: RunFigures
    previous: RunFigures | None
    errors: dict[str, ErrorTally]
    usage: Usage
