"""OTLP/HTTP `POST /v1/traces`, served on the OTLP HTTP port and on the API port.

Answers follow the OTLP/HTTP spec: the response is in the request's encoding, rejected spans are
reported in `partial_success`, and errors carry a google.rpc.Status.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tracehound.api import otlp_schema
from tracehound.api.auth import principal
from tracehound.api.context import ctx
from tracehound.api.schemas import ExportResponse
from tracehound.auth import Forbidden, check_ingest, ingest_project
from tracehound.ingest import IngestResult
from tracehound.otlp.decode import JSON, PROTOBUF, OtlpError

router = APIRouter(tags=["ingest"])

# google.rpc.Code values for the Status body.
_GRPC_CODE = {400: 3, 403: 7, 413: 8, 415: 3, 503: 14}


def _is_protobuf(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == PROTOBUF


def _error(request: Request, status: int, message: str, retry_after_s: int = 1) -> Response:
    code = _GRPC_CODE.get(status, 2)
    # OTLP exporters retry a 503, after Retry-After when given.
    headers = {"retry-after": str(retry_after_s)} if status == 503 else None
    if _is_protobuf(request):
        body = status_pb2.Status(code=code, message=message).SerializeToString()
        return Response(body, status_code=status, media_type=PROTOBUF, headers=headers)
    error = {503: "Try again", 403: "Forbidden"}.get(status, "Invalid OTLP request")
    payload = {"code": code, "error": error, "message": message}
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON, headers=headers)


def _success(request: Request, result: IngestResult) -> Response:
    response = ExportTraceServiceResponse()
    if result.rejected:
        response.partial_success.rejected_spans = result.rejected
        response.partial_success.error_message = result.message
    if _is_protobuf(request):
        return Response(response.SerializeToString(), media_type=PROTOBUF)
    body: dict[str, object] = {}
    if result.rejected:
        body["partialSuccess"] = {"rejectedSpans": result.rejected, "errorMessage": result.message}
    return Response(orjson.dumps(body), media_type=JSON)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise OtlpError(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise OtlpError(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/v1/traces",
    response_model=ExportResponse,
    responses=otlp_schema.RESPONSES,
    openapi_extra=otlp_schema.REQUEST_BODY,
    summary="OTLP/HTTP trace export (protobuf or JSON, optionally gzip)",
)
async def export_traces(request: Request) -> Response:
    c = ctx(request)
    ingestor = c.ingestor
    if ingestor is None:
        return _error(request, 503, "this tracehound is read-only; send spans to `tracehound serve`")
    try:
        key = principal(request)
        project = ingest_project(key, request.headers.get("x-project-id", "").strip() or None)
        body = await _read_body(request, c.settings.max_request_bytes)
        normalized = await ingestor.normalize_http(
            body,
            request.headers.get("content-type"),
            request.headers.get("content-encoding"),
            project,
        )
        check_ingest(key, (s.project_id for s in normalized.spans))
        if normalized.rejected and not normalized.spans:
            raise OtlpError(400, f"all {normalized.rejected} spans were rejected: {normalized.message}")
        result = await ingestor.submit(normalized)
    except OtlpError as exc:
        return _error(request, exc.status, exc.message, exc.retry_after_s)
    except Forbidden as exc:
        return _error(request, 403, str(exc))
    return _success(request, result)
