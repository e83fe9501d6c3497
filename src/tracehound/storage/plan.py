"""The pure "plan" step of an ingest transaction, shared by every backend: given the spans of a
batch and, per trace, what the store already holds of it (its skeleton), decide which spans are
new, which stored spans the ancestor rule un-counts, and accumulate every rollup delta.

No SQL here. A backend reads the skeletons, calls `plan_trace` per trace, then applies the
`Batch` (spans, un-counts, rollup upserts) in the same transaction. The plan is correct only if
no other transaction changes a trace between its skeleton read and COMMIT: SQLite has one writer
per file; PostgreSQL holds a per-trace advisory lock from before the read until COMMIT.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from tracehound.ids import hex_key, text_key
from tracehound.model import Span, events_to_json, to_json
from tracehound.storage.hour_cache import HourRef
from tracehound.storage.hourly import HourKey, HourUsage, hour_of, name_key
from tracehound.storage.rollups import Delta, count_into, span_facets

_MAX_DEPTH = 1024

# What the ancestor rule needs to know of a trace's stored spans, in `Stored`'s order.
SKELETON_COLUMNS = """span_id, parent_span_id, has_usage, usage_counted, run_id, thread_id, cost,
    input_tokens, output_tokens, cached_tokens, start_time_us, model, provider, cost_source"""

# The columns of a span row, in `span_row`'s order.
SPAN_COLUMNS = (
    "project_id",
    "trace_key",
    "span_key",
    "thread_key",
    "trace_id",
    "span_id",
    "parent_span_id",
    "run_id",
    "thread_id",
    "operation_name",
    "kind",
    "is_llm_call",
    "start_time_us",
    "finish_time_us",
    "status_code",
    "status_message",
    "is_error",
    "error_message",
    "model",
    "request_model",
    "provider",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost",
    "cost_source",
    "has_usage",
    "usage_counted",
    "label",
    "tool_name",
    "title",
    "ttft_us",
    "convention",
    "attributes",
    "events",
    "resource_id",
    "scope_name",
    "received_us",
    "texts_scanned",
)

FINDING_COLUMNS = (
    "project_id",
    "trace_key",
    "span_key",
    "trace_id",
    "span_id",
    "source",
    "idx",
    "tool_name",
    "pattern",
    "severity",
    "snippet",
)

DURATION_COLUMNS = (
    "project_id",
    "hour_us",
    "model",
    "provider",
    "duration_us",
    "trace_key",
    "span_key",
    "start_time_us",
    "is_error",
)


class Stored(NamedTuple):
    span_id: str
    parent_span_id: str | None
    has_usage: int
    usage_counted: int
    run_id: str
    thread_id: str | None
    cost: float | None
    input_tokens: int | None
    output_tokens: int | None
    cached_tokens: int | None
    start_time_us: int
    model: str | None
    provider: str | None
    cost_source: str | None


class Batch:
    """Deltas of one transaction."""

    def __init__(self) -> None:
        self.rows: list[tuple[object, ...]] = []  # span rows to insert, in SPAN_COLUMNS order
        self.uncount: list[tuple[str, int, str, str]] = []  # (project, trace_key, trace_id, span_id)
        self.runs: dict[tuple[str, str], Delta] = {}
        self.threads: dict[tuple[str, str], Delta] = {}
        self.labels: Counter[tuple[str, str]] = Counter()
        self.project_spans: Counter[str] = Counter()
        self.resources: dict[int, str] = {}
        self.usage_hours: dict[HourKey, HourUsage] = {}
        self.llm_durations: list[tuple[object, ...]] = []
        self.findings: list[tuple[object, ...]] = []  # rows of span_findings, for new spans only
        # What /stats' per-hour cache must forget: the hours of the spans written and
        # un-counted, and (added by the backend) the start hours, old and new, of the runs changed.
        self.hours: set[HourRef] = set()
        self._resource_ids: dict[int, int] = {}
        self._thread_keys: dict[str, int] = {}
        self._resource_text_ids: dict[str, int] = {}

    def thread_key(self, thread_id: str) -> int:
        key = self._thread_keys.get(thread_id)
        if key is None:
            key = self._thread_keys[thread_id] = text_key(thread_id)
        return key

    def resource_id(self, span: Span) -> int | None:
        """Resource dicts are shared by all spans of one ResourceSpans: key the cache by identity
        (or by text, when the JSON was made in a decoding process)."""
        if span.resource_json is not None:
            rid = self._resource_text_ids.get(span.resource_json)
            if rid is None:
                rid = self._resource_text_ids[span.resource_json] = text_key(span.resource_json)
                self.resources[rid] = span.resource_json
            return rid
        if not span.resource:
            return None
        rid = self._resource_ids.get(id(span.resource))
        if rid is None:
            text = to_json(span.resource)
            rid = text_key(text)
            self._resource_ids[id(span.resource)] = rid
            self.resources[rid] = text
        return rid

    def run(self, project_id: str, run_id: str) -> Delta:
        key = (project_id, run_id)
        delta = self.runs.get(key)
        if delta is None:
            delta = self.runs[key] = Delta()
        return delta

    def thread(self, project_id: str, thread_id: str) -> Delta:
        key = (project_id, thread_id)
        delta = self.threads.get(key)
        if delta is None:
            delta = self.threads[key] = Delta()
        return delta

    def hour_usage(
        self, project_id: str, start_us: int, model: str | None, provider: str | None
    ) -> HourUsage:
        key = (project_id, hour_of(start_us), name_key(model), name_key(provider))
        usage = self.usage_hours.get(key)
        if usage is None:
            usage = self.usage_hours[key] = HourUsage()
        return usage


def group_traces(spans: list[Span]) -> dict[tuple[str, str], dict[str, Span]]:
    """The batch's spans by (project, trace id), a span id seen twice in the batch kept once."""
    traces: dict[tuple[str, str], dict[str, Span]] = {}
    for span in spans:
        traces.setdefault((span.project_id, span.trace_id), {}).setdefault(span.span_id, span)
    return traces


def plan_trace(
    project: str, trace_id: str, group: dict[str, Span], stored: list[Stored], batch: Batch
) -> None:
    """One trace's new spans, with the ancestor rule for cost and tokens: a span's usage counts
    only when no ancestor carries usage. Spans arrive children first, so a newly arrived parent
    can take back usage counted earlier for its descendants (`batch.uncount`)."""
    key = hex_key(trace_id)
    known = {r.span_id for r in stored}
    new = [s for sid, s in group.items() if sid not in known]
    if not new:
        return
    usage_here = any(s.has_usage for s in new) or any(r.has_usage for r in stored)
    covered: dict[str, bool] = {}
    if usage_here:
        tree = {r.span_id: (r.parent_span_id, bool(r.has_usage)) for r in stored}
        tree.update((s.span_id, (s.parent_span_id, s.has_usage)) for s in new)
        covered = _covered(tree)
        for r in stored:
            if r.usage_counted and covered[r.span_id]:
                _uncount(project, key, trace_id, r, batch)
    for span in new:
        counted = span.has_usage and not covered.get(span.span_id, False)
        thread_key = None if span.thread_id is None else batch.thread_key(span.thread_id)
        row = span_row(span, key, counted, batch.resource_id(span), thread_key)
        batch.rows.append(row)
        span_key = row[2]
        batch.findings.extend((project, key, span_key, trace_id, span.span_id, *f) for f in span.findings)
        _fold(span, counted, batch)
        if span.is_llm_call:
            batch.llm_durations.append(_duration_row(span, key, span_key))


def _covered(tree: dict[str, tuple[str | None, bool]]) -> dict[str, bool]:
    """For each span: does any ancestor present in `tree` carry usage?"""
    memo: dict[str, bool] = {}

    def walk(span_id: str) -> bool:
        chain: list[str] = []
        result = False
        node: str | None = span_id
        while node is not None and len(chain) < _MAX_DEPTH:
            if node in memo:
                result = memo[node]
                break
            chain.append(node)
            parent = tree[node][0]
            if parent is None or parent not in tree:
                break
            if tree[parent][1]:
                result = True
                break
            node = parent
        for n in chain:
            memo[n] = result
        return result

    return {sid: walk(sid) for sid in tree}


def _uncount(project: str, key: int, trace_id: str, r: Stored, batch: Batch) -> None:
    batch.uncount.append((project, key, trace_id, r.span_id))
    usage = (r.cost, r.input_tokens, r.output_tokens, r.cached_tokens)
    batch.run(project, r.run_id).add_usage(*usage, sign=-1)
    if r.thread_id is not None:
        batch.thread(project, r.thread_id).add_usage(*usage, sign=-1)
    hour = batch.hour_usage(project, r.start_time_us, r.model, r.provider)
    hour.add(*usage, unpriced=r.cost_source == "unpriced", sign=-1)
    batch.hours.add((project, hour_of(r.start_time_us)))


def _duration_row(span: Span, trace_key: int, span_key: object) -> tuple[object, ...]:
    return (
        span.project_id,
        hour_of(span.start_time_us),
        name_key(span.model),
        name_key(span.provider),
        span.finish_time_us - span.start_time_us,
        trace_key,
        span_key,
        span.start_time_us,
        span.is_error,
    )


def span_row(
    span: Span, trace_key: int, counted: bool, resource_id: int | None, thread_key: int | None
) -> tuple[object, ...]:
    """A span as a row of SPAN_COLUMNS."""
    return (
        span.project_id,
        trace_key,
        hex_key(span.span_id),
        thread_key,
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.run_id,
        span.thread_id,
        span.operation_name,
        span.kind,
        span.is_llm_call,
        span.start_time_us,
        span.finish_time_us,
        span.status_code,
        span.status_message,
        span.is_error,
        span.error_message,
        span.model,
        span.request_model,
        span.provider,
        span.input_tokens,
        span.output_tokens,
        span.cached_tokens,
        span.cost,
        span.cost_source,
        span.has_usage,
        counted,
        span.label,
        span.tool_name,
        span.title,
        span.ttft_us,
        span.convention,
        span.attributes_json if span.attributes_json is not None else to_json(span.attributes),
        span.events_json if span.events_json is not None else events_to_json(span.events),
        resource_id,
        span.scope_name or None,
        span.received_us,
        span.texts_scanned,
    )


def _fold(span: Span, counted: bool, batch: Batch) -> None:
    project = span.project_id
    facets = span_facets(span)
    run = batch.run(project, span.run_id)
    run.add_span(span)
    count_into(run.facets, facets)
    thread = None
    if span.thread_id is not None:
        run.facets[("thread", span.thread_id)] = run.facets.get(("thread", span.thread_id), 0) + 1
        thread = batch.thread(project, span.thread_id)
        thread.add_span(span)
        facets.append(("run", span.run_id))
        count_into(thread.facets, facets)
    if span.label:
        batch.labels[(project, span.label)] += 1
    batch.project_spans[project] += 1
    batch.hours.add((project, hour_of(span.start_time_us)))
    if counted:
        usage = (span.cost, span.input_tokens, span.output_tokens, span.cached_tokens)
        run.add_usage(*usage)
        if thread is not None:
            thread.add_usage(*usage)
        hour = batch.hour_usage(project, span.start_time_us, span.model, span.provider)
        hour.add(*usage, unpriced=span.cost_source == "unpriced")
