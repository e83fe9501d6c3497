"""The span summary of a thread, runs or labels: what vLLora's data agent computes in the
browser after downloading every span (reference §6.1), computed next to the data and kept small.
docs/analytics.md defines every figure.

Everything comes from typed columns and the semantic findings made at ingest
(`tracehound.conventions.semantic`). Only spans stored before findings were made at ingest are
scanned here, from their attribute JSON."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import orjson

from tracehound.analytics.percentiles import nearest_rank_ms, to_ms
from tracehound.analytics.stats import usage_rows
from tracehound.conventions.semantic import SCAN_CHARS, scan, texts_to_scan
from tracehound.conventions.texts import may_hand_tool_results
from tracehound.model import KIND_TOOL, Finding
from tracehound.storage.protocols import TraceStore
from tracehound.storage.types import SpanFacts, SummaryData, SummarySelection

DEFAULT_LIMIT = 10  # entries per list of spans
DEFAULT_BREAKDOWN_LIMIT = 20  # entries per breakdown (operations, models, tools)
MAX_LIMIT = 100
REPEATED_MIN = 2  # failures of one tool (or error spans of one operation) to be "repeated"
REPEATED_SPAN_IDS = 3  # span ids quoted per repeated failure


class SummaryError(ValueError):
    """A request that cannot be answered as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class _Found:
    """A pattern found in a span's output or in a tool result it handed to the model."""

    span: SpanFacts
    finding: Finding

    @property
    def key(self) -> tuple[str, int]:
        """Tells two findings of one span apart."""
        return self.finding.source, self.finding.position


def _busy_us(spans: Sequence[SpanFacts]) -> int:
    """µs covered by at least one span: the union of the intervals (spans are by start)."""
    total = 0
    run_s = run_e = None
    for s in spans:
        start, finish = s.start_us, s.finish_us
        if finish < start:  # not max(): this loop runs once per span
            finish = start
        if run_e is None or start > run_e:
            if run_e is not None and run_s is not None:
                total += run_e - run_s
            run_s, run_e = start, finish
        elif finish > run_e:
            run_e = finish
    if run_e is not None and run_s is not None:
        total += run_e - run_s
    return total


def _tool_names(s: SpanFacts) -> list[str]:
    # vLLora's `tools` span names every tool the model called, comma-joined.
    if not s.tool_name:
        return []
    return [n for n in (part.strip() for part in s.tool_name.split(",")) if n]


def _found(store: TraceStore, project_id: str, data: SummaryData) -> tuple[list[_Found], int]:
    """The findings of the selected spans and how many texts were scanned: made at ingest, or for
    spans stored before that, by scanning their stored attributes now."""
    found = [_Found(s, f) for s, f in data.findings]
    texts = sum(filter(None, map(attrgetter("texts_scanned"), data.spans)))
    older = [s for s in data.spans if s.texts_scanned is None]
    if older:
        old_found, old_texts = _scan_stored(store, project_id, older)
        found += old_found
        texts += old_texts
    return found, texts


def _scan_stored(store: TraceStore, project_id: str, spans: Sequence[SpanFacts]) -> tuple[list[_Found], int]:
    wanted = [(s, *texts_to_scan(s)) for s in spans]
    wanted = [w for w in wanted if w[1] or w[2]]
    stored = store.span_attributes(project_id, [s.ref for s, _, _ in wanted])
    found: list[_Found] = []
    texts = 0
    for s, output, tool_results in wanted:
        raw = stored.get(s.ref)
        tool_results = tool_results and may_hand_tool_results(raw or b"")
        if not raw or not (output or tool_results):
            continue
        attrs = orjson.loads(raw)
        if not isinstance(attrs, dict):
            continue
        findings, n = scan(s, attrs, output, tool_results)
        texts += n
        found += (_Found(s, f) for f in findings)
    return found, texts


def _by_severity(found: Iterable[_Found]) -> list[_Found]:
    return sorted(found, key=lambda f: (-f.finding.severity, f.span.start_us, f.span.span_id, f.key))


def _repeated(errors: Sequence[SpanFacts], tool_failures: Iterable[_Found]) -> list[dict[str, Any]]:
    """Tools that failed at least twice (an error tool span, or a tool result with a pattern;
    each failure once) and operations with at least two error spans."""
    # Per (type, name): each failure, by what tells it apart, with the span it happened in.
    failures: dict[tuple[str, str], dict[tuple[str, str, int], SpanFacts]] = {}
    for s in errors:
        failures.setdefault(("operation", s.operation_name), {})[(s.span_id, "error", 0)] = s
        if s.kind == KIND_TOOL:
            for name in _tool_names(s):
                failures.setdefault(("tool", name), {})[(s.span_id, "output", 0)] = s
    for f in tool_failures:
        if f.finding.tool_name:
            failures.setdefault(("tool", f.finding.tool_name), {})[(f.span.span_id, *f.key)] = f.span
    rows = [(kind, name, list(events.values())) for (kind, name), events in failures.items()]
    rows = [r for r in rows if len(r[2]) >= REPEATED_MIN]
    rows.sort(key=lambda r: (-len(r[2]), r[0] != "tool", r[1]))
    out = []
    for kind, name, spans in rows:
        spans.sort(key=lambda s: (s.start_us, s.span_id))
        ids = list(dict.fromkeys(s.span_id for s in spans))
        out.append({"type": kind, "name": name, "count": len(spans), "span_ids": ids[:REPEATED_SPAN_IDS]})
    return out


def _check(limit: int, breakdown_limit: int, filters: Sequence[tuple[str, ...]]) -> None:
    if not any(filters):
        raise SummaryError("give at least one of thread_ids, run_ids or labels (a CSV of values)")
    for name, value in (("limit", limit), ("breakdown_limit", breakdown_limit)):
        if not 1 <= value <= MAX_LIMIT:
            raise SummaryError(f"{name} must be between 1 and {MAX_LIMIT}, got {value}")


def spans_summary(
    store: TraceStore,
    project_id: str,
    *,
    thread_ids: tuple[str, ...] = (),
    run_ids: tuple[str, ...] = (),
    labels: tuple[str, ...] = (),
    limit: int = DEFAULT_LIMIT,
    breakdown_limit: int = DEFAULT_BREAKDOWN_LIMIT,
    semantic: bool = True,
) -> dict[str, Any]:
    """The summary of the spans in any of `thread_ids`, of any of `run_ids` and with any of
    `labels` (the filters given combine with AND). Lists of spans hold at most `limit` entries,
    breakdowns at most `breakdown_limit`; `truncated` says which were cut. With `semantic`
    false, no semantic findings are read or made (typed columns only). Raises SummaryError on
    bad input, before reading anything."""
    _check(limit, breakdown_limit, (thread_ids, run_ids, labels))
    data = store.span_summary(SummarySelection(project_id, thread_ids, run_ids, labels), findings=semantic)
    spans = data.spans
    errors = [s for s in spans if s.is_error]
    llm_calls = [s for s in spans if s.is_llm_call]
    latencies = sorted(max(s.finish_us - s.start_us, 0) for s in llm_calls)
    ttfts = sorted(s.ttft_us for s in llm_calls if s.ttft_us is not None)
    counted = [s for s in spans if s.usage_counted]
    input_tokens = sum(s.input_tokens or 0 for s in counted)
    cached_tokens = sum(s.cached_tokens or 0 for s in counted)

    operations = Counter(map(attrgetter("operation_name"), spans))
    tool_spans = [s for s in spans if s.kind == KIND_TOOL]
    tools: dict[str, list[int]] = {}
    for s in tool_spans:
        for name in _tool_names(s):
            row = tools.setdefault(name, [0, 0])
            row[0] += 1
            row[1] += s.is_error
    tool_order = sorted(tools, key=lambda n: (-tools[n][0], n))
    models = usage_rows(data.usage, "model")

    # Without the scan no finding is read or made: the semantic lists stay empty.
    found, texts = _found(store, project_id, data) if semantic else ([], 0)
    in_outputs = _by_severity(f for f in found if f.finding.source == "output")
    tool_errors = _by_severity(
        f for f in found if f.finding.source == "tool_result" or f.span.kind == KIND_TOOL
    )
    work = [s for s in spans if s.is_llm_call or s.kind == KIND_TOOL]
    slowest = heapq.nsmallest(limit, work, key=lambda s: (-(s.finish_us - s.start_us), s.start_us, s.span_id))
    priced = [s for s in counted if s.cost is not None and s.cost > 0]
    expensive = heapq.nsmallest(limit, priced, key=lambda s: (-(s.cost or 0.0), s.start_us, s.span_id))
    repeated = _repeated(errors, tool_errors)

    return {
        "filters": {"thread_ids": list(thread_ids), "run_ids": list(run_ids), "labels": list(labels)},
        "total_spans": len(spans),
        "run_count": len(set(map(attrgetter("run_id"), spans))),
        "start_time_us": spans[0].start_us if spans else None,
        "finish_time_us": max(map(attrgetter("finish_us"), spans)) if spans else None,
        "total_duration_ms": _busy_us(spans) / 1000,
        "by_operation": dict(sorted(operations.items(), key=lambda kv: (-kv[1], kv[0]))[:breakdown_limit]),
        "by_status": {"success": len(spans) - len(errors), "error": len(errors)},
        "llm_calls": len(llm_calls),
        "total_cost": sum(s.cost or 0.0 for s in counted),
        "total_input_tokens": input_tokens,
        "total_output_tokens": sum(s.output_tokens or 0 for s in counted),
        "total_cached_tokens": cached_tokens,
        "cache_hit_rate": round(100 * cached_tokens / input_tokens, 2) if input_tokens else None,
        "unpriced_calls": sum(s.unpriced for s in counted),
        "latency": {
            "count": len(latencies),
            "p50_ms": nearest_rank_ms(latencies, 50),
            "p95_ms": nearest_rank_ms(latencies, 95),
            "p99_ms": nearest_rank_ms(latencies, 99),
            "max_ms": to_ms(latencies[-1]) if latencies else None,
        },
        "ttft": {
            "count": len(ttfts),
            "p50_ms": nearest_rank_ms(ttfts, 50),
            "p95_ms": nearest_rank_ms(ttfts, 95),
            "avg_ms": sum(ttfts) / len(ttfts) / 1000 if ttfts else None,
        },
        "model_breakdown": models[:breakdown_limit],
        "tool_usage": [
            {"name": n, "count": tools[n][0], "errors": tools[n][1]} for n in tool_order[:breakdown_limit]
        ],
        "error_spans": [
            {
                "span_id": s.span_id,
                "operation_name": s.operation_name,
                "kind": s.kind,
                "error_message": s.error_message,
                "start_time_us": s.start_us,
            }
            for s in errors[:limit]
        ],
        "semantic_error_count": len(in_outputs),
        "semantic_error_spans": [
            {
                "span_id": f.span.span_id,
                "operation_name": f.span.operation_name,
                "kind": f.span.kind,
                "detected_pattern": f.finding.pattern,
                "severity": f.finding.severity,
                "snippet": f.finding.snippet,
            }
            for f in in_outputs[:limit]
        ],
        "tool_call_error_count": len(tool_errors),
        "tool_call_errors": [
            {
                "span_id": f.span.span_id,
                "operation_name": f.span.operation_name,
                "tool_name": f.finding.tool_name,
                "source": f.finding.source,
                "detected_pattern": f.finding.pattern,
                "severity": f.finding.severity,
                "message": f.finding.snippet,
            }
            for f in tool_errors[:limit]
        ],
        "slowest_spans": [
            {
                "span_id": s.span_id,
                "operation_name": s.operation_name,
                "kind": s.kind,
                "model": s.model,
                "tool_name": s.tool_name,
                "duration_ms": to_ms(s.finish_us - s.start_us),
                "ttft_ms": to_ms(s.ttft_us),
            }
            for s in slowest
        ],
        "expensive_spans": [
            {"span_id": s.span_id, "operation_name": s.operation_name, "model": s.model, "cost": s.cost}
            for s in expensive
        ],
        "repeated_failures": repeated[:limit],
        "semantic_scan": {"enabled": semantic, "texts": texts, "max_chars": SCAN_CHARS},
        "truncated": {
            "by_operation": len(operations) > breakdown_limit,
            "model_breakdown": len(models) > breakdown_limit,
            "tool_usage": len(tools) > breakdown_limit,
            "error_spans": len(errors) > limit,
            "semantic_error_spans": len(in_outputs) > limit,
            "tool_call_errors": len(tool_errors) > limit,
            "slowest_spans": len(work) > limit,
            "expensive_spans": len(priced) > limit,
            "repeated_failures": len(repeated) > limit,
        },
    }
