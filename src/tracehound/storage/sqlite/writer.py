"""The ingest transaction: spans, the ancestor rule for cost and tokens, and the rollups, all
committed together or not at all."""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import NamedTuple

from tracehound.ids import hex_key, text_key
from tracehound.model import Span, events_to_json, to_json
from tracehound.storage.hour_cache import HourRef, HourVersions
from tracehound.storage.hourly import (
    DURATION_INSERT,
    USAGE_UPSERT,
    HourKey,
    HourUsage,
    hour_of,
    name_key,
)
from tracehound.storage.rollups import (
    RUN_FILTER_FACETS,
    THREAD_FILTER_FACETS,
    Delta,
    count_into,
    facet_upsert_sql,
    merge_sets,
    span_facets,
    upsert_sql,
    usage_update_sql,
)
from tracehound.storage.types import WriteResult

_INSERT_SPAN = """
    INSERT INTO spans (project_id, trace_key, span_key, thread_key, trace_id, span_id, parent_span_id,
        run_id, thread_id, operation_name, kind, is_llm_call, start_time_us, finish_time_us,
        status_code, status_message, is_error, error_message, model, request_model, provider,
        input_tokens, output_tokens, cached_tokens, cost, cost_source, has_usage, usage_counted,
        label, tool_name, title, ttft_us, convention, attributes, events, resource_id,
        scope_name, received_us, texts_scanned)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
        ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_INSERT_FINDING = """
    INSERT INTO span_findings (project_id, trace_key, span_key, trace_id, span_id, source, idx,
        tool_name, pattern, severity, snippet)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

# What the ancestor rule needs to know of a trace's stored spans.
_SKELETON = """
    SELECT span_id, parent_span_id, has_usage, usage_counted, run_id, thread_id, cost,
        input_tokens, output_tokens, cached_tokens, start_time_us, model, provider, cost_source
    FROM spans WHERE trace_key = ? AND project_id = ? AND trace_id = ?
"""

_UNCOUNT = """
    UPDATE spans SET usage_counted = 0
    WHERE trace_key = ? AND project_id = ? AND trace_id = ? AND span_id = ?
"""

_MAX_DEPTH = 1024


class _Batch:
    """Deltas of one transaction."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str], Delta] = {}
        self.threads: dict[tuple[str, str], Delta] = {}
        self.labels: Counter[tuple[str, str]] = Counter()
        self.project_spans: Counter[str] = Counter()
        self.resources: dict[int, str] = {}
        self.usage_hours: dict[HourKey, HourUsage] = {}
        self.llm_durations: list[tuple[object, ...]] = []
        self.findings: list[tuple[object, ...]] = []  # rows of span_findings, for new spans only
        # What /stats' per-hour cache must forget (sqlite_stats_hours.py): the hours of the
        # spans written and un-counted, and the start hours, old and new, of the runs changed.
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

    def hour_usage(
        self, project_id: str, start_us: int, model: str | None, provider: str | None
    ) -> HourUsage:
        key = (project_id, hour_of(start_us), name_key(model), name_key(provider))
        usage = self.usage_hours.get(key)
        if usage is None:
            usage = self.usage_hours[key] = HourUsage()
        return usage

    def thread(self, project_id: str, thread_id: str) -> Delta:
        key = (project_id, thread_id)
        delta = self.threads.get(key)
        if delta is None:
            delta = self.threads[key] = Delta()
        return delta


def write_spans(
    conn: sqlite3.Connection, spans: list[Span], versions: HourVersions | None = None
) -> WriteResult:
    """Store `spans` and fold them into the rollups, in one transaction, stamping in `versions`
    the hours it touched, before and after COMMIT.

    A span already stored (an exporter retry) is skipped and counted as a duplicate, so rollups
    never count it twice. De-duplication reads each trace's stored spans, which is safe because
    this connection is the file's only writer (see SqliteStore's lock).
    """
    batch = _Batch()
    traces: dict[tuple[str, str], dict[str, Span]] = {}
    for span in spans:
        traces.setdefault((span.project_id, span.trace_id), {}).setdefault(span.span_id, span)
    rows: list[tuple[object, ...]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "INSERT OR IGNORE INTO projects (id, created_at_us) VALUES (?, ?)",
            [(p, spans[0].received_us) for p in {project for project, _ in traces}],
        )
        for (project, trace_id), group in traces.items():
            _trace(conn, project, trace_id, group, batch, rows)
        conn.executemany(_INSERT_SPAN, rows)
        conn.executemany(_INSERT_FINDING, batch.findings)
        conn.executemany(
            "INSERT OR IGNORE INTO resources (id, attributes) VALUES (?, ?)", list(batch.resources.items())
        )
        _apply(conn, batch)
        if versions is None:
            conn.execute("COMMIT")
        else:
            versions.begin(batch.hours)
            try:
                conn.execute("COMMIT")
            finally:
                versions.end(batch.hours)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return WriteResult(inserted=len(rows), duplicates=len(spans) - len(rows))


class _Stored(NamedTuple):
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


def _trace(
    conn: sqlite3.Connection,
    project: str,
    trace_id: str,
    group: dict[str, Span],
    batch: _Batch,
    rows: list[tuple[object, ...]],
) -> None:
    """One trace's new spans, with the ancestor rule for cost and tokens: a span's usage counts
    only when no ancestor carries usage. Spans arrive children first, so a newly arrived parent
    can take back usage counted earlier for its descendants."""
    key = hex_key(trace_id)
    stored = [_Stored(*r) for r in conn.execute(_SKELETON, (key, project, trace_id))]
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
                _uncount(conn, key, project, trace_id, r, batch)
    for span in new:
        counted = span.has_usage and not covered.get(span.span_id, False)
        thread_key = None if span.thread_id is None else batch.thread_key(span.thread_id)
        row = _row(span, key, counted, batch.resource_id(span), thread_key)
        rows.append(row)
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


def _uncount(
    conn: sqlite3.Connection, key: int, project: str, trace_id: str, r: _Stored, batch: _Batch
) -> None:
    conn.execute(_UNCOUNT, (key, project, trace_id, r.span_id))
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


def _row(
    span: Span, trace_key: int, counted: bool, resource_id: int | None, thread_key: int | None
) -> tuple[object, ...]:
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


def _fold(span: Span, counted: bool, batch: _Batch) -> None:
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


def _stored(
    conn: sqlite3.Connection, table: str, key: str, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, int]]:
    """The stored `sets` and start of the rollups `keys` name (those that exist)."""
    out: dict[tuple[str, str], tuple[str, int]] = {}
    for project in {p for p, _ in keys}:
        ids = [k for p, k in keys if p == project]
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT {key}, sets, start_time_us FROM {table} WHERE project_id = ? AND {key} IN ({marks})",
                (project, *chunk),
            )
            out.update(((project, k), (sets, start)) for k, sets, start in rows)
    return out


def _apply(conn: sqlite3.Connection, batch: _Batch) -> None:
    rollups = (
        ("runs", "run_id", batch.runs, "run_facets", RUN_FILTER_FACETS),
        ("threads", "thread_id", batch.threads, "thread_facets", THREAD_FILTER_FACETS),
    )
    for table, key, deltas, facet_table, filtered in rollups:
        grown = [k for k, d in deltas.items() if d.span_count]
        stored = _stored(conn, table, key, grown)
        if table == "runs":
            # A run's figures count in its start hour, which an earlier span arriving late moves.
            moved = _stored(conn, table, key, [k for k, d in deltas.items() if not d.span_count])
            batch.hours.update((p, hour_of(start)) for (p, _), (_, start) in (stored | moved).items())
        conn.executemany(
            upsert_sql(table, key),
            [
                deltas[k].row(*k, merge_sets(stored[k][0] if k in stored else None, deltas[k].facets))
                for k in grown
            ],
        )
        conn.executemany(
            usage_update_sql(table, key),
            [
                (d.cost, d.input_tokens or 0, d.output_tokens or 0, d.cached_tokens or 0, *k)
                for k, d in deltas.items()
                if not d.span_count
            ],
        )
        conn.executemany(
            facet_upsert_sql(facet_table, key),
            [(*k, f, v, n) for k, d in deltas.items() for (f, v), n in d.facets.items() if f in filtered],
        )
    titled = [(d.title, p, t) for (p, t), d in batch.threads.items() if d.title]
    if titled:
        conn.executemany(
            "UPDATE threads SET title = ? WHERE project_id = ? AND thread_id = ? AND title IS NULL", titled
        )
    conn.executemany(
        """INSERT INTO project_labels (project_id, label, n) VALUES (?, ?, ?)
           ON CONFLICT (project_id, label) DO UPDATE SET n = n + excluded.n""",
        [(p, label, n) for (p, label), n in batch.labels.items()],
    )
    conn.executemany(
        "UPDATE projects SET span_count = span_count + ? WHERE id = ?",
        [(n, p) for p, n in batch.project_spans.items()],
    )
    conn.executemany(USAGE_UPSERT, [u.row(k) for k, u in batch.usage_hours.items()])
    conn.executemany(DURATION_INSERT, batch.llm_durations)
