"""What a span summary (/spans/summary) reads: the typed columns of the selected spans, their
usage by model, and, for the few spans whose text the semantic scan needs, their attribute JSON.

The selection is that of /spans: spans of one project in any of the threads, of any of the runs
and carrying any of the labels (the filters given combine with AND). The arithmetic lives in
`tracehound.analytics.summary`."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson

from tracehound.storage.queries import ListFilter, SpanQuery
from tracehound.storage.sqlite_spans import _span_where
from tracehound.storage.sqlite_stats import _usage
from tracehound.storage.sqlite_stats_parts import snapshot
from tracehound.storage.usage import Usage


@dataclass(frozen=True, slots=True)
class SummarySelection:
    project_id: str
    thread_ids: tuple[str, ...] = ()
    run_ids: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()


class SpanFacts(NamedTuple):
    """One selected span, typed columns only. `ref` is the store's handle on the row, for
    `span_attributes`."""

    ref: int
    span_id: str
    run_id: str
    operation_name: str
    kind: str
    is_llm_call: int
    start_us: int
    finish_us: int
    is_error: int
    error_message: str | None
    model: str | None
    tool_name: str | None
    ttft_us: int | None
    cost: float | None
    usage_counted: int
    input_tokens: int | None
    output_tokens: int | None
    cached_tokens: int | None
    unpriced: int


@dataclass(slots=True)
class SummaryData:
    spans: list[SpanFacts] = field(default_factory=list)  # by start time, then span id
    usage: Usage = field(default_factory=Usage)  # by model


_FACTS = """
    SELECT rowid, span_id, run_id, operation_name, kind, is_llm_call, start_time_us, finish_time_us,
        is_error, error_message, model, tool_name, ttft_us, cost, usage_counted, input_tokens,
        output_tokens, cached_tokens, cost_source = 'unpriced'
    FROM spans WHERE {where}
"""


def _by_start(s: SpanFacts) -> tuple[int, str]:
    return s.start_us, s.span_id


def summary_data(conn: sqlite3.Connection, sel: SummarySelection) -> SummaryData:
    """The selected spans and their usage by model, read in one snapshot."""
    with snapshot(conn):
        where = _span_where(
            conn,
            SpanQuery(
                project_id=sel.project_id,
                thread_ids=ListFilter(values=sel.thread_ids),
                run_ids=ListFilter(values=sel.run_ids),
                labels=sel.labels,
            ),
        )
        spans = list(map(SpanFacts._make, conn.execute(_FACTS.format(where=where.sql()), where.params)))
        # Sorted here rather than by SQLite, which would sort whole rows through a temporary b-tree.
        spans.sort(key=_by_start)
        usage = _usage(conn, "model", where) if spans else Usage()
    return SummaryData(spans=spans, usage=usage)


def span_attributes(conn: sqlite3.Connection, project_id: str, refs: Sequence[int]) -> dict[int, bytes]:
    """The attribute JSON of the rows `refs` (from `summary_data`), as stored: UTF-8 bytes, which
    a JSON parser reads without first decoding megabytes into text."""
    if not refs:
        return {}
    # One JSON array parameter instead of one parameter per row: no bound on the list's length.
    rows = conn.execute(
        "SELECT rowid, CAST(attributes AS BLOB) FROM spans WHERE rowid IN (SELECT value FROM json_each(?)) "
        "AND project_id = ?",
        (orjson.dumps(list(refs)).decode(), project_id),
    )
    return {ref: attributes for ref, attributes in rows}
