"""/runs/{run_id}/bottlenecks: where one run's time and money went."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from tracehound.analytics.bottlenecks import run_bottlenecks
from tracehound.api import params
from tracehound.api.context import AppContext, ctx
from tracehound.api.errors import ApiError, bad_request
from tracehound.api.responses import JSONResponse
from tracehound.api.schemas import ERRORS, Bottlenecks, ErrorBody

router = APIRouter(tags=["analytics"])

MAX_LIMIT = 100


@router.get(
    "/runs/{run_id}/bottlenecks",
    response_model=Bottlenecks,
    responses={
        **ERRORS,
        410: {"model": ErrorBody, "description": "The run's spans were deleted by retention"},
    },
    summary="Bottlenecks of one run",
    description="Slowest and costliest spans, the critical path, time by kind, parallelism and "
    "outliers against the project's last 7 days. Figures are defined in docs/analytics.md.",
)
def bottlenecks(
    run_id: str,
    request: Request,
    c: AppContext = Depends(ctx),
    limit: int = Query(5, description=f"Entries per list (slowest, expensive, outliers), 1 to {MAX_LIMIT}"),
) -> JSONResponse:
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    report = run_bottlenecks(c.store, params.project_id(request), run_id, limit, c.settings.analytics)
    if report is None:
        run = c.store.get_run(params.project_id(request), run_id)
        if run is not None and run.spans_expired_us is not None:
            raise ApiError(
                410,
                "Spans deleted",
                f"The spans of run {run_id} were deleted by the retention policy; "
                "its figures remain in /runs",
            )
        raise ApiError(404, "Run not found", f"Run with ID {run_id} not found")
    return JSONResponse(report)
