"""/stats and /stats/breakdown."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from tracehound.analytics import stats
from tracehound.api import params
from tracehound.api.context import AppContext, ctx
from tracehound.api.errors import bad_request
from tracehound.api.responses import JSONResponse
from tracehound.api.schemas import ERRORS, Stats, UsageBreakdown
from tracehound.storage.sqlite_stats import StatsFilter
from tracehound.timeparse import BadInstant, UnknownPeriod, parse_instant_us

router = APIRouter(tags=["stats"])

_PERIOD = "last_hour, last_day (default), last_week, last_month, … or all; ends at `end` if given"
_INSTANT = "µs since the epoch or ISO 8601 (2026-11-26T08:00:00Z)"


def _instant(name: str, value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        us = parse_instant_us(value)
    except BadInstant as exc:
        raise bad_request(f"{name}: {exc}") from None
    if not 0 <= us <= params.MAX_TIME_US:
        raise bad_request(f"{name} must lie between 1970 and the end of 9999, got {value!r}")
    return us


def _window(c: AppContext, period: str | None, start: str | None, end: str | None) -> stats.Window:
    try:
        return stats.resolve_window(
            (period.strip() or None) if period else None,
            _instant("start", start),
            _instant("end", end),
            c.store.now_us(),
        )
    except (UnknownPeriod, stats.BadWindow) as exc:
        raise bad_request(str(exc)) from None


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
    window = _window(c, period, start, end)
    data = c.store.stats(
        _filter(request, thread_ids, labels, model_name), (window.start_us, window.end_us), window.previous
    )
    return JSONResponse(stats.summarize(window, data))


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
    window = _window(c, period, start, end)
    f = _filter(request, thread_ids, labels, model_name)
    usage = c.store.usage_breakdown(f, window.start_us, window.end_us, by)
    return JSONResponse(stats.breakdown(window, by, usage, limit))
