"""Bad input gets a 4xx with a message that says what is wrong, never a 500."""

from __future__ import annotations

import gzip
import os
import uuid

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.conftest import Server

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}


def _request(*spans: Span) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])]
    )


def _span(trace_id: bytes = b"\x01" * 16, span_id: bytes = b"\x02" * 8, parent: bytes = b"") -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name="s",
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_000_100_000_000,
    )


def _post(server: Server, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.otlp_http}/v1/traces", content=body, headers=headers, timeout=60)


def _error_message(r: httpx.Response) -> str:
    if r.headers["content-type"].startswith("application/x-protobuf"):
        from google.rpc import status_pb2

        return str(status_pb2.Status.FromString(r.content).message)
    return str(r.json()["message"])


@pytest.mark.parametrize(
    ("body", "headers", "status", "needle"),
    [
        (b"\xff\xff\xff\x0f garbage", PROTOBUF, 400, "malformed protobuf"),
        (b"{}", {"content-type": "text/plain"}, 415, "unsupported Content-Type"),
        (b"not json", {"content-type": "application/json"}, 400, "malformed JSON"),
        (b"[1, 2]", {"content-type": "application/json"}, 400, "must be an object"),
        (b'{"resourceSpans": "nope"}', {"content-type": "application/json"}, 400, "must be an array"),
        # Found by tests/test_fuzz_api.py: a string where a message goes was read as an empty one.
        (
            b'{"resourceSpans": ["AAA"]}',
            JSON,
            400,
            "request.resourceSpans[0] must be an object, got a string",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"status": 3}]}]}]}',
            JSON,
            400,
            "resourceSpans[0].scopeSpans[0].spans[0].status must be an object, got a number",
        ),
        (b"\x1f\x8b\x08\x00 corrupt", {**PROTOBUF, "content-encoding": "gzip"}, 400, "corrupt gzip"),
        (
            gzip.compress(b"x" * 1000, mtime=0)[:20],
            {**PROTOBUF, "content-encoding": "gzip"},
            400,
            "corrupt gzip",
        ),
        (b"x", {**PROTOBUF, "content-encoding": "br"}, 415, "Content-Encoding"),
    ],
)
def test_malformed_otlp_http(
    server: Server, body: bytes, headers: dict[str, str], status: int, needle: str
) -> None:
    r = _post(server, body, headers)
    assert r.status_code == status
    assert needle in _error_message(r)


def test_oversized_and_bomb_bodies(server: Server) -> None:
    big = os.urandom(17 * 1024 * 1024)
    bomb = gzip.compress(b"\0" * (65 * 1024 * 1024))
    for base in (server.otlp_http, server.api):  # the API port takes OTLP/HTTP too
        r = httpx.post(f"{base}/v1/traces", content=big, headers=PROTOBUF, timeout=60)
        assert r.status_code == 413 and "exceeds the limit" in _error_message(r)
        gzipped = {**PROTOBUF, "content-encoding": "gzip"}
        r = httpx.post(f"{base}/v1/traces", content=bomb, headers=gzipped, timeout=60)
        assert r.status_code == 413 and "decompressed body" in _error_message(r)


@pytest.mark.parametrize(
    ("span", "needle"),
    [
        (_span(trace_id=b"\x01" * 15), "trace_id must be 16"),
        (_span(trace_id=b"\x00" * 16), "trace_id must be 16 non-zero"),
        (_span(span_id=b"\x02" * 9), "span_id must be 8"),
        (_span(span_id=b""), "span_id must be 8"),
        (_span(parent=b"\x03" * 4), "parent_span_id must be empty or 8"),
    ],
)
def test_bad_id_lengths(server: Server, span: Span, needle: str) -> None:
    r = _post(server, _request(span).SerializeToString(), PROTOBUF)
    assert r.status_code == 400 and needle in _error_message(r)
    # Beside a good span, the bad one is rejected alone (OTLP partial success).
    good = _span(trace_id=uuid.uuid4().bytes)
    r = _post(server, _request(span, good).SerializeToString(), PROTOBUF)
    assert r.status_code == 200
    response = ExportTraceServiceResponse.FromString(r.content)
    assert response.partial_success.rejected_spans == 1
    assert needle in response.partial_success.error_message


def test_grpc_rejections(server: Server) -> None:
    with grpc.insecure_channel(server.otlp_grpc.removeprefix("http://")) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as info:
            stub.Export(_request(_span(span_id=b"\x01")), timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "span_id must be 8" in (info.value.details() or "")
        response = stub.Export(
            _request(_span(span_id=b"\x01"), _span(trace_id=uuid.uuid4().bytes)), timeout=10
        )
        assert response.partial_success.rejected_spans == 1
        # Found by tests/test_fuzz_ingest.py: bytes that are not protobuf were answered UNKNOWN,
        # with the name of a Python exception.
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as info:
            export(b"\xff\xff\xff\x0f garbage", timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "malformed protobuf ExportTraceServiceRequest" in (info.value.details() or "")


@pytest.mark.parametrize(
    ("path", "params", "status", "needle"),
    [
        ("/runs", {"limit": "abc"}, 400, "limit"),
        ("/runs", {"limit": "-1"}, 400, "limit must be 0 or more"),
        ("/runs", {"offset": "-5"}, 400, "offset must be 0 or more"),
        ("/runs", {"limit": "100000"}, 400, "at most"),
        ("/runs", {"status": "done"}, 400, "unknown status 'done'"),
        ("/runs", {"status": "failed,bogus"}, 400, "unknown status 'bogus'"),
        ("/runs", {"period": "last_century"}, 400, "unknown period"),
        ("/runs", {"sort_by": "name"}, 400, "sort_by"),
        ("/runs", {"order": "up"}, 400, "order"),
        ("/runs", {"type_filter": "x"}, 400, "type_filter"),
        ("/runs", {"min_duration_ms": "-1"}, 400, "min_duration_ms"),
        ("/runs", {"min_cost": "cheap"}, 400, "min_cost"),
        ("/runs", {"start_time_min": "yesterday"}, 400, "start_time_min"),
        ("/runs", {"runIds": "a", "run_ids": "b"}, 400, "given twice"),
        ("/spans", {"limit": "-1"}, 400, "limit"),
        ("/spans", {"start_time": "1.5"}, 400, "start_time"),
        ("/spans/summary", {}, 400, "at least one of"),
        ("/spans/summary", {"threadIds": "a", "thread_ids": "b"}, 400, "given twice"),
        ("/spans/summary", {"labels": "x", "semantic": "maybe"}, 400, "semantic"),
        ("/group", {"group_by": "model"}, 400, "group_by"),
        ("/group", {"bucket_size": "0"}, 400, "bucket_size must be a positive"),
        ("/group/spans", {}, 400, "group_by"),
        ("/group/spans", {"group_by": "thread"}, 400, "needs thread_id"),
        ("/threads", {"limit": "-3"}, 400, "limit"),
        ("/labels", {"limit": "x"}, 400, "limit"),
        ("/runs/nope/details", {}, 404, "not found"),
        ("/threads/nope", {}, 404, "not found"),
        ("/no/such/path", {}, 404, "Not Found"),
    ],
)
def test_bad_parameters(server: Server, path: str, params: dict[str, str], status: int, needle: str) -> None:
    r = httpx.get(f"{server.api}{path}", params=params)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "message"}
    assert needle.lower() in (body["error"] + " " + body["message"]).lower()


def test_bad_bodies(server: Server) -> None:
    r = httpx.post(
        f"{server.api}/group/batch-spans", content=b"{", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]
    r = httpx.post(f"{server.api}/group/batch-spans", json={"groups": [{}]})
    assert r.status_code == 400 and "each group needs" in r.json()["message"]
    r = httpx.post(f"{server.api}/group/batch-spans", json={"groups": [{"time_bucket": 0, "bucket_size": 0}]})
    assert r.status_code == 400
    r = httpx.post(f"{server.api}/threads", json={"limit": -1})
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        # Found by tests/test_fuzz_api.py: these were read as 0, 1 and 5.
        ("/threads", {"offset": False}, "offset"),
        ("/group/batch-spans", {"groups": [{"time_bucket": True}]}, "groups.0.time_bucket"),
        ("/group/batch-spans", {"groups": [], "spans_per_group": "5"}, "spans_per_group"),
    ],
)
def test_body_numbers_are_strict(server: Server, path: str, body: dict[str, object], needle: str) -> None:
    r = httpx.post(f"{server.api}{path}", json=body)
    assert r.status_code == 400, r.text
    assert needle in r.json()["message"]
