"""Reads behind /stats, /stats/breakdown and a run's cost by model, on PostgreSQL: without
filters, by model or provider, hour by hour (stats_hours.py); with filters, or by label or
thread, over the whole window, as storage/sqlite/stats.py reads them."""

from __future__ import annotations

from tracehound.storage.postgres.connect import Conn
from tracehound.storage.postgres.stats_hours import StatsCache, hour_stats, hour_usage, run_trace_keys
from tracehound.storage.postgres.stats_parts import error_part, run_part, snapshot
from tracehound.storage.postgres.where import Where
from tracehound.storage.queries import RunQuery
from tracehound.storage.stats_parts import run_figures
from tracehound.storage.types import StatsData, StatsFilter
from tracehound.storage.usage import Usage, UsageKey, usage_of
from tracehound.storage.where import rollup_filters

_KEY_COLUMNS: dict[UsageKey, str] = {
    "model": "model",
    "provider": "provider",
    "label": "label",
    "thread": "thread_id",
}


def _runs_where(f: StatsFilter, start_us: int, end_us: int) -> Where:
    where = Where()
    q = RunQuery(
        project_id=f.project_id,
        thread_ids=f.thread_ids,
        labels=f.labels,
        model_name=f.model_name,
        start_min_us=start_us,
    )
    rollup_filters(where, "run_facets", "run_id", q, ())
    where.add("start_time_us < %s", end_us)
    return where


def _usage(conn: Conn, key: UsageKey, where: Where, order: str) -> Usage:
    column = _KEY_COLUMNS[key]
    groups = "GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2 NULLS FIRST"
    calls = conn.execute(
        f"""SELECT {column}, provider, SUM(is_error)::bigint, array_agg(finish_time_us - start_time_us)
        FROM spans WHERE {where.sql()} AND is_llm_call = 1 {groups}""",
        where.params,
    ).fetchall()
    billed = conn.execute(
        f"""SELECT {column}, provider, COUNT(*), COALESCE(SUM(cost ORDER BY {order}), 0)::float8,
            COALESCE(SUM(input_tokens), 0)::bigint, COALESCE(SUM(output_tokens), 0)::bigint,
            COALESCE(SUM(cached_tokens), 0)::bigint, COUNT(*) FILTER (WHERE cost_source = 'unpriced')
        FROM spans WHERE {where.sql()} AND usage_counted = 1 {groups}""",
        where.params,
    ).fetchall()
    return usage_of(calls, billed)


def _filtered(f: StatsFilter) -> bool:
    return bool(f.thread_ids or f.labels or f.model_name)


def _straddling(project_id: str, boundary_us: int, since_us: int) -> Where:
    where = Where()
    where.add(
        "project_id = %s AND start_time_us >= %s AND start_time_us < %s", project_id, since_us, boundary_us
    )
    where.add("finish_time_us >= %s", boundary_us)
    return where


_WINDOW_ORDER = "start_time_us, cost"


def window_usage(
    conn: Conn, f: StatsFilter, start_us: int, end_us: int, max_finish_us: int | None, key: UsageKey
) -> Usage:
    """Usage of the spans of the window's runs, keyed by `key` (see storage/sqlite/stats.py)."""
    if max_finish_us is None:
        return Usage()
    if _filtered(f):
        runs = _runs_where(f, start_us, end_us)
        where = Where()
        where.add("project_id = %s", f.project_id)
        where.add("start_time_us >= %s AND start_time_us <= %s", start_us, max_finish_us)
        where.add(f"run_id IN (SELECT run_id FROM runs WHERE {runs.sql()})", *runs.params)
        return _usage(conn, key, where, _WINDOW_ORDER)
    (longest,) = conn.execute(
        "SELECT COALESCE(MAX(duration_us), 0) FROM runs WHERE project_id = %s", (f.project_id,)
    ).fetchone() or (0,)
    inside = Where()
    inside.add("project_id = %s", f.project_id)
    inside.add("start_time_us >= %s AND start_time_us < %s", start_us, end_us)
    before = _straddling(f.project_id, start_us, start_us - longest)
    inside.add(f"run_id NOT IN (SELECT run_id FROM runs WHERE {before.sql()})", *before.params)
    usage = _usage(conn, key, inside, _WINDOW_ORDER)
    if max_finish_us >= end_us:
        after = _straddling(f.project_id, end_us, max(start_us, end_us - longest))
        late = Where()
        late.add("project_id = %s", f.project_id)
        late.add("start_time_us >= %s AND start_time_us <= %s", end_us, max_finish_us)
        late.add(f"run_id IN (SELECT run_id FROM runs WHERE {after.sql()})", *after.params)
        more = _usage(conn, key, late, _WINDOW_ORDER)
        usage.calls.extend(more.calls)
        usage.billed.extend(more.billed)
    return usage


def run_usage(conn: Conn, project_id: str, run_id: str) -> Usage:
    """Usage of one run's spans by model, found through the run's traces."""
    keys = run_trace_keys(conn, project_id, [run_id])
    if not keys:
        return Usage()
    where = Where()
    where.add_in("trace_key", keys)
    where.add("project_id = %s AND run_id = %s", project_id, run_id)
    return _usage(conn, "model", where, "trace_key, id")


def stats_data(
    conn: Conn,
    f: StatsFilter,
    window: tuple[int, int],
    previous: tuple[int, int] | None,
    cutoff_us: int,
    cache: StatsCache | None,
) -> StatsData:
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
    conn: Conn, f: StatsFilter, start_us: int, end_us: int, key: UsageKey, cache: StatsCache | None
) -> Usage:
    if not _filtered(f) and key in ("model", "provider"):
        return hour_usage(conn, f.project_id, start_us, end_us, key == "provider", cache)
    runs = _runs_where(f, start_us, end_us)
    with snapshot(conn):
        row = conn.execute(f"SELECT MAX(finish_time_us) FROM runs WHERE {runs.sql()}", runs.params).fetchone()
        return window_usage(conn, f, start_us, end_us, None if row is None else row[0], key)
