"""What a span summary (/spans/summary) reads: the typed columns of the selected spans, their
usage by model, the semantic findings made at ingest and, for spans stored before findings were
made at ingest, the attribute JSON the semantic scan needs. `SpanFacts.ref` is spans.id.

The selection is that of /spans: spans of one project in any of the threads, of any of the runs
and carrying any of the labels (the filters given combine with AND). The arithmetic lives in
`tracehound.analytics.summary`."""

from __future__ import annotations

from collections.abc import Sequence

from tracehound.model import Finding
from tracehound.storage.postgres.connect import Conn
from tracehound.storage.postgres.usage import span_usage
from tracehound.storage.postgres.where import selected_spans
from tracehound.storage.summary_rows import facts_by_start, paired, scanned
from tracehound.storage.types import SpanFacts, SummaryData, SummarySelection
from tracehound.storage.usage import Usage

_FACTS = """
    SELECT id, span_id, run_id, operation_name, kind, is_llm_call, start_time_us, finish_time_us,
        is_error, error_message, model, tool_name, ttft_us, cost, usage_counted, input_tokens,
        output_tokens, cached_tokens, (cost_source = 'unpriced')::int, texts_scanned
    FROM spans WHERE {where}
"""

# The findings of the spans `refs`, matched on the full ids, not the keys alone.
_FINDINGS = """
    SELECT s.id, f.source, f.idx, f.tool_name, f.pattern, f.severity, f.snippet
    FROM spans AS s JOIN span_findings AS f ON f.span_key = s.span_key AND f.trace_key = s.trace_key
        AND f.project_id = s.project_id AND f.trace_id = s.trace_id AND f.span_id = s.span_id
    WHERE s.id = ANY(%s)
"""


def summary_data(conn: Conn, sel: SummarySelection, findings: bool = True) -> SummaryData:
    """The selected spans, their usage by model and (when `findings`) their semantic findings,
    read in one snapshot."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        where = selected_spans(conn, sel.project_id, sel.thread_ids, sel.run_ids, sel.labels)
        spans = facts_by_start(conn.execute(_FACTS.format(where=where.sql()), where.params))
        usage = span_usage(conn, "model", where) if spans else Usage()
        found: list[tuple[SpanFacts, Finding]] = []
        by_ref = scanned(spans, findings)
        if by_ref:
            found = paired(by_ref, conn.execute(_FINDINGS, (list(by_ref),)))
    return SummaryData(spans=spans, usage=usage, findings=found)


def span_attributes(conn: Conn, project_id: str, refs: Sequence[int]) -> dict[int, bytes]:
    """The attribute JSON of the rows `refs` (from `summary_data`), as UTF-8 bytes, which a JSON
    parser reads without first decoding megabytes into text."""
    if not refs:
        return {}
    rows = conn.execute(
        "SELECT id, convert_to(attributes, 'UTF8') FROM spans WHERE id = ANY(%s) AND project_id = %s",
        (list(refs), project_id),
    )
    return {ref: bytes(attributes) for ref, attributes in rows}
