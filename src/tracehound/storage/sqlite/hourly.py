"""The SQLite reads behind usage by model or provider from hours (storage/stats_hours.py): the
per-hour aggregates kept at ingest (`usage_hours`, `llm_durations`; see storage/hourly.py), the
partial hours at a window's edges from the covering `spans_counted` index and from
`llm_durations`, whose rows carry their start, and the spans of the runs straddling an edge."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from tracehound.storage.hourly import hour_of
from tracehound.storage.span_hours import SpanHour, span_hour_of
from tracehound.storage.sqlite.runs import joined_ints
from tracehound.storage.sqlite.spans import run_trace_keys

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


def span_hour(conn: sqlite3.Connection, project_id: str, hour_us: int) -> SpanHour:
    calls = (
        (model, provider, errors, joined_ints(durations))
        for model, provider, errors, durations in conn.execute(_HOUR_CALLS, (project_id, hour_us))
    )
    return span_hour_of(calls, conn.execute(_HOUR_BILLED, (project_id, hour_us)))


def partial_calls(
    conn: sqlite3.Connection, project_id: str, start_us: int, end_us: int
) -> Iterator[tuple[str, str, int, int, Sequence[int]]]:
    """The LLM calls that started in [start, end), by hour, model and provider."""
    for model, provider, n, errors, durations in conn.execute(
        _CALLS, (project_id, hour_of(start_us), hour_of(end_us - 1), start_us, end_us)
    ):
        yield model, provider, n, errors, joined_ints(durations)


def partial_billed(conn: sqlite3.Connection, project_id: str, start_us: int, end_us: int) -> sqlite3.Cursor:
    """The counted spans that started in [start, end), by model and provider."""
    return conn.execute(_BILLED_SPANS, (project_id, start_us, end_us))


def run_spans(
    conn: sqlite3.Connection, project_id: str, run_ids: list[str], lo: int, hi: int
) -> Iterator[Sequence[Any]]:
    """The LLM calls and counted spans of `run_ids` that started in [lo, hi)."""
    keys = run_trace_keys(conn, project_id, run_ids)
    sql = _RUN_SPANS.replace("{marks}", ",".join("?" * len(keys))).replace(
        "{runs}", ",".join("?" * len(run_ids))
    )
    yield from conn.execute(sql, (*keys, project_id, *run_ids, lo, hi))


def longest_run_us(conn: sqlite3.Connection, project_id: str) -> int:
    """The project's longest run: no run straddles a boundary by more. Read off runs_duration's
    end (the planner would otherwise scan runs_start, which also covers duration_us)."""
    row = conn.execute(
        "SELECT duration_us FROM runs INDEXED BY runs_duration WHERE project_id = ? "
        "ORDER BY duration_us DESC LIMIT 1",
        (project_id,),
    ).fetchone()
    return int(row[0]) if row else 0


def straddling(conn: sqlite3.Connection, project_id: str, since: int, boundary: int) -> list[str]:
    return [r for (r,) in conn.execute(_STRADDLING, (project_id, since, boundary, boundary))]
