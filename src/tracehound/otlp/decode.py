"""OTLP trace requests: bytes (protobuf or OTLP/JSON, maybe gzip) to `RawSpan`s.

Request-level problems raise `OtlpError` with an HTTP status; span-level problems (bad ids)
reject just that span, counted for `partial_success`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tracehound.model import RawSpan, SpanEvent

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class OtlpError(Exception):
    """A request refused whole. A 503 is transient: the exporter retries after `retry_after_s`."""

    def __init__(self, status: int, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s

    def __reduce__(self) -> tuple[type[OtlpError], tuple[int, str, int]]:
        # Raised in a decoding process, it is pickled back to the server.
        return (type(self), (self.status, self.message, self.retry_after_s))


@dataclass(slots=True)
class Decoded:
    spans: list[RawSpan] = field(default_factory=list)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < 5 and reason not in self.reasons:
            self.reasons.append(reason)

    @property
    def message(self) -> str:
        return "; ".join(self.reasons)


def decompress(body: bytes, encoding: str | None, max_size: int) -> bytes:
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return body
    if enc not in ("gzip", "deflate"):
        raise OtlpError(415, f"unsupported Content-Encoding {encoding!r}: use gzip or none")
    # Stream with a cap, so that a small compressed bomb cannot expand without bound.
    wbits = 16 + zlib.MAX_WBITS if enc == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, max_size + 1)
    except zlib.error as exc:
        raise OtlpError(400, f"corrupt {enc} body: {exc}") from None
    if len(out) > max_size or inflater.unconsumed_tail:
        raise OtlpError(413, f"decompressed body exceeds the limit of {max_size} bytes")
    if not inflater.eof:
        raise OtlpError(400, f"corrupt {enc} body: truncated stream")
    return out


def parse_request(body: bytes, content_type: str | None) -> ExportTraceServiceRequest:
    media = (content_type or "").split(";")[0].strip().lower()
    request = ExportTraceServiceRequest()
    if media == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError) as exc:
            raise OtlpError(400, f"malformed protobuf ExportTraceServiceRequest: {exc}") from None
        return request
    if media == JSON:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise OtlpError(400, f"malformed JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise OtlpError(400, "OTLP/JSON body must be an object with resourceSpans")
        _check_messages(doc, ExportTraceServiceRequest.DESCRIPTOR, "request", 0)
        _hex_ids_to_base64(doc)
        try:
            json_format.ParseDict(doc, request, ignore_unknown_fields=True)
        except (json_format.ParseError, RecursionError, TypeError, ValueError) as exc:
            raise OtlpError(400, f"invalid OTLP/JSON ExportTraceServiceRequest: {exc}") from None
        return request
    raise OtlpError(415, f"unsupported Content-Type {content_type!r}: use {PROTOBUF} or {JSON}")


# protobuf's own limit for ParseDict, checked first to say where.
MAX_JSON_DEPTH = 100


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )


def _check_messages(value: Any, descriptor: Descriptor, path: str, depth: int) -> None:
    """Every message in the document is an object and every repeated field an array. ParseDict
    takes a string where a message goes for an empty message (it iterates the characters as
    field names, which ignore_unknown_fields skips), and reports other mistakes without a path."""
    if depth > MAX_JSON_DEPTH:
        where = path if len(path) <= 120 else f"{path[:60]}...{path[-60:]}"
        raise OtlpError(400, f"{where}: nested more than {MAX_JSON_DEPTH} levels deep")
    if not isinstance(value, dict):
        raise OtlpError(400, f"{path} must be an object, got {_json_type(value)}")
    for json_name, name, sub, repeated in _message_fields(descriptor):
        item = value.get(json_name, value.get(name))
        if item is None:
            continue
        if not repeated:
            _check_messages(item, sub, f"{path}.{json_name}", depth + 1)
            continue
        if not isinstance(item, list):
            raise OtlpError(400, f"{path}.{json_name} must be an array, got {_json_type(item)}")
        for i, element in enumerate(item):
            # A null element is left to ParseDict, which rejects it with its own message.
            if element is not None:
                _check_messages(element, sub, f"{path}.{json_name}[{i}]", depth + 1)


@functools.cache
def _message_fields(descriptor: Descriptor) -> tuple[tuple[str, str, Descriptor, bool], ...]:
    # Only the message-typed fields, looked up once per message type: the walk runs per value.
    return tuple(
        (fd.json_name, fd.name, fd.message_type, fd.is_repeated)
        for fd in descriptor.fields
        if fd.message_type is not None
    )


_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(doc: dict[str, Any]) -> None:
    """OTLP/JSON writes ids as hex, while protobuf's JSON mapping expects base64 for bytes."""
    for rs in _dicts(doc.get("resourceSpans", doc.get("resource_spans"))):
        for ss in _dicts(rs.get("scopeSpans", rs.get("scope_spans"))):
            for span in _dicts(ss.get("spans")):
                _convert_ids(span)
                for link in _dicts(span.get("links")):
                    _convert_ids(link)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _convert_ids(obj: dict[str, Any]) -> None:
    for key in _ID_KEYS:
        value = obj.get(key)
        if isinstance(value, str):
            try:
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                # Not hex: leave an undecodable marker so the span is rejected with a reason.
                obj[key] = base64.b64encode(b"\xff").decode()


def any_value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return v.double_value
    if which == "bool_value":
        return v.bool_value
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return None


def _attrs(kvs: Any) -> dict[str, Any]:
    # The scalar cases inline: this runs for every attribute of every ingested span.
    out: dict[str, Any] = {}
    for kv in kvs:
        v = kv.value
        which = v.WhichOneof("value")
        if which == "string_value":
            out[kv.key] = v.string_value
        elif which == "int_value":
            out[kv.key] = v.int_value
        elif which == "bool_value":
            out[kv.key] = v.bool_value
        elif which == "double_value":
            out[kv.key] = v.double_value
        else:
            out[kv.key] = any_value(v)
    return out


_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)


def raw_spans(request: ExportTraceServiceRequest, project_header: str | None) -> Decoded:
    out = Decoded()
    hexlify = binascii.hexlify
    for rs in request.resource_spans:
        resource = _attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            scope = ss.scope.name
            for s in ss.spans:
                tid, sid, pid = s.trace_id, s.span_id, s.parent_span_id
                if len(tid) != 16 or tid == _ZERO_TRACE:
                    out.reject(f"span {s.name!r}: trace_id must be 16 non-zero bytes, got {len(tid)}")
                    continue
                if len(sid) != 8 or sid == _ZERO_SPAN:
                    out.reject(f"span {s.name!r}: span_id must be 8 non-zero bytes, got {len(sid)}")
                    continue
                if pid and len(pid) != 8:
                    out.reject(f"span {s.name!r}: parent_span_id must be empty or 8 bytes, got {len(pid)}")
                    continue
                start = s.start_time_unix_nano // 1000
                end = s.end_time_unix_nano // 1000
                out.spans.append(
                    RawSpan(
                        trace_id=hexlify(tid).decode(),
                        span_id=hexlify(sid).decode(),
                        # An all-zero parent means "no parent" (vLLora stored it as "0").
                        parent_span_id=hexlify(pid).decode() if pid and pid != _ZERO_SPAN else None,
                        name=s.name,
                        start_time_us=start,
                        finish_time_us=end if end >= start else start,
                        attributes=_attrs(s.attributes),
                        events=[
                            SpanEvent(e.name, e.time_unix_nano // 1000, _attrs(e.attributes))
                            for e in s.events
                        ],
                        status_code=s.status.code,
                        status_message=s.status.message,
                        otlp_kind=s.kind,
                        resource=resource,
                        scope_name=scope,
                        project_header=project_header,
                    )
                )
    return out
