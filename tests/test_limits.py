"""Per-request limits on a server started with small ones: spans per request (the whole export is
refused), and attribute values (cut, flagged, after the conventions have read them), on each
backend."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from tests.conftest import Server, get_json, start_server
from tests.db import Database
from tests.spans import SpanFactory, raw_request

MAX_SPANS = 10
MAX_VALUE = 1024
PROTOBUF = {"content-type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def limited(module_db: Database) -> Iterator[Server]:
    server = start_server(
        module_db.data_dir,
        "--max-spans-per-request",
        str(MAX_SPANS),
        "--max-attribute-value-bytes",
        str(MAX_VALUE),
        database_url=module_db.url,
    )
    yield server
    server.stop()


def test_too_many_spans_refuse_the_whole_export(limited: Server, project: str) -> None:
    headers = {**PROTOBUF, "x-project-id": project}
    for base in (limited.otlp_http, limited.api):
        body = raw_request(MAX_SPANS + 1).SerializeToString()
        r = httpx.post(f"{base}/v1/traces", content=body, headers=headers)
        assert r.status_code == 413
        message = status_pb2.Status.FromString(r.content).message
        assert "carries 11 spans, more than the limit of 10" in message
        assert "retry-after" not in r.headers  # permanent: exporters must not retry it
    with grpc.insecure_channel(limited.otlp_grpc.removeprefix("http://")) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        metadata = (("x-project-id", project),)
        with pytest.raises(grpc.RpcError) as info:
            stub.Export(raw_request(MAX_SPANS + 1), metadata=metadata, timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "more than the limit of 10" in (info.value.details() or "")
        stub.Export(raw_request(MAX_SPANS), metadata=metadata, timeout=30)
    with limited.client(project) as c:
        assert get_json(c, "/spans")["pagination"]["total"] == MAX_SPANS  # nothing of the refused ones


def _utf8(text: str) -> int:
    return len(text.encode())


def test_long_values_are_cut_after_the_conventions_read_them(limited: Server, project: str) -> None:
    spans = SpanFactory(limited.otlp_grpc, limited.otlp_http, project)
    request = json.dumps(
        {"model": "anthropic/claude-3-5-sonnet", "messages": [{"role": "user", "content": "x" * 3000}]}
    )
    usage = json.dumps({"input_tokens": 1234, "output_tokens": 56, "padding": "p" * 2000})
    title = "€" * 500  # 1,500 bytes: the cut must fall on a character boundary
    tags = ["tag-" + "t" * 96] * 20  # an array, measured as its JSON
    base = {"vllora.run_id": "cut-run"}
    t = spans.trace()
    root = t.span("run", 0, 1000, attrs=base)
    api = t.span(
        "api_invoke",
        10,
        900,
        parent=root,
        attrs={**base, "request": request, "usage": usage, "cost": "0.0125", "title": title, "tags": tags},
    )
    t.span(
        "model_call",
        20,
        800,
        parent=api,
        attrs={**base, "model_name": "anthropic/claude-3-5-sonnet", "usage": usage, "short": "kept"},
    )
    t.span("tool", 850, 890, parent=root, attrs=base, exception="boom " * 400)
    spans.send(t, via="http")

    with limited.client(project) as c:
        run = get_json(c, "/runs/cut-run/details")
        # Typed fields come from the whole values.
        assert run["input_tokens"] == 1234 and run["output_tokens"] == 56
        assert run["cost"] == pytest.approx(0.0125)
        assert run["request_models"] == ["anthropic/claude-3-5-sonnet"]
        assert [_utf8(e) for e in run["errors"]] == [MAX_VALUE]  # "boom " * 400 is 2,000 bytes
        by_name = {s["operation_name"]: s for s in get_json(c, "/spans")["data"]}

    api_attrs = by_name["api_invoke"]["attribute"]
    assert api_attrs["tracehound.truncated_attributes"] == {
        "request": _utf8(request),
        "usage": _utf8(usage),
        "title": _utf8(title),
        "tags": len(json.dumps(tags, separators=(",", ":"))),
    }
    assert api_attrs["request"] == request.encode()[:MAX_VALUE].decode()
    assert api_attrs["title"] == "€" * (MAX_VALUE // 3)
    assert isinstance(api_attrs["tags"], str) and api_attrs["tags"].startswith('["tag-tttt')
    assert _utf8(api_attrs["tags"]) == MAX_VALUE
    assert api_attrs["cost"] == "0.0125"
    call = by_name["model_call"]
    assert call["input_tokens"] == 1234 and call["model"] == "anthropic/claude-3-5-sonnet"
    assert call["attribute"]["short"] == "kept"
    assert call["attribute"]["tracehound.truncated_attributes"] == {"usage": _utf8(usage)}
    tool = by_name["tool"]
    cut = tool["attribute"]["tracehound.truncated_attributes"]
    assert cut["events[0].exception.message"] == 2000 and cut["events[0].exception.stacktrace"] > 2000
    assert tool["error_message"] == ("boom " * 400)[:MAX_VALUE]
    assert "tracehound.truncated_attributes" not in by_name["run"]["attribute"]


def test_grpc_size_limits(server: Server) -> None:
    """Over gRPC, grpc itself holds a message to --max-request-bytes, compressed or not."""
    big = raw_request(1)
    big.resource_spans[0].scope_spans[0].spans[0].name = "x" * (17 * 1024 * 1024)
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    with grpc.insecure_channel(server.otlp_grpc.removeprefix("http://"), options=options) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        for compression in (grpc.Compression.NoCompression, grpc.Compression.Gzip):
            with pytest.raises(grpc.RpcError) as info:
                stub.Export(big, timeout=60, compression=compression)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "larger than max" in (info.value.details() or "")


def test_cut_text_keeps_whole_characters() -> None:
    from tracehound.otlp.limits import cut_text

    assert cut_text("a" * 8, 8) is None
    assert cut_text("😀" * 3, 12) is None
    assert cut_text("😀" * 3, 11) == ("😀" * 2, 12)  # never half a character
    assert cut_text("ab😀", 5) == ("ab", 6)
