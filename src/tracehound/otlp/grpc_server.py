"""OTLP/gRPC TraceService, on grpcio's asyncio server."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tracehound.auth import Authenticator, Forbidden, check_ingest, ingest_project
from tracehound.ingest import Ingestor, Overloaded
from tracehound.otlp.decode import PROTOBUF, OtlpError, parse_request
from tracehound.otlp.grpc_auth import RequireKey, current_principal

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
Metadata = tuple[tuple[str, str | bytes], ...]


def _metadata(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str | None:
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return v if isinstance(v, str) else v.decode("utf-8", "replace")
    return None


def _status(exc: OtlpError) -> tuple[grpc.StatusCode, Metadata]:
    """The gRPC status for a refused export, as the OTLP spec asks: a refusal by backpressure is
    RESOURCE_EXHAUSTED with RetryInfo (without it, exporters that follow the spec give up), a
    transient failure UNAVAILABLE, and a request that can never succeed INVALID_ARGUMENT."""
    if not isinstance(exc, Overloaded):
        code = grpc.StatusCode.UNAVAILABLE if exc.status == 503 else grpc.StatusCode.INVALID_ARGUMENT
        return code, ()
    retry = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=exc.retry_after_s))
    detail = AnyMessage()
    detail.Pack(retry)
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=exc.message, details=[detail])
    # The OTel Python exporter reads the first key; the Go and Java ones, and the Collector,
    # read the RetryInfo inside the second.
    metadata: Metadata = (
        ("google.rpc.retryinfo-bin", retry.SerializeToString()),
        ("grpc-status-details-bin", status.SerializeToString()),
    )
    return grpc.StatusCode.RESOURCE_EXHAUSTED, metadata


def _deserialize(data: bytes) -> ExportTraceServiceRequest | OtlpError:
    """The request, or why it cannot be read: raised here, grpcio would answer UNKNOWN with a
    Python exception's name, where a malformed request is INVALID_ARGUMENT."""
    try:
        return parse_request(data, PROTOBUF)
    except OtlpError as exc:
        return exc


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor

    async def Export(
        self,
        request: ExportTraceServiceRequest | OtlpError,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> ExportTraceServiceResponse:
        if isinstance(request, OtlpError):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        key = current_principal.get()
        try:
            project = ingest_project(key, (_metadata(context, "x-project-id") or "").strip() or None)
            normalized = await self.ingestor.normalize_grpc(request, project)
            check_ingest(key, (s.project_id for s in normalized.spans))
            if normalized.rejected and not normalized.spans:
                raise OtlpError(400, f"all {normalized.rejected} spans were rejected: {normalized.message}")
            result = await self.ingestor.submit(normalized)
        except OtlpError as exc:
            code, metadata = _status(exc)
            await context.abort(code, exc.message, metadata)
        except Forbidden as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        response = ExportTraceServiceResponse()
        if result.rejected:
            response.partial_success.rejected_spans = result.rejected
            response.partial_success.error_message = result.message
        return response


def create_grpc_server(
    ingestor: Ingestor, host: str, port: int, max_message_bytes: int, auth: Authenticator | None = None
) -> grpc.aio.Server:
    server = grpc.aio.server(
        interceptors=[RequireKey(auth)] if auth is not None else None,
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ],
    )
    # Registered by hand rather than with add_TraceServiceServicer_to_server, for _deserialize.
    export = grpc.unary_unary_rpc_method_handler(
        TraceService(ingestor).Export,
        request_deserializer=_deserialize,
        response_serializer=ExportTraceServiceResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Export": export}),))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind OTLP/gRPC to {host}:{port}")
    return server
