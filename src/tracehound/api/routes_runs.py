"""/runs, /runs/{run_id}, /runs/{run_id}/details."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from tracehound.analytics.stats import usage_rows
from tracehound.api import params
from tracehound.api.context import AppContext, ctx
from tracehound.api.errors import ApiError, bad_request
from tracehound.api.responses import JSONResponse
from tracehound.api.schemas import ERRORS, RunDetails, RunPage, SpanPage
from tracehound.storage.queries import RunQuery
from tracehound.timeparse import UnknownPeriod, period_start_us
from tracehound.views import paginated, run_details_object, run_object, span_page

router = APIRouter(tags=["runs"])


def _start_bounds(
    c: AppContext,
    start_time_min: int | None,
    start_time_max: int | None,
    period: str | None,
    start_time: int | None,
    end_time: int | None,
) -> tuple[int | None, int | None]:
    """Combine vLLora's µs bounds with the UI's `period` and second-based `startTime`/`endTime`
    (which vLLora ignores): the tightest bound wins."""
    lo: list[int] = [start_time_min] if start_time_min is not None else []
    hi: list[int] = [start_time_max] if start_time_max is not None else []
    if period:
        try:
            start = period_start_us(period, c.store.now_us())
        except UnknownPeriod as exc:
            raise bad_request(str(exc)) from None
        if start is not None:
            lo.append(start)
    if start_time is not None:
        lo.append(start_time * 1_000_000)
    if end_time is not None:
        hi.append(end_time * 1_000_000)
    return (max(lo) if lo else None, min(hi) if hi else None)


@router.get("/runs", response_model=RunPage, responses=ERRORS, summary="List runs")
def list_runs(
    request: Request,
    c: AppContext = Depends(ctx),
    run_ids: str | None = Query(None, description="CSV of run ids (alias runIds)"),
    thread_ids: str | None = Query(None, description="CSV of thread ids (alias threadIds)"),
    trace_ids: str | None = Query(None, description="CSV of trace ids, hex or UUID (alias traceIds)"),
    model_name: str | None = Query(None, description="Runs that used or requested this model"),
    type_filter: Literal["model", "mcp"] | None = Query(None, description="Runs with LLM calls or MCP calls"),
    start_time_min: int | None = params.time_us("Run start ≥ this, µs since epoch"),
    start_time_max: int | None = params.time_us("Run start ≤ this, µs since epoch"),
    labels: str | None = Query(None, description="CSV of labels"),
    include_mcp_templates: bool | None = Query(None, description="Accepted for vLLora clients; no effect"),
    period: str | None = Query(None, description="last_hour, last_day, last_week, last_month, … or all"),
    start_time: int | None = params.time_s("Run start ≥ this, in SECONDS (vLLora UI's startTime)"),
    end_time: int | None = params.time_s("Run start ≤ this, in SECONDS (vLLora UI's endTime)"),
    status: str | None = Query(None, description="CSV of running, completed, failed"),
    sort_by: Literal["start_time", "duration", "cost", "llm_calls"] = Query("start_time"),
    order: Literal["asc", "desc"] = Query("desc"),
    min_duration_ms: float | None = Query(
        None, ge=0, le=params.MAX_DURATION_MS, description="Runs lasting at least this long"
    ),
    min_cost: float | None = Query(None, ge=0, description="Runs costing at least this much"),
    limit: int = Query(100),
    offset: int = Query(0),
) -> JSONResponse:
    params.check_page(limit, offset, c.settings.max_page_size)
    lo, hi = _start_bounds(c, start_time_min, start_time_max, period, start_time, end_time)
    query = RunQuery(
        project_id=params.project_id(request),
        run_ids=params.csv(run_ids),
        thread_ids=params.csv(thread_ids),
        trace_ids=params.trace_ids(trace_ids),
        labels=params.csv(labels),
        model_name=model_name or None,
        type_filter=type_filter,
        start_min_us=lo,
        start_max_us=hi,
        statuses=params.statuses(status),
        min_duration_us=None if min_duration_ms is None else int(min_duration_ms * 1000),
        min_cost=min_cost,
        sort_by=sort_by,
        order=order,
        limit=limit,
        offset=offset,
    )
    page = c.store.list_runs(query)
    return JSONResponse(paginated(page, [run_object(r) for r in page.rows]))


@router.get("/runs/{run_id}", response_model=SpanPage, responses=ERRORS, summary="Spans of one run")
def run_spans(
    run_id: str,
    request: Request,
    c: AppContext = Depends(ctx),
    limit: int = Query(100),
    offset: int = Query(0),
) -> JSONResponse:
    params.check_page(limit, offset, c.settings.max_page_size)
    page = c.store.run_spans(params.project_id(request), run_id, limit, offset)
    return JSONResponse(span_page(page))


@router.get("/runs/{run_id}/details", response_model=RunDetails, responses=ERRORS, summary="One run")
def run_details(run_id: str, request: Request, c: AppContext = Depends(ctx)) -> JSONResponse:
    project = params.project_id(request)
    run = c.store.get_run(project, run_id)
    if run is None:
        raise ApiError(404, "Run not found", f"Run with ID {run_id} not found")
    by_model = usage_rows(c.store.run_usage(project, run_id), "model")
    return JSONResponse(run_details_object(run, by_model))
