"""Reads behind /stats, /stats/breakdown and a run's cost by model.

Run figures come off the `runs` rollup; per-model (or provider, label, thread) figures come off
two partial indexes of `spans`: LLM calls (`spans_llm`) and the spans whose usage counts, one
per billed call (`spans_counted`); error messages come off `run_facets`. Every function returns
plain data: the arithmetic (percentiles, rates, shares) lives in `tracehound.analytics.stats`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tracehound.storage.queries import RunQuery
from tracehound.storage.sqlite_hourly import hourly_usage, longest_run_us
from tracehound.storage.sqlite_runs import _rollup_filters, _Where, joined_ints
from tracehound.storage.sqlite_spans import run_trace_keys
from tracehound.storage.usage import Billed, Calls, Usage, UsageKey

# Breakdown keys to span columns: the only names formatted into a statement from a request
# (values always go in as parameters).
_KEY_COLUMNS: dict[UsageKey, str] = {
    "model": "model",
    "provider": "provider",
    "label": "label",
    "thread": "thread_id",
}


@dataclass(frozen=True, slots=True)
class StatsFilter:
    """Which runs: those of a project, narrowed as /runs narrows them."""

    project_id: str
    thread_ids: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    model_name: str | None = None


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


@dataclass(frozen=True, slots=True)
class ErrorHit:
    """One error message of one run: `n` spans carry it."""

    message: str
    n: int
    run_id: str
    run_start_us: int


@dataclass(slots=True)
class StatsData:
    current: RunFigures
    previous: RunFigures | None
    errors: list[ErrorHit]
    usage: Usage


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction, so that figures read by several statements agree with each other
    while ingest commits beside them (the per-model costs add up to the total)."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


def _runs_where(f: StatsFilter, start_us: int, end_us: int) -> _Where:
    """The runs of the window [start, end) that the filters select, exactly as /runs selects."""
    where = _Where()
    q = RunQuery(
        project_id=f.project_id,
        thread_ids=f.thread_ids,
        labels=f.labels,
        model_name=f.model_name,
        start_min_us=start_us,
    )
    _rollup_filters(where, "run_facets", "run_id", q, ())
    where.add("start_time_us < ?", end_us)
    return where


def _durations(text: str | None) -> list[int]:
    return sorted(joined_ints(text))


def run_figures(
    conn: sqlite3.Connection, f: StatsFilter, start_us: int, end_us: int, cutoff_us: int
) -> RunFigures:
    """One pass over the window's runs. Status follows sqlite_runs.run_status: running when no
    root has arrived and the last span arrived after `cutoff_us`; else failed with errors."""
    where = _runs_where(f, start_us, end_us)
    row = conn.execute(
        f"""SELECT COUNT(*),
            COALESCE(SUM(root_count = 0 AND last_seen_us >= ?), 0),
            COALESCE(SUM(error_count > 0 AND (root_count > 0 OR last_seen_us < ?)), 0),
            TOTAL(cost), COALESCE(SUM(llm_calls), 0), COALESCE(SUM(input_tokens), 0),
            COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_tokens), 0),
            MAX(start_time_us + duration_us),
            group_concat(CASE WHEN root_count > 0 OR last_seen_us < ? THEN duration_us END)
        FROM runs INDEXED BY runs_start WHERE {where.sql()}""",
        [cutoff_us, cutoff_us, cutoff_us, *where.params],
    ).fetchone()
    # The durations come back as one text value: one row instead of one per run, which is
    # most of this pass's cost over ten thousand runs.
    durations = _durations(row[9])
    return RunFigures(
        total=int(row[0]),
        running=int(row[1]),
        failed=int(row[2]),
        cost=float(row[3]),
        llm_calls=int(row[4]),
        input_tokens=int(row[5]),
        output_tokens=int(row[6]),
        cached_tokens=int(row[7]),
        durations_us=durations,
        max_finish_us=row[8],
    )


def error_hits(conn: sqlite3.Connection, f: StatsFilter, start_us: int, end_us: int) -> list[ErrorHit]:
    """Error messages of the window's runs, one row per (run, message). Only runs with errors
    are visited (their partial index), and each one's messages are read off its facet rows."""
    where = _runs_where(f, start_us, end_us)
    where.add("error_count > 0")
    # CROSS JOIN keeps the runs as the outer loop: otherwise the planner may scan every error
    # facet of the project.
    rows = conn.execute(
        f"""SELECT f.value, f.n, r.run_id, r.start_time_us
        FROM (SELECT run_id, start_time_us FROM runs WHERE {where.sql()}) AS r
        CROSS JOIN run_facets AS f
        WHERE f.project_id = ? AND f.run_id = r.run_id AND f.facet = 'error'""",
        [*where.params, f.project_id],
    )
    return [ErrorHit(message=m, n=int(n), run_id=r, run_start_us=s) for m, n, r, s in rows]


def _usage(conn: sqlite3.Connection, key: UsageKey, where: _Where) -> Usage:
    column = _KEY_COLUMNS[key]
    # Durations come back joined into one text value per group: a few rows instead of one per
    # call, which is most of the cost over tens of thousands of calls.
    calls = [
        Calls(key=k, provider=p, errors=int(e), durations_us=_durations(d))
        for k, p, e, d in conn.execute(
            f"""SELECT {column}, provider, SUM(is_error), group_concat(finish_time_us - start_time_us)
            FROM spans WHERE {where.sql()} AND is_llm_call = 1 GROUP BY 1, 2""",
            where.params,
        )
    ]
    billed = [
        Billed(k, p, int(n), float(c), int(i), int(o), int(ca), int(u))
        for k, p, n, c, i, o, ca, u in conn.execute(
            f"""SELECT {column}, provider, COUNT(*), TOTAL(cost), COALESCE(SUM(input_tokens), 0),
                COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_tokens), 0),
                SUM(cost_source = 'unpriced')
            FROM spans WHERE {where.sql()} AND usage_counted = 1 GROUP BY 1, 2""",
            where.params,
        )
    ]
    return Usage(calls=calls, billed=billed)


def _filtered(f: StatsFilter) -> bool:
    return bool(f.thread_ids or f.labels or f.model_name)


def _straddling(project_id: str, boundary_us: int, since_us: int) -> _Where:
    """Runs that started in [since, boundary) and were still going at `boundary`."""
    where = _Where()
    where.add(
        "project_id = ? AND start_time_us >= ? AND start_time_us < ?", project_id, since_us, boundary_us
    )
    where.add("finish_time_us >= ?", boundary_us)
    return where


def window_usage(
    conn: sqlite3.Connection,
    f: StatsFilter,
    start_us: int,
    end_us: int,
    max_finish_us: int | None,
    key: UsageKey,
) -> Usage:
    """Usage of the spans of the window's runs, keyed by `key`.

    A run's spans start no earlier than the run and no later than its finish, so they are read
    off the time-ordered partial indexes between `start_us` and the runs' latest finish. With
    filters, a span counts when its run is one of the selected runs. Without, testing every
    span against the ten thousand runs of a day would cost as much as reading the spans, so
    only the few runs that straddle a boundary are looked at: before `end_us`, a span belongs to
    a window run unless its run started before `start_us`; from `end_us` on, only if its run
    started in the window and was still going at `end_us`. No run lasts longer than the
    longest run, which bounds the search for those straddling runs."""
    if max_finish_us is None:
        return Usage()
    if not _filtered(f) and key in ("model", "provider"):
        return hourly_usage(conn, f.project_id, start_us, end_us, by_provider=key == "provider")
    if _filtered(f):
        runs = _runs_where(f, start_us, end_us)
        where = _Where()
        where.add("project_id = ?", f.project_id)
        where.add("start_time_us >= ? AND start_time_us <= ?", start_us, max_finish_us)
        where.add(f"run_id IN (SELECT run_id FROM runs WHERE {runs.sql()})", *runs.params)
        return _usage(conn, key, where)
    longest = longest_run_us(conn, f.project_id)
    inside = _Where()
    inside.add("project_id = ?", f.project_id)
    inside.add("start_time_us >= ? AND start_time_us < ?", start_us, end_us)
    before = _straddling(f.project_id, start_us, start_us - longest)
    inside.add(f"run_id NOT IN (SELECT run_id FROM runs WHERE {before.sql()})", *before.params)
    usage = _usage(conn, key, inside)
    if max_finish_us >= end_us:
        after = _straddling(f.project_id, end_us, max(start_us, end_us - longest))
        late = _Where()
        late.add("project_id = ?", f.project_id)
        late.add("start_time_us >= ? AND start_time_us <= ?", end_us, max_finish_us)
        late.add(f"run_id IN (SELECT run_id FROM runs WHERE {after.sql()})", *after.params)
        more = _usage(conn, key, late)
        usage.calls.extend(more.calls)
        usage.billed.extend(more.billed)
    return usage


def run_usage(conn: sqlite3.Connection, project_id: str, run_id: str) -> Usage:
    """Usage of one run's spans by model, found through the run's traces."""
    keys = run_trace_keys(conn, project_id, [run_id])
    if not keys:
        return Usage()
    where = _Where()
    where.add_in("trace_key", keys)
    where.add("project_id = ? AND run_id = ?", project_id, run_id)
    return _usage(conn, "model", where)


def stats_data(
    conn: sqlite3.Connection,
    f: StatsFilter,
    window: tuple[int, int],
    previous: tuple[int, int] | None,
    cutoff_us: int,
) -> StatsData:
    start_us, end_us = window
    with snapshot(conn):
        current = run_figures(conn, f, start_us, end_us, cutoff_us)
        before = None if previous is None else run_figures(conn, f, *previous, cutoff_us)
        errors = error_hits(conn, f, start_us, end_us)
        usage = window_usage(conn, f, start_us, end_us, current.max_finish_us, "model")
    return StatsData(current=current, previous=before, errors=errors, usage=usage)


def breakdown(conn: sqlite3.Connection, f: StatsFilter, start_us: int, end_us: int, key: UsageKey) -> Usage:
    runs = _runs_where(f, start_us, end_us)
    with snapshot(conn):
        (max_finish,) = conn.execute(
            f"SELECT MAX(finish_time_us) FROM runs WHERE {runs.sql()}", runs.params
        ).fetchone()
        return window_usage(conn, f, start_us, end_us, max_finish, key)
