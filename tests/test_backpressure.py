"""Backpressure under a real fault: a second connection holds the SQLite write lock, so the
server's writer stalls and spans pile up. Past --max-pending-spans, exports are refused with 503 +
Retry-After (gRPC RESOURCE_EXHAUSTED + RetryInfo); once the lock is released, the OTel SDK's own
exporters retry and every span they were refused lands, while nothing refused is half-stored.

SQLite only: the fault is SQLite's one write lock held by another connection. PostgreSQL takes
per-trace locks and several writers; its fault (the server away) is tests/test_pg_faults.py."""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.conftest import get_json, start_server
from tests.spans import SpanFactory, raw_request, span_hex

PER_REQUEST = 8
PROTOBUF = {"content-type": "application/x-protobuf"}


def _span_ids(request: ExportTraceServiceRequest) -> set[str]:
    return {s.span_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


Probe = tuple[ExportTraceServiceRequest, httpx.Response]


def test_refused_exports_are_retried_and_all_land(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = start_server(tmp_path / "bp", "--max-pending-spans", "20", "--retry-after", "1")
    project = f"bp-{uuid.uuid4().hex[:8]}"
    url = f"{server.otlp_http}/v1/traces"
    headers = {**PROTOBUF, "x-project-id": project}

    def probe(request: ExportTraceServiceRequest) -> Probe:
        body = request.SerializeToString()
        return request, httpx.post(url, content=body, headers=headers, timeout=120)

    pool = ThreadPoolExecutor(max_workers=64)
    probes: list[Future[Probe]] = []

    def refused() -> list[httpx.Response]:
        return [f.result()[1] for f in probes if f.done() and f.result()[1].status_code == 503]

    holder = sqlite3.connect(server.data_dir / "tracehound.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # the writer now waits on its busy timeout (30 s)
        # Probes until one is refused; the accepted ones wait for the writer. Once one is
        # refused, the queue stays full for as long as the lock is held.
        deadline = time.monotonic() + 60
        while not refused():
            assert time.monotonic() < deadline, "no export was refused"
            probes.append(pool.submit(probe, raw_request(PER_REQUEST)))
            time.sleep(0.2)
        answer = refused()[0]
        assert answer.headers["retry-after"] == "1"
        message = status_pb2.Status.FromString(answer.content).message
        assert "ingest is behind" in message and "--max-pending-spans 20" in message

        with grpc.insecure_channel(server.otlp_grpc.removeprefix("http://")) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
            with pytest.raises(grpc.RpcError) as info:
                stub.Export(raw_request(PER_REQUEST), metadata=(("x-project-id", project),), timeout=30)
        error = info.value
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = {m.key: m.value for m in error.trailing_metadata()}
        retry = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert retry.retry_delay.seconds == 1
        details = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        assert details.code == 8 and details.details[0].Is(error_details_pb2.RetryInfo.DESCRIPTOR)

        # The SDK's own exporters are refused too, and retry after the delay they were given.
        factory = SpanFactory(server.otlp_grpc, server.otlp_http, project)
        caplog.set_level(logging.WARNING, logger="opentelemetry.exporter")
        exports: list[Future[SpanExportResult]] = []
        expected: set[str] = set()
        exporters: list[GrpcExporter | HttpExporter] = [
            GrpcExporter(endpoint=server.otlp_grpc, insecure=True, headers=factory.headers(), timeout=60),
            HttpExporter(endpoint=url, headers=factory.headers(), timeout=60),
        ]
        for exporter in exporters:
            t = factory.trace()
            for i in range(PER_REQUEST):
                t.span(f"sdk-{i}", i, i + 1)
            expected |= {span_hex(s) for s in t.created}
            exports.append(pool.submit(exporter.export, factory.finished(t)))

        def retrying() -> int:
            return sum("retrying in 1.00s" in r.getMessage() for r in caplog.records)

        _wait_for(lambda: retrying() >= 2, "both exporters to be refused")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    try:
        assert [f.result(timeout=120) for f in exports] == [SpanExportResult.SUCCESS] * 2
        answers = [f.result(timeout=120) for f in probes]
        accepted = [request for request, r in answers if r.status_code == 200]
        assert len(accepted) + len(refused()) == len(answers)
        for request in accepted:
            expected |= _span_ids(request)
        with server.client(project) as c:
            stored = {s["span_id"] for s in get_json(c, "/spans", {"limit": 1000})["data"]}
        assert stored == expected  # every acknowledged span, and nothing that was refused
    finally:
        for exporter in exporters:
            exporter.shutdown()
        pool.shutdown()
        server.stop()


def test_an_exporter_that_gives_up_does_not_stop_ingest(tmp_path: Path) -> None:
    """A gRPC deadline cancels the server's handler while its spans wait for the writer; they
    are committed anyway, and the writer goes on with the next export."""
    server = start_server(tmp_path / "giveup")
    project = f"gu-{uuid.uuid4().hex[:8]}"
    metadata = (("x-project-id", project),)
    first, given_up, after = (raw_request(PER_REQUEST) for _ in range(3))
    try:
        with grpc.insecure_channel(server.otlp_grpc.removeprefix("http://")) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
            # The decoding process starts on the first export: start it before the clock runs.
            stub.Export(first, metadata=metadata, timeout=60)
            holder = sqlite3.connect(server.data_dir / "tracehound.db", isolation_level=None)
            try:
                holder.execute("BEGIN IMMEDIATE")
                with pytest.raises(grpc.RpcError) as info:
                    stub.Export(given_up, metadata=metadata, timeout=5)
                assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            stub.Export(after, metadata=metadata, timeout=60)
        with server.client(project) as c:
            stored = {s["span_id"] for s in get_json(c, "/spans", {"limit": 1000})["data"]}
        assert stored == _span_ids(first) | _span_ids(given_up) | _span_ids(after)
    finally:
        server.stop()
