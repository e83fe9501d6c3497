"""/spans and the legacy /traces list."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from tracehound.api import params
from tracehound.api.context import AppContext, ctx
from tracehound.api.responses import JSONResponse
from tracehound.api.schemas import ERRORS, SpanPage
from tracehound.storage.queries import ListFilter, SpanQuery
from tracehound.views import span_page

router = APIRouter(tags=["spans"])


@router.get(
    "/spans", response_model=SpanPage, responses=ERRORS, summary="List spans, newest first by default"
)
def list_spans(
    request: Request,
    c: AppContext = Depends(ctx),
    span_ids: str | None = Query(None, description="CSV of span ids, hex or decimal (alias spanIds)"),
    trace_ids: str | None = Query(None, description="CSV of trace ids, hex or UUID; null / !null"),
    thread_ids: str | None = Query(None, description="CSV of thread ids; null / !null (alias threadIds)"),
    run_ids: str | None = Query(None, description="CSV of run ids; null / !null (alias runIds)"),
    operation_names: str | None = Query(None, description="CSV of operation names; null / !null"),
    parent_span_ids: str | None = Query(None, description="CSV of parent ids; null means root spans"),
    start_time: int | None = params.time_us("Span start ≥ this, µs (alias startTime)"),
    end_time: int | None = params.time_us("Span start ≤ this, µs (alias endTime)"),
    labels: str | None = Query(None, description="CSV of labels"),
    status: Literal["ok", "error"] | None = Query(
        None, description="Only spans that failed, or only the others"
    ),
    model_name: str | None = Query(None, description="CSV of models (the span's own model)"),
    text: str | None = Query(
        None, min_length=1, max_length=200, description="Spans whose attributes contain this text (any case)"
    ),
    sort_by: Literal["start_time", "finish_time", "duration", "cost"] = Query("start_time"),
    order: Literal["asc", "desc"] = Query("desc"),
    limit: int = Query(100),
    offset: int = Query(0),
) -> JSONResponse:
    params.check_page(limit, offset, c.settings.max_page_size)
    query = SpanQuery(
        project_id=params.project_id(request),
        status=status,
        models=params.csv(model_name),
        text=text,
        sort_by=sort_by,
        order=order,
        span_ids=params.list_filter(span_ids),
        trace_ids=params.list_filter(trace_ids),
        thread_ids=params.list_filter(thread_ids),
        run_ids=params.list_filter(run_ids),
        operation_names=params.list_filter(operation_names),
        parent_span_ids=params.list_filter(parent_span_ids),
        labels=params.csv(labels),
        start_min_us=start_time,
        start_max_us=end_time,
        limit=limit,
        offset=offset,
    )
    return JSONResponse(span_page(c.store.list_spans(query)))


@router.get("/traces", response_model=SpanPage, responses=ERRORS, summary="Legacy span list")
def list_traces(
    request: Request,
    c: AppContext = Depends(ctx),
    run_id: str | None = Query(None, description="One run id (alias runId)"),
    operation_names: str | None = Query(None, description="CSV of operation names"),
    thread_ids: str | None = Query(None, description="CSV of thread ids"),
    start_time_min: int | None = params.time_us("Span start ≥ this, µs"),
    start_time_max: int | None = params.time_us("Span start ≤ this, µs"),
    labels: str | None = Query(None, description="CSV of labels"),
    limit: int = Query(100),
    offset: int = Query(0),
) -> JSONResponse:
    params.check_page(limit, offset, c.settings.max_page_size)
    query = SpanQuery(
        project_id=params.project_id(request),
        run_ids=ListFilter(values=(run_id,)) if run_id else ListFilter(),
        operation_names=ListFilter(values=params.csv(operation_names)),
        thread_ids=ListFilter(values=params.csv(thread_ids)),
        labels=params.csv(labels),
        start_min_us=start_time_min,
        start_max_us=start_time_max,
        limit=limit,
        offset=offset,
    )
    return JSONResponse(span_page(c.store.list_spans(query)))
