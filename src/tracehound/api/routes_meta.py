"""/labels, /projects and /health."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from tracehound.api import params
from tracehound.api.auth import principal
from tracehound.api.context import AppContext, ctx
from tracehound.api.responses import JSONResponse
from tracehound.api.schemas import ERRORS, Labels, Project
from tracehound.views import label_object, project_object

router = APIRouter(tags=["meta"])


@router.get("/labels", response_model=Labels, responses=ERRORS, summary="Labels by span count")
def list_labels(
    request: Request,
    c: AppContext = Depends(ctx),
    thread_id: str | None = Query(None, description="Only this thread's labels (alias threadId)"),
    limit: int = Query(100),
) -> JSONResponse:
    params.check_page(limit, 0, c.settings.max_page_size)
    labels = c.store.list_labels(params.project_id(request), thread_id, limit)
    return JSONResponse({"labels": [label_object(r) for r in labels]})


@router.get("/projects", response_model=list[Project], summary="Projects that have received spans")
def list_projects(request: Request, c: AppContext = Depends(ctx)) -> JSONResponse:
    key = principal(request)
    projects = [p for p in c.store.list_projects() if key is None or key.allows(p.id)]
    return JSONResponse([project_object(p) for p in projects])


@router.get("/health", summary="Liveness")
def health() -> JSONResponse:
    return JSONResponse({"status": "ok"})
