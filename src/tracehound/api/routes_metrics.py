"""/metrics/timeseries."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from tracehound.analytics import timeseries as ts
from tracehound.api import params
from tracehound.api.context import AppContext, ctx
from tracehound.api.errors import bad_request
from tracehound.api.responses import JSONResponse
from tracehound.api.schemas import ERRORS, Timeseries, TimeseriesByModel
from tracehound.timeparse import PERIODS, BadInstant, UnknownPeriod, parse_instant_us, period_start_us

router = APIRouter(tags=["metrics"])

DEFAULT_PERIOD = "last_day"


def _instant(name: str, value: str) -> int:
    try:
        us = parse_instant_us(value)
    except BadInstant as exc:
        raise bad_request(f"{name}: {exc}") from None
    if not 0 <= us <= params.MAX_TIME_US:
        raise bad_request(f"{name} must lie between 0 and {params.MAX_TIME_US} µs since the epoch, got {us}")
    return us


def _range(now_us: int, period: str | None, start: str | None, end: str | None) -> tuple[int, int]:
    """`period` ending now, or `start`/`end` (a missing end is now; a missing start is one
    default period before the end). Mixing the two forms is refused rather than guessed at."""
    if period is not None and (start is not None or end is not None):
        raise bad_request("give either period or start/end, not both")
    if start is None and end is None:
        name = period or DEFAULT_PERIOD
        if name == "all":
            raise bad_request("period=all has no start to bucket from: use a named period or start/end")
        try:
            first = period_start_us(name, now_us)
        except UnknownPeriod:
            raise bad_request(f"unknown period {name!r}; use one of: {', '.join(PERIODS)}") from None
        assert first is not None  # only `all` has no start
        return max(first, 0), now_us
    hi = now_us if end is None else _instant("end", end)
    lo = max(hi - PERIODS[DEFAULT_PERIOD] * 1_000_000, 0) if start is None else _instant("start", start)
    return lo, hi


@router.get(
    "/metrics/timeseries",
    response_model=Timeseries | TimeseriesByModel,
    responses=ERRORS,
    summary="One metric over time, with its trend and anomalies",
)
def timeseries(
    request: Request,
    c: AppContext = Depends(ctx),
    metric: str | None = Query(None, description=f"One of: {', '.join(ts.METRICS)}"),
    interval: str = Query("1h", description=f"Bucket size: {', '.join(ts.INTERVALS)}"),
    period: str | None = Query(None, description="last_hour, last_day (default), last_week, … ending now"),
    start: str | None = Query(None, description="Range start: µs since the epoch or ISO 8601"),
    end: str | None = Query(None, description="Range end, exclusive: µs or ISO 8601 (default now)"),
    group_by: str | None = Query(None, description="model: one series per model, from LLM-call spans"),
    thread_ids: str | None = Query(None, description="CSV of thread ids: runs in these threads"),
    labels: str | None = Query(None, description="CSV of labels: runs carrying one"),
    model_name: str | None = Query(None, description="Runs that used or requested this model"),
    trend_threshold: float = Query(ts.DEFAULT_TREND_THRESHOLD, description="|relative_change| for a trend"),
    anomaly_threshold: float = Query(ts.DEFAULT_ANOMALY_THRESHOLD, description="Score that flags a bucket"),
    max_series: int = Query(ts.DEFAULT_MAX_SERIES, description=f"With group_by: 1 to {ts.MAX_SERIES}"),
) -> JSONResponse:
    if not metric:
        raise bad_request(f"metric is required; use one of: {', '.join(ts.METRICS)}")
    lo, hi = _range(c.store.now_us(), period, start, end)
    req = ts.TimeseriesRequest(
        project_id=params.project_id(request),
        metric=metric,
        interval=interval,
        start_us=lo,
        end_us=hi,
        group_by=group_by or None,
        thread_ids=params.csv(thread_ids),
        labels=params.csv(labels),
        model_name=model_name or None,
        trend_threshold=trend_threshold,
        anomaly_threshold=anomaly_threshold,
        max_series=max_series,
    )
    try:
        return JSONResponse(ts.timeseries(c.store, req))
    except ts.TimeseriesError as exc:
        raise bad_request(str(exc)) from None
