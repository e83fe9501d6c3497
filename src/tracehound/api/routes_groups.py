"""/group, /group/spans and /group/batch-spans."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictInt

from tracehound.api import params
from tracehound.api.context import AppContext, ctx
from tracehound.api.errors import bad_request
from tracehound.api.responses import JSONResponse
from tracehound.api.schemas import ERRORS, BatchSpans, GroupPage, SpanPage
from tracehound.storage.queries import GroupKey, GroupQuery
from tracehound.views import group_object, paginated, pagination, span_object, span_page

router = APIRouter(tags=["groups"])


def _bucket(bucket_size: int) -> int:
    # vLLora divides by zero here and answers 500.
    if bucket_size <= 0:
        raise bad_request(f"bucket_size must be a positive number of seconds, got {bucket_size}")
    if bucket_size > params.MAX_BUCKET_S:
        raise bad_request(f"bucket_size must be at most {params.MAX_BUCKET_S} seconds, got {bucket_size}")
    return bucket_size


@router.get("/group", response_model=GroupPage, responses=ERRORS, summary="Aggregate by time, thread or run")
def list_groups(
    request: Request,
    c: AppContext = Depends(ctx),
    group_by: Literal["time", "thread", "run"] = Query("time"),
    bucket_size: int = Query(3600, description="Seconds per time bucket"),
    thread_ids: str | None = Query(None, description="CSV of thread ids"),
    trace_ids: str | None = Query(None, description="CSV of trace ids"),
    model_name: str | None = Query(None),
    type_filter: Literal["model", "mcp"] | None = Query(None),
    start_time_min: int | None = params.time_us("µs"),
    start_time_max: int | None = params.time_us("µs"),
    labels: str | None = Query(None, description="CSV of labels"),
    limit: int = Query(100),
    offset: int = Query(0),
) -> JSONResponse:
    params.check_page(limit, offset, c.settings.max_page_size)
    query = GroupQuery(
        project_id=params.project_id(request),
        group_by=group_by,
        bucket_size_s=_bucket(bucket_size),
        thread_ids=params.csv(thread_ids),
        trace_ids=params.trace_ids(trace_ids),
        labels=params.csv(labels),
        model_name=model_name or None,
        type_filter=type_filter,
        start_min_us=start_time_min,
        start_max_us=start_time_max,
        limit=limit,
        offset=offset,
    )
    page = c.store.list_groups(query)
    return JSONResponse(paginated(page, [group_object(r, group_by) for r in page.rows]))


@router.get("/group/spans", response_model=SpanPage, responses=ERRORS, summary="Spans of one group")
def group_spans(
    request: Request,
    c: AppContext = Depends(ctx),
    group_by: Literal["time", "thread", "run"] = Query(...),
    thread_id: str | None = Query(None),
    run_id: str | None = Query(None),
    bucket_size: int = Query(3600, description="Seconds"),
    time_bucket: int = Query(0, ge=0, le=params.MAX_TIME_US, description="Bucket start, µs"),
    limit: int = Query(100),
    offset: int = Query(0),
) -> JSONResponse:
    params.check_page(limit, offset, c.settings.max_page_size)
    if group_by == "thread" and not thread_id:
        raise bad_request("group_by=thread needs thread_id")
    if group_by == "run" and not run_id:
        raise bad_request("group_by=run needs run_id")
    key = GroupKey(
        group_by=group_by,
        time_bucket_us=time_bucket,
        bucket_size_s=_bucket(bucket_size),
        thread_id=thread_id,
        run_id=run_id,
    )
    return JSONResponse(span_page(c.store.group_spans(params.project_id(request), key, limit, offset)))


class GroupIdentifier(BaseModel):
    """One of {time_bucket, bucket_size}, {thread_id} or {run_id}; camelCase accepted. Numbers
    are strict, as in vLLora: `true` or "5" is an error, not 1 or 5."""

    model_config = ConfigDict(extra="ignore")
    time_bucket: StrictInt | None = Field(
        None, ge=0, le=params.MAX_TIME_US, validation_alias=AliasChoices("time_bucket", "timeBucket")
    )
    bucket_size: StrictInt | None = Field(None, validation_alias=AliasChoices("bucket_size", "bucketSize"))
    thread_id: str | None = Field(None, validation_alias=AliasChoices("thread_id", "threadId"))
    run_id: str | None = Field(None, validation_alias=AliasChoices("run_id", "runId"))


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    groups: list[GroupIdentifier]
    spans_per_group: StrictInt = Field(100, validation_alias=AliasChoices("spans_per_group", "spansPerGroup"))
    labels: str | None = None


def _identify(g: GroupIdentifier) -> tuple[str, GroupKey]:
    if g.time_bucket is not None:
        size = _bucket(g.bucket_size if g.bucket_size is not None else 3600)
        return f"time-{g.time_bucket}", GroupKey("time", time_bucket_us=g.time_bucket, bucket_size_s=size)
    if g.thread_id is not None:
        return f"thread-{g.thread_id}", GroupKey("thread", thread_id=g.thread_id)
    if g.run_id is not None:
        return f"run-{g.run_id}", GroupKey("run", run_id=g.run_id)
    raise bad_request("each group needs time_bucket (with bucket_size), thread_id or run_id")


@router.post(
    "/group/batch-spans", response_model=BatchSpans, responses=ERRORS, summary="Spans of several groups"
)
def batch_spans(
    request: Request, body: BatchRequest = Body(...), c: AppContext = Depends(ctx)
) -> JSONResponse:
    params.check_page(body.spans_per_group, 0, c.settings.max_page_size)
    if len(body.groups) > c.settings.max_page_size:
        raise bad_request(f"at most {c.settings.max_page_size} groups per request")
    project = params.project_id(request)
    labels = params.csv(body.labels)
    out: dict[str, Any] = {}
    for g in body.groups:
        name, key = _identify(g)
        page = c.store.group_spans(project, key, body.spans_per_group, 0, labels)
        out[name] = {"spans": [span_object(r) for r in page.rows], "pagination": pagination(page)}
    return JSONResponse({"data": out})
