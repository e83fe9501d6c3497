"""/metrics/timeseries."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from tracehound.analytics import timeseries as ts
from tracehound.api import params
from tracehound.api.context import AppContext, ctx
from tracehound.api.errors import bad_request
from tracehound.api.responses import JSONResponse
from tracehound.api.schemas import ERRORS, Timeseries, TimeseriesByModel

router = APIRouter(tags=["metrics"])


def _range(now_us: int, period: str | None, start: str | None, end: str | None) -> tuple[int, int]:
    span = params.window(now_us, period, start, end)
    if span.start_us == 0 and (period or "").strip() == "all":
        raise bad_request("period=all has no start to bucket from: use a named period or start/end")
    return span.start_us, span.end_us


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
    max_series: int | None = Query(
        None, description=f"With group_by: 1 to timeseries_max_series (default {ts.DEFAULT_MAX_SERIES})"
    ),
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
        return JSONResponse(ts.timeseries(c.store, req, c.settings.analytics))
    except ts.TimeseriesError as exc:
        raise bad_request(str(exc)) from None
