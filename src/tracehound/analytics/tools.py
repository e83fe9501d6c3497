"""Tool calls by tool over a window: the /stats/tools rows (docs/analytics.md)."""

from __future__ import annotations

from typing import Any

from tracehound.analytics.percentiles import nearest_rank_ms
from tracehound.storage.types import ToolCalls
from tracehound.timeparse import Window


def tool_rows(calls: list[ToolCalls]) -> list[dict[str, Any]]:
    """Most called first (ties: most errors, then name)."""
    ordered = sorted(calls, key=lambda c: (-len(c.durations_us), -c.errors, c.tool))
    return [
        {
            "tool": c.tool,
            "calls": len(c.durations_us),
            "errors": c.errors,
            "error_rate": c.errors / len(c.durations_us),
            "p50_latency_ms": nearest_rank_ms(c.durations_us, 50),
            "p95_latency_ms": nearest_rank_ms(c.durations_us, 95),
        }
        for c in ordered
    ]


def tool_usage(window: Window, calls: list[ToolCalls], limit: int) -> dict[str, Any]:
    rows = tool_rows(calls)
    return {"start_us": window.start_us, "end_us": window.end_us, "total": len(rows), "data": rows[:limit]}
