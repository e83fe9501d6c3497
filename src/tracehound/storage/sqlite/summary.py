"""What a span summary (/spans/summary) reads: the typed columns of the selected spans, their
usage by model, the semantic findings made at ingest and, for spans stored before findings were
made at ingest, the attribute JSON the semantic scan needs.

The selection is that of /spans: spans of one project in any of the threads, of any of the runs
and carrying any of the labels (the filters given combine with AND). The arithmetic lives in
`tracehound.analytics.summary`."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import orjson

from tracehound.model import Finding
from tracehound.storage.queries import ListFilter, SpanQuery
from tracehound.storage.sqlite.spans import _span_where
from tracehound.storage.sqlite.stats import _usage
from tracehound.storage.sqlite.stats_parts import snapshot
from tracehound.storage.summary_rows import facts_by_start, paired, scanned
from tracehound.storage.types import SpanFacts, SummaryData, SummarySelection
from tracehound.storage.usage import Usage

_FACTS = """
    SELECT rowid, span_id, run_id, operation_name, kind, is_llm_call, start_time_us, finish_time_us,
        is_error, error_message, model, tool_name, ttft_us, cost, usage_counted, input_tokens,
        output_tokens, cached_tokens, cost_source = 'unpriced', texts_scanned
    FROM spans WHERE {where}
"""

# The findings of the spans `refs` (a JSON array), matched on the full ids, not the keys alone.
_FINDINGS = """
    SELECT s.rowid, f.source, f.idx, f.tool_name, f.pattern, f.severity, f.snippet
    FROM spans AS s JOIN span_findings AS f ON f.span_key = s.span_key AND f.trace_key = s.trace_key
        AND f.project_id = s.project_id AND f.trace_id = s.trace_id AND f.span_id = s.span_id
    WHERE s.rowid IN (SELECT value FROM json_each(?))
"""


def summary_data(conn: sqlite3.Connection, sel: SummarySelection, findings: bool = True) -> SummaryData:
    """The selected spans, their usage by model and (when `findings`) their semantic findings,
    read in one snapshot."""
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
        # Plain tuples: sqlite3.Row objects for ten thousand rows cost more than the query.
        cursor = conn.cursor()
        cursor.row_factory = None
        spans = facts_by_start(cursor.execute(_FACTS.format(where=where.sql()), where.params))
        usage = _usage(conn, "model", where) if spans else Usage()
        found: list[tuple[SpanFacts, Finding]] = []
        by_ref = scanned(spans, findings)
        if by_ref:
            found = paired(by_ref, cursor.execute(_FINDINGS, (orjson.dumps(list(by_ref)).decode(),)))
    return SummaryData(spans=spans, usage=usage, findings=found)


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
