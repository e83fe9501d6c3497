"""OTLP/gRPC TraceService, on grpcio's asyncio server."""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tracehound.ingest import Ingestor
from tracehound.otlp.decode import PROTOBUF, OtlpError, parse_request

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def _metadata(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str | None:
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return v if isinstance(v, str) else v.decode("utf-8", "replace")
    return None


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
        project = (_metadata(context, "x-project-id") or "").strip() or None
        try:
            normalized = await self.ingestor.normalize_grpc(request, project)
        except OtlpError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, exc.message)
        if normalized.rejected and not normalized.spans:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"all {normalized.rejected} spans were rejected: {normalized.message}",
            )
        result = await self.ingestor.submit(normalized)
        response = ExportTraceServiceResponse()
        if result.rejected:
            response.partial_success.rejected_spans = result.rejected
            response.partial_success.error_message = result.message
        return response


def create_grpc_server(ingestor: Ingestor, host: str, port: int, max_message_bytes: int) -> grpc.aio.Server:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ]
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
