"""Reads behind /stats, /stats/breakdown and a run's cost by model.

Without filters, /stats and the breakdown by model or provider are added up hour by hour
(sqlite_stats_hours.py, with the store's cache of past hours). With filters, or by label or
thread, they are read over the whole window: run figures off the `runs` rollup; per-key figures
off two partial indexes of `spans`: LLM calls (`spans_llm`) and the spans whose usage counts,
one per billed call (`spans_counted`); error messages off `run_facets`. Every function returns
plain data: the arithmetic (percentiles, rates, shares) lives in `tracehound.analytics.stats`.
"""

from __future__ import annotations

import sqlite3

from tracehound.storage.queries import RunQuery
from tracehound.storage.sqlite.hourly import longest_run_us
from tracehound.storage.sqlite.runs import _Where, joined_ints
from tracehound.storage.sqlite.spans import run_trace_keys
from tracehound.storage.sqlite.stats_hours import StatsCache, hour_stats, hour_usage
from tracehound.storage.sqlite.stats_parts import error_part, run_part, snapshot
from tracehound.storage.stats_parts import run_figures
from tracehound.storage.types import StatsData, StatsFilter
from tracehound.storage.usage import Usage, UsageKey, usage_of
from tracehound.storage.where import rollup_filters

# Breakdown keys to span columns: the only names formatted into a statement from a request
# (values always go in as parameters).
_KEY_COLUMNS: dict[UsageKey, str] = {
    "model": "model",
    "provider": "provider",
    "label": "label",
    "thread": "thread_id",
}


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
    rollup_filters(where, "run_facets", "run_id", q, ())
    where.add("start_time_us < ?", end_us)
    return where


def _usage(conn: sqlite3.Connection, key: UsageKey, where: _Where) -> Usage:
    column = _KEY_COLUMNS[key]
    # Durations come back joined into one text value per group: a few rows instead of one per
    # call, which is most of the cost over tens of thousands of calls.
    calls = conn.execute(
        f"""SELECT {column}, provider, SUM(is_error), group_concat(finish_time_us - start_time_us)
        FROM spans WHERE {where.sql()} AND is_llm_call = 1 GROUP BY 1, 2""",
        where.params,
    )
    billed = conn.execute(
        f"""SELECT {column}, provider, COUNT(*), TOTAL(cost), COALESCE(SUM(input_tokens), 0),
            COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_tokens), 0),
            SUM(cost_source = 'unpriced')
        FROM spans WHERE {where.sql()} AND usage_counted = 1 GROUP BY 1, 2""",
        where.params,
    )
    return usage_of(((k, p, e, joined_ints(d)) for k, p, e, d in calls), billed)


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
    off the time-ordered partial indexes between `start_us` and the runs' latest finish (by
    model or provider without filters, sqlite_stats_hours answers instead). With filters, a
    span counts when its run is one of the selected runs. Without, testing every span against
    the ten thousand runs of a day would cost as much as reading the spans, so only the few
    runs that straddle a boundary are looked at: before `end_us`, a span belongs to
    a window run unless its run started before `start_us`; from `end_us` on, only if its run
    started in the window and was still going at `end_us`. No run lasts longer than the
    longest run, which bounds the search for those straddling runs."""
    if max_finish_us is None:
        return Usage()
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
    cache: StatsCache | None,
) -> StatsData:
    """/stats in one read snapshot; without filters, hour by hour (with `cache`, when given)."""
    if not _filtered(f):
        return hour_stats(conn, f.project_id, window, previous, cutoff_us, cache)
    start_us, end_us = window
    with snapshot(conn):
        current = run_figures([run_part(conn, _runs_where(f, start_us, end_us))], cutoff_us)
        before = None
        if previous is not None:
            before = run_figures([run_part(conn, _runs_where(f, *previous))], cutoff_us)
        errors = error_part(conn, f.project_id, _runs_where(f, start_us, end_us)).tallies
        usage = window_usage(conn, f, start_us, end_us, current.max_finish_us, "model")
    return StatsData(current=current, previous=before, errors=errors, usage=usage)


def breakdown(
    conn: sqlite3.Connection,
    f: StatsFilter,
    start_us: int,
    end_us: int,
    key: UsageKey,
    cache: StatsCache | None,
) -> Usage:
    if not _filtered(f) and key in ("model", "provider"):
        return hour_usage(conn, f.project_id, start_us, end_us, key == "provider", cache)
    runs = _runs_where(f, start_us, end_us)
    with snapshot(conn):
        (max_finish,) = conn.execute(
            f"SELECT MAX(finish_time_us) FROM runs WHERE {runs.sql()}", runs.params
        ).fetchone()
        return window_usage(conn, f, start_us, end_us, max_finish, key)
