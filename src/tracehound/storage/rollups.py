"""Per-run and per-thread rollup deltas, accumulated in memory over one ingest transaction and
then applied with one upsert per run and per thread."""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from tracehound.model import KIND_TOOL, Span


def _add(a: int | None, b: int | None) -> int | None:
    if b is None:
        return a
    return b if a is None else a + b


@dataclass(slots=True)
class Delta:
    start_time_us: int | None = None
    finish_time_us: int | None = None
    root_start_us: int | None = None
    root_finish_us: int | None = None
    span_count: int = 0
    root_count: int = 0
    error_count: int = 0
    llm_calls: int = 0
    tool_calls: int = 0
    mcp_calls: int = 0
    cost: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    last_seen_us: int = 0
    title: str | None = None
    facets: dict[tuple[str, str], int] = field(default_factory=dict)

    def add_span(self, span: Span) -> None:
        start, finish = span.start_time_us, span.finish_time_us
        if self.start_time_us is None or start < self.start_time_us:
            self.start_time_us = start
        if self.finish_time_us is None or finish > self.finish_time_us:
            self.finish_time_us = finish
        if span.parent_span_id is None:
            self.root_count += 1
            if self.root_start_us is None or start < self.root_start_us:
                self.root_start_us = start
            if self.root_finish_us is None or finish > self.root_finish_us:
                self.root_finish_us = finish
        self.span_count += 1
        self.error_count += span.is_error
        self.llm_calls += span.is_llm_call
        self.tool_calls += span.kind == KIND_TOOL
        self.mcp_calls += span.operation_name == "mcp_call"
        if span.received_us > self.last_seen_us:
            self.last_seen_us = span.received_us
        if self.title is None and span.title:
            self.title = span.title

    def add_usage(
        self,
        cost: float | None,
        input_tokens: int | None,
        output_tokens: int | None,
        cached_tokens: int | None,
        sign: int = 1,
    ) -> None:
        if cost is not None:
            self.cost += sign * cost
        if input_tokens is not None:
            self.input_tokens = _add(self.input_tokens, sign * input_tokens)
        if output_tokens is not None:
            self.output_tokens = _add(self.output_tokens, sign * output_tokens)
        if cached_tokens is not None:
            self.cached_tokens = _add(self.cached_tokens, sign * cached_tokens)

    def row(self, project_id: str, key: str, sets: str) -> tuple[object, ...]:
        start = self.start_time_us
        finish = self.finish_time_us
        duration = None if start is None or finish is None else finish - start
        return (
            project_id,
            key,
            start,
            finish,
            duration,
            self.root_start_us,
            self.root_finish_us,
            self.span_count,
            self.root_count,
            self.error_count,
            self.llm_calls,
            self.tool_calls,
            self.mcp_calls,
            self.cost,
            self.input_tokens,
            self.output_tokens,
            self.cached_tokens,
            self.last_seen_us,
            sets,
        )


def _nullable_sum(col: str) -> str:
    return f"{col} = CASE WHEN excluded.{col} IS NULL THEN {col} ELSE COALESCE({col}, 0) + excluded.{col} END"


def upsert_sql(table: str, key: str) -> str:
    """The upsert that folds a `Delta.row()` into `table`'s rollup."""
    return f"""
        INSERT INTO {table} (project_id, {key}, start_time_us, finish_time_us, duration_us,
            root_start_us, root_finish_us, span_count, root_count, error_count, llm_calls,
            tool_calls, mcp_calls, cost, input_tokens, output_tokens, cached_tokens, last_seen_us, sets)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (project_id, {key}) DO UPDATE SET
            start_time_us = min(start_time_us, COALESCE(excluded.start_time_us, start_time_us)),
            finish_time_us = max(finish_time_us, COALESCE(excluded.finish_time_us, finish_time_us)),
            duration_us = max(finish_time_us, COALESCE(excluded.finish_time_us, finish_time_us))
                - min(start_time_us, COALESCE(excluded.start_time_us, start_time_us)),
            root_start_us = COALESCE(min(root_start_us, excluded.root_start_us),
                root_start_us, excluded.root_start_us),
            root_finish_us = COALESCE(max(root_finish_us, excluded.root_finish_us),
                root_finish_us, excluded.root_finish_us),
            span_count = span_count + excluded.span_count,
            root_count = root_count + excluded.root_count,
            error_count = error_count + excluded.error_count,
            llm_calls = llm_calls + excluded.llm_calls,
            tool_calls = tool_calls + excluded.tool_calls,
            mcp_calls = mcp_calls + excluded.mcp_calls,
            cost = cost + excluded.cost,
            {_nullable_sum("input_tokens")},
            {_nullable_sum("output_tokens")},
            {_nullable_sum("cached_tokens")},
            last_seen_us = max(last_seen_us, excluded.last_seen_us),
            sets = excluded.sets
    """


def usage_update_sql(table: str, key: str) -> str:
    """For a rollup that gained no span in this transaction, only usage moved (a parent arrived
    and now covers it): NOT NULL checks run before upsert conflict handling, so update instead."""
    return f"""
        UPDATE {table} SET cost = cost + ?,
            input_tokens = input_tokens + ?, output_tokens = output_tokens + ?,
            cached_tokens = cached_tokens + ?
        WHERE project_id = ? AND {key} = ?
    """


def facet_upsert_sql(table: str, key: str) -> str:
    return f"""
        INSERT INTO {table} (project_id, {key}, facet, value, n) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (project_id, {key}, facet, value) DO UPDATE SET n = n + excluded.n
    """


# Facets looked up by value (filters, error counts); the others are only shown, from `sets`.
RUN_FILTER_FACETS = frozenset({"thread", "trace", "label", "used_model", "request_model", "error"})
THREAD_FILTER_FACETS = frozenset({"trace", "label", "used_model", "request_model"})


def merge_sets(stored: str | None, facets: Iterable[tuple[str, str]]) -> str:
    """A rollup's set-valued fields as one JSON object of sorted lists: what the run and thread
    lists show, read with the row instead of joined in per request."""
    sets: dict[str, list[str]] = orjson.loads(stored) if stored else {}
    changed = stored is None
    for facet, value in facets:
        values = sets.setdefault(facet, [])
        if value not in values:
            insort(values, value)
            changed = True
    return orjson.dumps(sets).decode() if changed or stored is None else stored


def span_facets(span: Span) -> list[tuple[str, str]]:
    """Set-valued rollup fields one span contributes to, for its run and its thread alike."""
    out: list[tuple[str, str]] = [("trace", span.trace_id)]
    if span.parent_span_id is None:
        out.append(("root_trace", span.trace_id))
        out.append(("root_span", span.span_id))
    # vLLora lists request models of `api_invoke` only; its provider spans repeat the request.
    if span.request_model and (span.operation_name == "api_invoke" or span.convention != "vllora"):
        out.append(("request_model", span.request_model))
    if span.is_llm_call and span.model:
        out.append(("used_model", span.model))
    if span.tool_name:
        # vLLora's `tools` span names every tool the model called, comma-joined.
        out.extend(("tool", name.strip()) for name in span.tool_name.split(",") if name.strip())
    if span.label:
        out.append(("label", span.label))
    if span.is_error and span.error_message:
        out.append(("error", span.error_message))
    return out


def count_into(counts: dict[tuple[str, str], int], items: list[tuple[str, str]]) -> None:
    # Counter.update checks for a Mapping on every call; this runs twice per ingested span.
    for item in items:
        counts[item] = counts.get(item, 0) + 1
