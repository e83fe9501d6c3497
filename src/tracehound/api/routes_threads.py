"""/threads (GET and POST list) and /threads/{id}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, StrictInt

from tracehound.api import params
from tracehound.api.context import AppContext, ctx
from tracehound.api.errors import ApiError
from tracehound.api.responses import JSONResponse
from tracehound.api.schemas import ERRORS, ThreadPage, ThreadResponse
from tracehound.storage.queries import GroupQuery
from tracehound.views import paginated, thread_object

router = APIRouter(tags=["threads"])


class ThreadListBody(BaseModel):
    """vLLora's body; `order_by` is accepted but threads are always newest first. Numbers are
    strict, as in vLLora: `false` is an error, not 0."""

    model_config = ConfigDict(extra="ignore")
    order_by: list[Any] | None = None
    limit: StrictInt = 50
    offset: StrictInt = 0


def _threads(request: Request, c: AppContext, limit: int, offset: int) -> JSONResponse:
    params.check_page(limit, offset, c.settings.max_page_size)
    page = c.store.list_threads(GroupQuery(project_id=params.project_id(request), limit=limit, offset=offset))
    body = paginated(page, [thread_object(r) for r in page.rows])
    return JSONResponse({"data": body["data"], "pagination": body["pagination"]})


@router.get("/threads", response_model=ThreadPage, responses=ERRORS, summary="List threads")
def list_threads_get(
    request: Request, c: AppContext = Depends(ctx), limit: int = Query(50), offset: int = Query(0)
) -> JSONResponse:
    return _threads(request, c, limit, offset)


@router.post("/threads", response_model=ThreadPage, responses=ERRORS, summary="List threads (JSON body)")
def list_threads_post(
    request: Request, c: AppContext = Depends(ctx), body: ThreadListBody | None = Body(None)
) -> JSONResponse:
    b = body or ThreadListBody()
    return _threads(request, c, b.limit, b.offset)


@router.get("/threads/{thread_id}", response_model=ThreadResponse, responses=ERRORS, summary="One thread")
def get_thread(thread_id: str, request: Request, c: AppContext = Depends(ctx)) -> JSONResponse:
    thread = c.store.get_thread(params.project_id(request), thread_id)
    if thread is None:
        raise ApiError(404, "Thread not found", f"Thread with ID {thread_id} not found")
    return JSONResponse({"thread": thread_object(thread)})
