"""/stats and /stats/breakdown."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from tracehound.analytics import stats, tools
from tracehound.api import params
from tracehound.api.context import AppContext, ctx
from tracehound.api.responses import JSONResponse
from tracehound.api.schemas import ERRORS, Stats, ToolUsage, UsageBreakdown
from tracehound.storage.types import StatsFilter

router = APIRouter(tags=["stats"])

_PERIOD = "last_hour, last_day (default), last_week, last_month, … or all; ends at `end` if given"
_INSTANT = "µs since the epoch or ISO 8601 (2026-11-26T08:00:00Z)"


def _filter(
    request: Request, thread_ids: str | None, labels: str | None, model_name: str | None
) -> StatsFilter:
    return StatsFilter(
        project_id=params.project_id(request),
        thread_ids=params.csv(thread_ids),
        labels=params.csv(labels),
        model_name=model_name or None,
    )


@router.get(
    "/stats", response_model=Stats, responses=ERRORS, summary="Run, cost and error figures of a period"
)
def get_stats(
    request: Request,
    c: AppContext = Depends(ctx),
    period: str | None = Query(None, description=_PERIOD),
    start: str | None = Query(None, description=f"Window start (inclusive), {_INSTANT}"),
    end: str | None = Query(None, description=f"Window end (exclusive), {_INSTANT}; default now"),
    thread_ids: str | None = Query(None, description="CSV: runs with a span in one of these threads"),
    labels: str | None = Query(None, description="CSV: runs with a span carrying one of these labels"),
    model_name: str | None = Query(None, description="Runs that used or requested this model"),
) -> JSONResponse:
    window = params.window(c.store.now_us(), period, start, end)
    data = c.store.stats(
        _filter(request, thread_ids, labels, model_name), (window.start_us, window.end_us), window.previous
    )
    return JSONResponse(stats.summarize(window, data, c.settings.analytics.stats_top_errors))


@router.get(
    "/stats/breakdown",
    response_model=UsageBreakdown,
    responses=ERRORS,
    summary="Calls, cost, tokens, errors and latency by model, provider, label or thread",
)
def get_breakdown(
    request: Request,
    c: AppContext = Depends(ctx),
    by: Literal["model", "provider", "label", "thread"] = Query("model", description="What to group by"),
    period: str | None = Query(None, description=_PERIOD),
    start: str | None = Query(None, description=f"Window start (inclusive), {_INSTANT}"),
    end: str | None = Query(None, description=f"Window end (exclusive), {_INSTANT}; default now"),
    thread_ids: str | None = Query(None, description="CSV: runs with a span in one of these threads"),
    labels: str | None = Query(None, description="CSV: runs with a span carrying one of these labels"),
    model_name: str | None = Query(None, description="Runs that used or requested this model"),
    limit: int = Query(100, description="Rows to return, most expensive first"),
) -> JSONResponse:
    params.check_page(limit, 0, c.settings.max_page_size)
    window = params.window(c.store.now_us(), period, start, end)
    f = _filter(request, thread_ids, labels, model_name)
    usage = c.store.usage_breakdown(f, window.start_us, window.end_us, by)
    return JSONResponse(stats.breakdown(window, by, usage, limit))


@router.get(
    "/stats/tools",
    response_model=ToolUsage,
    responses=ERRORS,
    summary="Tool calls by tool: calls, errors, error rate and latency",
)
def get_tool_usage(
    request: Request,
    c: AppContext = Depends(ctx),
    period: str | None = Query(None, description=_PERIOD),
    start: str | None = Query(None, description=f"Window start (inclusive), {_INSTANT}"),
    end: str | None = Query(None, description=f"Window end (exclusive), {_INSTANT}; default now"),
    limit: int = Query(100, description="Rows to return, most called first"),
) -> JSONResponse:
    params.check_page(limit, 0, c.settings.max_page_size)
    window = params.window(c.store.now_us(), period, start, end)
    calls = c.store.tool_calls(params.project_id(request), window.start_us, window.end_us)
    return JSONResponse(tools.tool_usage(window, calls, limit))
