"""/spans/summary: a thread's (runs', labels') spans summarised on the server."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from tracehound.analytics import summary
from tracehound.api import params
from tracehound.api.context import AppContext, ctx
from tracehound.api.errors import bad_request
from tracehound.api.responses import JSONResponse
from tracehound.api.schemas import ERRORS
from tracehound.api.schemas_summary import SpansSummary

router = APIRouter(tags=["analytics"])


@router.get(
    "/spans/summary",
    response_model=SpansSummary,
    responses=ERRORS,
    summary="Summary of the spans of threads, runs or labels",
    description="Totals, cost, latency, errors, semantic errors, tool failures and the slowest and "
    "costliest spans, each list capped. At least one filter is required; filters combine with AND. "
    "Figures are defined in docs/analytics.md.",
)
def spans_summary(
    request: Request,
    c: AppContext = Depends(ctx),
    thread_ids: str | None = Query(None, description="CSV of thread ids (alias threadIds)"),
    run_ids: str | None = Query(None, description="CSV of run ids (alias runIds)"),
    labels: str | None = Query(None, description="CSV of labels"),
    limit: int = Query(
        summary.DEFAULT_LIMIT, description=f"Entries per list of spans, 1 to {summary.MAX_LIMIT}"
    ),
    breakdown_limit: int = Query(
        summary.DEFAULT_BREAKDOWN_LIMIT,
        description=f"Entries per breakdown (operations, models, tools), 1 to {summary.MAX_LIMIT}",
    ),
    semantic: bool = Query(
        True,
        description="Report error patterns found in outputs and tool results (scanned at ingest); "
        "false: typed columns only",
    ),
) -> JSONResponse:
    try:
        report = summary.spans_summary(
            c.store,
            params.project_id(request),
            thread_ids=params.csv(thread_ids),
            run_ids=params.csv(run_ids),
            labels=params.csv(labels),
            limit=limit,
            breakdown_limit=breakdown_limit,
            semantic=semantic,
        )
    except summary.SummaryError as exc:
        raise bad_request(str(exc)) from None
    return JSONResponse(report)
