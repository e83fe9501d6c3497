"""Semantic findings made at ingest: stored once per span whatever the arrival order or retries,
read by /spans/summary; spans stored before the scan moved to ingest are scanned at query time
and give the same answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server
from tests.spans import SpanFactory
from tests.test_spans_summary import semantic_thread, summary
from tracehound.analytics.summary import spans_summary
from tracehound.conventions import normalize
from tracehound.model import Finding, RawSpan, Span
from tracehound.storage import StoreConfig, open_store
from tracehound.storage.types import SummarySelection


def _execute(server: Server, statements: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
    """Run `statements` in one transaction on the server's database; the first row of each."""
    return server.db.transaction(statements)


def _stored(server: Server, project: str) -> tuple[int, int, int]:
    """Spans, texts scanned at ingest and findings stored for `project`."""
    (spans, texts), (found,) = _execute(
        server,
        [
            ("SELECT COUNT(*), SUM(texts_scanned) FROM spans WHERE project_id = ?", (project,)),
            ("SELECT COUNT(*) FROM span_findings WHERE project_id = ?", (project,)),
        ],
    )
    return spans, None if texts is None else int(texts), found


def _forget(server: Server, project: str, keep: str | None = None) -> None:
    """Make the spans of `project` but those of operation `keep` look as an older tracehound
    stored them: not scanned at ingest, no findings."""
    _execute(
        server,
        [
            (
                "UPDATE spans SET texts_scanned = NULL WHERE project_id = ? AND operation_name IS NOT ?",
                (project, keep),
            ),
            (
                """DELETE FROM span_findings WHERE project_id = ? AND span_id IN
                   (SELECT span_id FROM spans WHERE project_id = ? AND texts_scanned IS NULL)""",
                (project, project),
            ),
        ],
    )


def test_spans_stored_before_the_upgrade_give_the_same_summary(
    api: httpx.Client, spans: SpanFactory, server: Server, project: str
) -> None:
    semantic_thread(spans, "thread-u")
    before = summary(api, thread_ids="thread-u")
    # Eight spans; six texts (three tool results, an answer, two tool outputs); four findings.
    assert _stored(server, project) == (8, 6, 4)
    assert (before["semantic_error_count"], before["tool_call_error_count"]) == (2, 3)
    # A thread half stored before the upgrade: the requests keep their findings, the rest not.
    _forget(server, project, keep="api_invoke")
    assert _stored(server, project) == (8, 3, 2)
    assert summary(api, thread_ids="thread-u") == before
    _forget(server, project)
    assert _stored(server, project) == (8, None, 0)
    assert summary(api, thread_ids="thread-u") == before
    assert summary(api, thread_ids="thread-u", semantic="false")["semantic_scan"]["texts"] == 0


def test_a_retried_export_stores_findings_once(
    api: httpx.Client, spans: SpanFactory, server: Server, project: str
) -> None:
    semantic_thread(spans, "thread-r")
    before = summary(api, thread_ids="thread-r")
    sent = spans.memory.get_finished_spans()
    spans.export(sent, "grpc")
    spans.export(sent, "http")
    assert _stored(server, project) == (8, 6, 4)
    assert summary(api, thread_ids="thread-r") == before


# -- the store alone: findings through the writer, in any arrival order --------------------------

TRACE = "ab" * 16
BASE = {"vllora.run_id": "r", "vllora.thread_id": "th"}


def _raw(span_id: str, parent: str | None, name: str, start: int, **attrs: Any) -> RawSpan:
    return RawSpan(
        trace_id=TRACE,
        span_id=span_id * 16,
        parent_span_id=None if parent is None else parent * 16,
        name=name,
        start_time_us=start,
        finish_time_us=start + 100,
        attributes={**BASE, **attrs},
    )


def _tree() -> list[Span]:
    """run (1) > api_invoke (2) handing back a failed tool result > model_call (3) answering with a
    rate limit; run > an OpenInference tool span (4) whose output failed. Parents first."""
    request = {
        "messages": [
            {"role": "user", "content": "Find a flight"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "k", "type": "function", "function": {"name": "search", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "k", "content": "Error: upstream down"},
        ]
    }
    answer = {"role": "assistant", "content": "Sorry, I hit a rate limit."}
    raws = [
        _raw("1", None, "run", 0),
        _raw("2", "1", "api_invoke", 10, request=json.dumps(request)),
        _raw("3", "2", "model_call", 20, model_name="openai/gpt-4o-mini", output=json.dumps(answer)),
        _raw("4", "1", "lookup", 30, **{"openinference.span.kind": "TOOL", "tool.name": "lookup",
                                         "output.value": "❌ lookup failed"}),
    ]  # fmt: skip
    return [normalize(r, 5_000) for r in raws]


EXPECTED = {
    "2" * 16: [Finding("tool_result", 1, "search", "error:", 100, "Error: upstream down")],
    "3" * 16: [Finding("output", 0, None, "rate limit", 80, "Sorry, I hit a rate limit.")],
    "4" * 16: [Finding("output", 0, "lookup", "❌", 100, "❌ lookup failed")],
}


@pytest.mark.parametrize("order", ["parents_first", "children_first", "one_batch"])
def test_findings_survive_the_writer_in_any_order(tmp_path: Path, store_url: str | None, order: str) -> None:
    spans = _tree()
    assert [s.texts_scanned for s in spans] == [0, 1, 1, 1]
    store = open_store(StoreConfig(url=store_url, data_dir=tmp_path, clock=lambda: 1.0))
    try:
        if order == "one_batch":
            store.write(spans)
        for s in spans if order == "parents_first" else reversed(spans) if order == "children_first" else ():
            store.write([s])
        store.write(_tree())  # a retry: nothing new
        data = store.span_summary(SummarySelection("default", run_ids=("r",)))
        by_id: dict[str, list[Finding]] = {}
        for facts, finding in data.findings:
            by_id.setdefault(facts.span_id, []).append(finding)
        assert by_id == EXPECTED
        assert [s.texts_scanned for s in data.spans] == [0, 1, 1, 1]
        assert store.span_summary(SummarySelection("default", run_ids=("r",)), findings=False).findings == []
        body = spans_summary(store, "default", thread_ids=("th",))
    finally:
        store.close()
    assert [(e["span_id"], e["detected_pattern"]) for e in body["tool_call_errors"]] == [
        ("2" * 16, "error:"),
        ("4" * 16, "❌"),
    ]
    assert [(e["span_id"], e["detected_pattern"]) for e in body["semantic_error_spans"]] == [
        ("4" * 16, "❌"),
        ("3" * 16, "rate limit"),
    ]
    assert body["semantic_scan"] == {"enabled": True, "texts": 3, "max_chars": 1000}
