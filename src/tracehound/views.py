"""The JSON objects tracehound answers with, shaped once for the API, MCP tools and CLI: the one
place where storage's typed rows (storage/rows.py) become vLLora's JSON.

Field names follow vLLora's API (reference §3); the computed fields (duration_ms, status,
has_errors, error_count, span_count) and a few typed extras come after them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from tracehound.storage.queries import GroupBy
from tracehound.storage.rows import LabelCount, Page, ProjectRow, RollupRow, SpanRow, TimeBucketRow

# Promoted to columns at ingest; vLLora strips them from `attribute`, and so do we on output.
_PROMOTED = ("vllora.run_id", "vllora.thread_id", "vllora.project_id", "vllora.tenant", "vllora.label")


def paginated(page: Page[Any], data: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"pagination": pagination(page), "data": list(data)}


def pagination(page: Page[Any]) -> dict[str, int]:
    return {"offset": page.offset, "limit": page.limit, "total": page.total}


def vllora_attribute(raw: str) -> dict[str, Any]:
    """Stored attributes as vLLora's `attribute`: the promoted keys removed, `vllora.label` as
    `label`; text that is not a JSON object (it never should be) as {}."""
    try:
        attrs = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(attrs, dict):
        return {}
    label = attrs.get("vllora.label")
    for key in _PROMOTED:
        attrs.pop(key, None)
    if isinstance(label, str) and "label" not in attrs:
        attrs["label"] = label
    return attrs


def span_object(r: SpanRow) -> dict[str, Any]:
    return {
        "trace_id": r.trace_id,
        "span_id": r.span_id,
        "thread_id": r.thread_id,
        "parent_span_id": r.parent_span_id,
        "operation_name": r.operation_name,
        "start_time_us": r.start_time_us,
        "finish_time_us": r.finish_time_us,
        "attribute": vllora_attribute(r.attributes),
        "child_attribute": None if r.child_attributes is None else vllora_attribute(r.child_attributes),
        "run_id": r.run_id,
        "duration_ms": r.duration_ms,
        "kind": r.kind,
        "is_error": r.is_error,
        "error_message": r.error_message,
        "model": r.model,
        "provider": r.provider,
        "cost": r.cost,
        "cost_source": r.cost_source,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "cached_tokens": r.cached_tokens,
    }


def span_page(page: Page[SpanRow]) -> dict[str, Any]:
    return paginated(page, [span_object(r) for r in page.rows])


def label_object(r: LabelCount) -> dict[str, Any]:
    return {"name": r.name, "count": r.count}


def run_object(r: RollupRow) -> dict[str, Any]:
    return {
        "run_id": r.key,
        "thread_ids": r.thread_ids,
        "trace_ids": r.trace_ids,
        "root_span_ids": r.root_span_ids,
        "request_models": r.request_models,
        "used_models": r.used_models,
        "used_tools": r.used_tools,
        "mcp_template_definition_ids": [],
        "llm_calls": r.llm_calls,
        "cost": r.cost,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "start_time_us": r.start_time_us,
        "finish_time_us": r.finish_time_us,
        "errors": r.errors,
        "duration_ms": r.duration_ms,
        "status": r.status,
        "has_errors": r.has_errors,
        "error_count": r.error_count,
        "span_count": r.span_count,
        "cached_tokens": r.cached_tokens,
        "tool_calls": r.tool_calls,
        "labels": r.labels,
    }


def run_details_object(r: RollupRow, by_model: list[dict[str, Any]]) -> dict[str, Any]:
    """`/runs/{run_id}/details`: the run object and its calls and cost by model."""
    return {**run_object(r), "by_model": by_model}


def group_object(r: RollupRow | TimeBucketRow, group_by: GroupBy) -> dict[str, Any]:
    """A `/group` item: a time bucket, or a thread's or run's rollup. vLLora emits `group_by`
    twice; we emit it once."""
    key = r.key
    group_key: dict[str, Any] = {"time_bucket": key} if group_by == "time" else {f"{group_by}_id": key}
    obj: dict[str, Any] = {
        "group_by": group_by,
        "group_key": group_key,
        "time_bucket": key if group_by == "time" else None,
        "thread_id": key if group_by == "thread" else None,
        "run_id": key if group_by == "run" else None,
        "thread_ids": [key] if group_by == "thread" else r.thread_ids,
        "trace_ids": r.all_trace_ids if isinstance(r, RollupRow) else r.trace_ids,
        "run_ids": [key] if group_by == "run" else r.run_ids,
        "root_span_ids": r.root_span_ids,
        "request_models": r.request_models,
        "used_models": r.used_models,
        "llm_calls": r.llm_calls,
        "cost": r.cost,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "start_time_us": r.start_time_us,
        "finish_time_us": r.finish_time_us,
        "errors": r.errors,
        "duration_ms": r.duration_ms,
        "has_errors": r.has_errors,
        "error_count": r.error_count,
        "span_count": r.span_count,
    }
    if isinstance(r, RollupRow) and group_by == "run":
        obj["status"] = r.status
    return obj


def _title(title: str | None) -> str | None:
    if not title:
        return None
    words = title.split()
    return " ".join(words[:10]) or None


def thread_object(r: RollupRow) -> dict[str, Any]:
    """vLLora's ThreadSpan: start/finish over root spans when the thread has them."""
    start = r.root_start_us if r.root_start_us is not None else r.start_time_us
    finish = r.root_finish_us if r.root_finish_us is not None else r.finish_time_us
    return {
        "thread_id": r.key,
        "start_time_us": start,
        "finish_time_us": finish,
        # Every run of the thread: vLLora lists only runs whose root span arrived, which hides
        # the runs still in flight.
        "run_ids": r.run_ids,
        "input_models": r.used_models,
        "cost": r.cost,
        "title": _title(r.title),
        "duration_ms": (finish - start) / 1000,
        "has_errors": r.has_errors,
        "error_count": r.error_count,
        "span_count": r.span_count,
        "llm_calls": r.llm_calls,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "labels": r.labels,
    }


def project_object(p: ProjectRow) -> dict[str, Any]:
    created = datetime.fromtimestamp(p.created_at_us / 1_000_000, tz=UTC).isoformat()
    return {
        "id": p.id,
        "name": p.id,
        "slug": p.id,
        "description": None,
        "created_at": created,
        "updated_at": created,
        "settings": {},
        "is_default": p.id == "default",
        "archived_at": None,
        "run_count": p.run_count,
        "thread_count": p.thread_count,
        "span_count": p.span_count,
    }
