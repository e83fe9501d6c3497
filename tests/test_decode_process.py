"""Decoding runs in a child process; if that process dies, the server answers 503 (which OTLP
exporters retry), starts a new one, and loses nothing it acknowledged."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.conftest import Server, get_json, start_server
from tests.processes import children

PROTOBUF = {"content-type": "application/x-protobuf"}


def _body(run_id: str) -> bytes:
    span = Span(
        trace_id=uuid.uuid4().bytes,
        span_id=os.urandom(8),
        name="root",
        start_time_unix_nano=time.time_ns() - 1_000_000,
        end_time_unix_nano=time.time_ns(),
    )
    kv = span.attributes.add()
    kv.key, kv.value.string_value = "vllora.run_id", run_id
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    )
    return request.SerializeToString()


def _post(server: Server, run_id: str) -> httpx.Response:
    return httpx.post(f"{server.otlp_http}/v1/traces", content=_body(run_id), headers=PROTOBUF, timeout=60)


def test_a_killed_decoder_is_replaced(tmp_path: Path) -> None:
    server = start_server(tmp_path / "decoder")
    try:
        assert _post(server, "before").status_code == 200
        decoders = children(server.process.pid)
        assert decoders, "no decoding process"
        for pid in decoders:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        first = _post(server, "during")
        assert first.status_code in (200, 503)
        if first.status_code == 503:
            assert first.headers["retry-after"] == "1"
        assert _post(server, "after").status_code == 200
        with server.client() as c:
            run_ids = {r["run_id"] for r in get_json(c, "/runs")["data"]}
        assert {"before", "after"} <= run_ids
        assert ("during" in run_ids) == (first.status_code == 200)
    finally:
        server.stop()
