"""Build spans with the OpenTelemetry SDK and send them with its real OTLP exporters, carrying
the headers the vLLora SDK sends."""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

Via = Literal["grpc", "http"]


class TraceBuilder:
    """Spans of one trace at explicit times: `start`/`end` are ms after the trace's base time."""

    def __init__(self, factory: SpanFactory, base_ns: int) -> None:
        self.factory = factory
        self.base_ns = base_ns
        self.created: list[Span] = []
        self.trace_id: int | None = None

    def span(
        self,
        name: str,
        start: float,
        end: float,
        parent: Span | None = None,
        attrs: dict[str, Any] | None = None,
        error: str | None = None,
        exception: str | None = None,
        remote_parent: int | None = None,
    ) -> Span:
        if parent is not None:
            context = set_span_in_context(parent)
        elif remote_parent is not None:
            if self.trace_id is None:
                self.trace_id = random.getrandbits(128)
            remote = SpanContext(self.trace_id, remote_parent, is_remote=True, trace_flags=TraceFlags(1))
            context = set_span_in_context(NonRecordingSpan(remote))
        else:
            context = None
        span = self.factory.tracer.start_span(
            name, context=context, attributes=attrs or {}, start_time=self.base_ns + int(start * 1e6)
        )
        if self.trace_id is None:
            self.trace_id = span.get_span_context().trace_id
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        if exception is not None:
            span.record_exception(ValueError(exception), timestamp=self.base_ns + int(end * 1e6))
        span.end(end_time=self.base_ns + int(end * 1e6))
        self.created.append(span)
        return span

    @property
    def trace_hex(self) -> str:
        assert self.trace_id is not None
        return f"{self.trace_id:032x}"


def span_hex(span: Span) -> str:
    return f"{span.get_span_context().span_id:016x}"


class SpanFactory:
    def __init__(
        self,
        grpc_endpoint: str,
        http_endpoint: str,
        project: str | None,
        auth: dict[str, str] | None = None,
    ) -> None:
        self.grpc_endpoint = grpc_endpoint
        self.http_endpoint = http_endpoint
        self.project = project
        # Headers carrying a tracehound API key; they replace the vLLora SDK's own x-api-key.
        self.auth = auth
        self.memory = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": "tracehound-tests"}))
        provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = provider.get_tracer("tests")

    def trace(self, base_ns: int | None = None) -> TraceBuilder:
        return TraceBuilder(self, base_ns if base_ns is not None else time.time_ns() - 60_000_000_000)

    def finished(self, builder: TraceBuilder) -> list[ReadableSpan]:
        """The builder's spans in the order they ended (children first when built that way)."""
        ids = {s.get_span_context().span_id for s in builder.created}
        return [
            s for s in self.memory.get_finished_spans() if s.context is not None and s.context.span_id in ids
        ]

    def headers(self) -> dict[str, str]:
        headers = dict(self.auth) if self.auth is not None else {"x-api-key": "test-key"}
        if self.project:
            headers["x-project-id"] = self.project
        return headers

    def export(
        self, spans: Sequence[ReadableSpan], via: Via = "grpc", timeout: float | None = None
    ) -> SpanExportResult:
        """`timeout` (s, with the exporter's own retries): None is the SDK's default of 10."""
        if via == "grpc":
            exporter: GrpcExporter | HttpExporter = GrpcExporter(
                endpoint=self.grpc_endpoint, insecure=True, headers=self.headers(), timeout=timeout
            )
        else:
            exporter = HttpExporter(
                endpoint=f"{self.http_endpoint}/v1/traces", headers=self.headers(), timeout=timeout
            )
        try:
            return exporter.export(spans)
        finally:
            exporter.shutdown()

    def send(
        self, *builders: TraceBuilder, via: Via = "grpc", children_first: bool = True
    ) -> list[ReadableSpan]:
        spans: list[ReadableSpan] = []
        for b in builders:
            done = self.finished(b)
            spans.extend(_children_first(done) if children_first else done)
        assert self.export(spans, via) == SpanExportResult.SUCCESS
        return spans


def _children_first(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    """As a batch exporter sends them: spans end after their children."""
    return sorted(spans, key=lambda s: (s.end_time or 0, -(s.start_time or 0)))


def raw_request(n: int, name: str = "s") -> ExportTraceServiceRequest:
    """An OTLP request of `n` bare spans in one new trace, for tests of the receiver itself."""
    trace_id = uuid.uuid4().bytes
    now = time.time_ns()
    spans = [
        trace_pb2.Span(
            trace_id=trace_id,
            span_id=os.urandom(8),
            name=name,
            start_time_unix_nano=now - 1_000_000,
            end_time_unix_nano=now,
        )
        for _ in range(n)
    ]
    scope = trace_pb2.ScopeSpans(spans=spans)
    return ExportTraceServiceRequest(resource_spans=[trace_pb2.ResourceSpans(scope_spans=[scope])])
