"""The JSON objects tracehound answers with, shaped once for the API, MCP tools and CLI.

Field names follow vLLora's API (reference §3); the computed fields (duration_ms, status,
has_errors, error_count, span_count) and a few typed extras come after them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tracehound.storage.queries import GroupBy, Page


def paginated(page: Page, data: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "pagination": {"offset": page.offset, "limit": page.limit, "total": page.total},
        "data": page.rows if data is None else data,
    }


def run_object(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": r["key"],
        "thread_ids": r["thread_ids"],
        "trace_ids": r["trace_ids"],
        "root_span_ids": r["root_span_ids"],
        "request_models": r["request_models"],
        "used_models": r["used_models"],
        "used_tools": r["used_tools"],
        "mcp_template_definition_ids": [],
        "llm_calls": r["llm_calls"],
        "cost": r["cost"],
        "input_tokens": r["input_tokens"],
        "output_tokens": r["output_tokens"],
        "start_time_us": r["start_time_us"],
        "finish_time_us": r["finish_time_us"],
        "errors": r["errors"],
        "duration_ms": r["duration_ms"],
        "status": r["status"],
        "has_errors": r["has_errors"],
        "error_count": r["error_count"],
        "span_count": r["span_count"],
        "cached_tokens": r["cached_tokens"],
        "tool_calls": r["tool_calls"],
        "labels": r["labels"],
    }


def run_details_object(r: dict[str, Any], by_model: list[dict[str, Any]]) -> dict[str, Any]:
    """`/runs/{run_id}/details`: the run object and its calls and cost by model."""
    return {**run_object(r), "by_model": by_model}


def group_object(r: dict[str, Any], group_by: GroupBy) -> dict[str, Any]:
    """A `/group` item. vLLora emits `group_by` twice; we emit it once."""
    key = r["key"]
    time_bucket = key if group_by == "time" else None
    thread_id = key if group_by == "thread" else None
    run_id = key if group_by == "run" else None
    group_key: dict[str, Any] = {"time_bucket": key} if group_by == "time" else {f"{group_by}_id": key}
    obj: dict[str, Any] = {
        "group_by": group_by,
        "group_key": group_key,
        "time_bucket": time_bucket,
        "thread_id": thread_id,
        "run_id": run_id,
        "thread_ids": [key] if group_by == "thread" else r["thread_ids"],
        "trace_ids": r.get("all_trace_ids", r["trace_ids"]),
        "run_ids": [key] if group_by == "run" else r["run_ids"],
        "root_span_ids": r["root_span_ids"],
        "request_models": r["request_models"],
        "used_models": r["used_models"],
        "llm_calls": r["llm_calls"],
        "cost": r["cost"],
        "input_tokens": r["input_tokens"],
        "output_tokens": r["output_tokens"],
        "start_time_us": r["start_time_us"],
        "finish_time_us": r["finish_time_us"],
        "errors": r["errors"],
        "duration_ms": r["duration_ms"],
        "has_errors": r["has_errors"],
        "error_count": r["error_count"],
        "span_count": r["span_count"],
    }
    if group_by == "run":
        obj["status"] = r["status"]
    return obj


def _title(title: str | None) -> str | None:
    if not title:
        return None
    words = title.split()
    return " ".join(words[:10]) or None


def thread_object(r: dict[str, Any]) -> dict[str, Any]:
    """vLLora's ThreadSpan: start/finish over root spans when the thread has them."""
    start = r["root_start_us"] if r["root_start_us"] is not None else r["start_time_us"]
    finish = r["root_finish_us"] if r["root_finish_us"] is not None else r["finish_time_us"]
    return {
        "thread_id": r["key"],
        "start_time_us": start,
        "finish_time_us": finish,
        # Every run of the thread: vLLora lists only runs whose root span arrived, which hides
        # the runs still in flight.
        "run_ids": r["run_ids"],
        "input_models": r["used_models"],
        "cost": r["cost"],
        "title": _title(r.get("title")),
        "duration_ms": (finish - start) / 1000,
        "has_errors": r["has_errors"],
        "error_count": r["error_count"],
        "span_count": r["span_count"],
        "llm_calls": r["llm_calls"],
        "input_tokens": r["input_tokens"],
        "output_tokens": r["output_tokens"],
        "labels": r["labels"],
    }


def project_object(p: dict[str, Any]) -> dict[str, Any]:
    created = datetime.fromtimestamp(p["created_at_us"] / 1_000_000, tz=UTC).isoformat()
    return {
        "id": p["id"],
        "name": p["id"],
        "slug": p["id"],
        "description": None,
        "created_at": created,
        "updated_at": created,
        "settings": {},
        "is_default": p["id"] == "default",
        "archived_at": None,
        "run_count": p["run_count"],
        "thread_count": p["thread_count"],
        "span_count": p["span_count"],
    }
