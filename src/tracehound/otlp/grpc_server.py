"""OTLP/gRPC TraceService, on grpcio's asyncio server."""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tracehound.auth import Authenticator, Forbidden, check_ingest, ingest_project
from tracehound.ingest import Ingestor
from tracehound.otlp.decode import OtlpError
from tracehound.otlp.grpc_auth import RequireKey, current_principal


def _metadata(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str | None:
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return v if isinstance(v, str) else v.decode("utf-8", "replace")
    return None


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor

    async def Export(
        self,
        request: ExportTraceServiceRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> ExportTraceServiceResponse:
        key = current_principal.get()
        try:
            project = ingest_project(key, (_metadata(context, "x-project-id") or "").strip() or None)
            normalized = await self.ingestor.normalize_grpc(request, project)
            check_ingest(key, (s.project_id for s in normalized.spans))
        except OtlpError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, exc.message)
        except Forbidden as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
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


def create_grpc_server(
    ingestor: Ingestor, host: str, port: int, max_message_bytes: int, auth: Authenticator | None = None
) -> grpc.aio.Server:
    server = grpc.aio.server(
        interceptors=[RequireKey(auth)] if auth is not None else None,
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ]
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(ingestor), server)  # type: ignore[no-untyped-call]
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind OTLP/gRPC to {host}:{port}")
    return server
