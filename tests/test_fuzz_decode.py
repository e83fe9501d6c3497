"""Property tests of the OTLP decoders and the convention mappers, in-process: random and
malformed protobuf, OTLP/JSON with wrong types, deep and huge attribute values, invalid UTF-8,
ids of every length, broken gzip, and hostile values for every attribute the mappers read.

The properties: nothing raises but `OtlpError`, which carries a 4xx status and a message; a span
is rejected (with a reason) exactly when its ids are wrong; an accepted span has sane typed
fields. tests/test_bad_input.py pins the individual messages; this file looks for the inputs
nobody thought of. Budgets come from tests/fuzz.py.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import zlib
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from tests.fuzz import fuzz_settings, protobuf_field
from tracehound import model
from tracehound.conventions import normalize
from tracehound.conventions.base import MAX_COST, MAX_COUNT
from tracehound.model import RawSpan, SpanEvent
from tracehound.model import Span as TypedSpan
from tracehound.otlp.decode import JSON, PROTOBUF, OtlpError, decompress
from tracehound.otlp.limits import Limits
from tracehound.otlp.normalizing import Normalized, normalize_body, normalize_request, pack, unpack

MAX_BYTES = 64 * 1024
# The server's limits, with a small decompression cap so that bombs are cheap to find.
LIMITS = Limits(max_decompressed_bytes=MAX_BYTES)
KINDS = {value for name, value in vars(model).items() if name.startswith("KIND_")}
HEX = "0123456789abcdef"

# Every attribute some mapper reads (tracehound/conventions), by convention.
VLLORA_KEYS = ["usage", "cost", "request", "ttft", "model_name", "provider_name", "title", "label", "error"]
VLLORA_IDS = ["vllora.run_id", "vllora.thread_id", "vllora.label", "vllora.project_id", "vllora.tool_name"]
VLLORA_HINTS = ["vllora.agent_name", "vllora.task_name", "retries_left", "cache_state", "tool_calls"]
OPENINFERENCE_KEYS = [
    *["openinference.span.kind", "llm.model_name", "llm.request.model_name", "llm.response.model_name"],
    *["llm.token_count.prompt", "llm.token_count.completion", "llm.token_count.prompt_details.cache_read"],
    *["llm.cost.total", "llm.provider", "llm.system", "session.id", "agent.name", "tool.name"],
    *["embedding.model_name", "reranker.model_name"],
]
OPENLLMETRY_KEYS = [
    "llm.request.type",
    "traceloop.span.kind",
    "traceloop.workflow.name",
    "traceloop.entity.name",
]
GENAI_KEYS = [
    *["gen_ai.operation.name", "gen_ai.request.model", "gen_ai.response.model", "gen_ai.provider.name"],
    *["gen_ai.system", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "gen_ai.usage.cost"],
    *["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "gen_ai.usage.cache_read.input_tokens"],
    *["gen_ai.usage.cache_read_input_tokens", "gen_ai.conversation.id", "gen_ai.tool.name"],
    *["gen_ai.agent.name", "gen_ai.response.time_to_first_chunk", "gen_ai.response.time_to_first_token"],
]
MAPPED_KEYS = [*VLLORA_KEYS, *VLLORA_IDS, *VLLORA_HINTS, *OPENINFERENCE_KEYS, *OPENLLMETRY_KEYS, *GENAI_KEYS]
OPERATIONS = ["model_call", "api_invoke", "openai", "anthropic", "bedrock", "cache", "tools", "tool", "agent"]
OPERATIONS += ["run", "task", "cloud_api_invoke", "request_routing", "chat", "gemini"]
# Values the mappers read a meaning into: kinds, operations, request types.
MEANINGFUL = ["LLM", "llm", "chat", "completion", "embedding", "tool", "agent", "call_llm", "TOOL"]
# Numbers as instrumentations send them in strings, and strings that only look like numbers.
NUMERIC_TEXT = st.sampled_from(["0", "-1", "12", "1.5", "1e400", "-1e400", "NaN", "inf", "-inf", "1_000"])
NUMERIC_TEXT |= st.sampled_from(["0x10", "١٢", "", " 7 ", "9" * 40])
INT64 = st.integers(-(2**63), 2**63 - 1)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
TEXT = st.text(max_size=30)


# -- what every accepted span must look like ----------------------------------------------------


def _is_hex(value: str, length: int) -> bool:
    return len(value) == length and set(value) <= set(HEX)


def assert_sane(span: TypedSpan) -> None:
    assert _is_hex(span.trace_id, 32) and span.trace_id != "0" * 32
    assert _is_hex(span.span_id, 16) and span.span_id != "0" * 16
    assert span.parent_span_id is None or _is_hex(span.parent_span_id, 16)
    assert isinstance(span.run_id, str) and span.run_id
    assert span.kind in KINDS and isinstance(span.is_llm_call, bool)
    for count in (span.input_tokens, span.output_tokens, span.cached_tokens):
        assert count is None or (type(count) is int and 0 <= count <= MAX_COUNT), count
    assert span.ttft_us is None or (type(span.ttft_us) is int and 0 <= span.ttft_us < 2**53)
    assert span.cost is None or (math.isfinite(span.cost) and 0 <= span.cost <= MAX_COST), span.cost
    assert span.cost_source in (None, "provided", "computed", "unpriced")
    for text in (span.thread_id, span.model, span.request_model, span.provider, span.label):
        assert text is None or (isinstance(text, str) and text)
    for text in (span.tool_name, span.title, span.error_message):
        assert text is None or isinstance(text, str)
    assert 0 <= span.start_time_us <= span.finish_time_us < 2**63
    assert isinstance(span.is_error, bool)


def assert_rejection(exc: OtlpError) -> None:
    assert 400 <= exc.status < 500, exc.status
    assert isinstance(exc.message, str) and len(exc.message) > 10


def decode(body: bytes, content_type: str, encoding: str | None = None) -> Normalized | None:
    """The HTTP receiver's whole path, as the decoding process runs it (including the pickling
    form); None when the request was rejected, which must be a clear OtlpError."""
    try:
        result = normalize_body(body, content_type, encoding, "fuzz", LIMITS)
    except OtlpError as exc:
        assert_rejection(exc)
        return None
    check(result)
    return result


def check(result: Normalized) -> None:
    for span in result.spans:
        assert_sane(span)
    assert (result.rejected == 0) == (result.message == "")
    packed = unpack(pack(result))
    assert [s.span_id for s in packed.spans] == [s.span_id for s in result.spans]
    for span in packed.spans:
        assert span.attributes_json is not None
        orjson.loads(span.attributes_json)


# -- random bytes -------------------------------------------------------------------------------


@fuzz_settings(ci=50)
@given(st.binary(max_size=512))
def test_random_bytes_as_protobuf(body: bytes) -> None:
    decode(body, PROTOBUF)


@fuzz_settings(ci=50)
@given(st.binary(max_size=512), st.sampled_from([JSON, "application/json; charset=utf-8"]))
def test_random_bytes_as_json(body: bytes, content_type: str) -> None:
    decode(body, content_type)


@fuzz_settings()
@given(
    st.binary(max_size=256),
    st.one_of(st.none(), st.sampled_from(["gzip", "deflate", "GZIP", "identity", "br", "x"]), TEXT),
    st.one_of(st.none(), st.sampled_from([PROTOBUF, JSON, "text/plain", "", ";"]), TEXT),
)
def test_random_bytes_any_encoding_and_type(body: bytes, encoding: str | None, content_type: str) -> None:
    try:
        result = normalize_body(body, content_type, encoding, None, LIMITS)
    except OtlpError as exc:
        assert_rejection(exc)
    else:
        check(result)


# -- compression --------------------------------------------------------------------------------


@fuzz_settings()
@given(st.binary(min_size=1, max_size=2048), st.data())
def test_truncated_compression_is_rejected(payload: bytes, data: st.DataObject) -> None:
    for encoding, compressed in (("gzip", gzip.compress(payload)), ("deflate", zlib.compress(payload))):
        cut = data.draw(st.integers(0, len(compressed) - 1), label=f"{encoding} cut")
        with pytest.raises(OtlpError) as info:
            decompress(compressed[:cut], encoding, MAX_BYTES)
        assert info.value.status == 400 and f"corrupt {encoding} body" in info.value.message
        assert decompress(compressed, encoding, MAX_BYTES) == payload


@fuzz_settings()
@given(st.integers(0, 3 * MAX_BYTES), st.sampled_from(["gzip", "deflate"]))
def test_decompressed_size_is_capped(size: int, encoding: str) -> None:
    raw = b"\0" * size
    body = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    if size <= MAX_BYTES:
        assert decompress(body, encoding, MAX_BYTES) == raw
        return
    with pytest.raises(OtlpError) as info:
        decompress(body, encoding, MAX_BYTES)
    assert info.value.status == 413 and "exceeds the limit" in info.value.message


def test_concatenated_gzip_members_do_not_hide_a_bomb() -> None:
    # A small first member, then a bomb: the cap counts what follows the first member too.
    body = gzip.compress(b"ok") + gzip.compress(b"\0" * (4 * MAX_BYTES))
    try:
        out = decompress(body, "gzip", MAX_BYTES)
    except OtlpError as exc:
        assert_rejection(exc)
    else:
        assert len(out) <= MAX_BYTES


# -- structurally valid protobuf with hostile values --------------------------------------------


def _any_value(value: Any) -> AnyValue:
    out = AnyValue()
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, bytes):
        out.bytes_value = value
    elif isinstance(value, list):
        out.array_value.values.extend(_any_value(v) for v in value)
    elif isinstance(value, dict):
        out.kvlist_value.values.extend(KeyValue(key=k, value=_any_value(v)) for k, v in value.items())
    return out  # None: an empty AnyValue, which OTLP allows


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    INT64,
    FLOATS,
    TEXT,
    st.binary(max_size=20),  # bytes_value: any bytes, invalid UTF-8 included
    NUMERIC_TEXT,
    st.sampled_from(MEANINGFUL + OPERATIONS),
    st.just("x" * 100_000),
)
ANY_VALUES = st.one_of(
    st.recursive(
        SCALARS,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
        max_leaves=12,
    ),
    # Within protobuf's 100 levels of messages (each level here is two or three); deeper is
    # test_deeply_nested_protobuf_values.
    st.integers(1, 30).map(_nested),
)
ATTRIBUTES = st.dictionaries(st.one_of(st.sampled_from(MAPPED_KEYS), TEXT), ANY_VALUES, max_size=8)
GOOD_TRACE = st.binary(min_size=16, max_size=16).filter(any)
GOOD_SPAN = st.binary(min_size=8, max_size=8).filter(any)
ANY_ID = st.one_of(st.binary(max_size=40), st.sampled_from([b"\0" * 16, b"\0" * 8]))


@st.composite
def otlp_spans(draw: st.DrawFn) -> Span:
    span = Span(
        trace_id=draw(st.one_of(GOOD_TRACE, ANY_ID)),
        span_id=draw(st.one_of(GOOD_SPAN, ANY_ID)),
        parent_span_id=draw(st.one_of(st.just(b""), GOOD_SPAN, ANY_ID)),
        name=draw(st.one_of(st.sampled_from(OPERATIONS), TEXT)),
        kind=draw(st.integers(0, 5)),
        start_time_unix_nano=draw(st.integers(0, 2**64 - 1)),
        end_time_unix_nano=draw(st.integers(0, 2**64 - 1)),
        status=Status(code=draw(st.integers(0, 2)), message=draw(TEXT)),
    )
    for key, value in draw(ATTRIBUTES).items():
        span.attributes.add(key=key, value=_any_value(value))
    for name in draw(st.lists(st.sampled_from(["exception", "log", ""]), max_size=2)):
        event = span.events.add(name=name, time_unix_nano=draw(st.integers(0, 2**64 - 1)))
        keys = st.sampled_from(["exception.message", "exception.type"])
        for key, value in draw(st.dictionaries(keys, ANY_VALUES)).items():
            event.attributes.add(key=key, value=_any_value(value))
    return span


def _request(spans: list[Span], resource: dict[str, Any]) -> ExportTraceServiceRequest:
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    for key, value in resource.items():
        rs.resource.attributes.add(key=key, value=_any_value(value))
    return ExportTraceServiceRequest(resource_spans=[rs])


def _ids_ok(span: Span) -> bool:
    return (
        len(span.trace_id) == 16
        and any(span.trace_id)
        and len(span.span_id) == 8
        and any(span.span_id)
        and len(span.parent_span_id) in (0, 8)
    )


@fuzz_settings(ci=25)
@given(st.lists(otlp_spans(), min_size=1, max_size=4), ATTRIBUTES)
def test_valid_protobuf_with_hostile_values(spans: list[Span], resource: dict[str, Any]) -> None:
    request = _request(spans, resource)
    direct = normalize_request(request, None, LIMITS)  # the gRPC path: an already parsed message
    check(direct)
    assert [s.span_id for s in direct.spans] == [s.span_id.hex() for s in spans if _ids_ok(s)]
    assert direct.rejected == sum(not _ids_ok(s) for s in spans)
    if direct.rejected:
        assert "_id must be" in direct.message
    over_http = decode(request.SerializeToString(), PROTOBUF)
    if over_http is not None:  # rejected only when bigger than MAX_BYTES
        assert [s.span_id for s in over_http.spans] == [s.span_id for s in direct.spans]


@fuzz_settings()
@given(st.integers(20, 400))
def test_deeply_nested_protobuf_values(depth: int) -> None:
    value = AnyValue(string_value="leaf").SerializeToString()
    for _ in range(depth):  # AnyValue.array_value (5) -> ArrayValue.values (1) -> AnyValue
        value = protobuf_field(5, protobuf_field(1, value))
    attribute = protobuf_field(1, b"deep") + protobuf_field(2, value)  # KeyValue
    span = Span(trace_id=b"\1" * 16, span_id=b"\2" * 8, name="s").SerializeToString()
    span += protobuf_field(9, attribute)  # Span.attributes
    body = protobuf_field(
        1, protobuf_field(2, protobuf_field(2, span))
    )  # request.resource_spans.scope_spans.spans
    result = decode(body, PROTOBUF)
    if depth * 2 + 5 > 100:
        assert result is None  # over protobuf's depth limit: rejected, never a crash
    else:
        assert result is not None and len(result.spans) == 1


@fuzz_settings()
@given(st.sampled_from(["name", "attribute", "status"]), st.binary(min_size=1, max_size=8))
def test_invalid_utf8_in_protobuf_strings(where: str, junk: bytes) -> None:
    marker = "\u2603MARKER\u2603"
    span = Span(trace_id=b"\1" * 16, span_id=b"\2" * 8, name=marker if where == "name" else "s")
    if where == "attribute":
        span.attributes.add(key="k", value=AnyValue(string_value=marker))
    if where == "status":
        span.status.message = marker
    body = _request([span], {}).SerializeToString()
    # Same length as the marker's UTF-8, so the framing stays valid and only the text is bad.
    invalid = (b"\xff" + junk * 20)[: len(marker.encode())]
    result = decode(body.replace(marker.encode(), invalid), PROTOBUF)
    if result is not None:  # `junk` happened to make valid UTF-8 of it
        assert len(result.spans) == 1


# -- OTLP/JSON with wrong types -----------------------------------------------------------------


def _hex_id(length: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=HEX, min_size=length, max_size=length).filter(lambda s: set(s) != {"0"})


def _json_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        # protobuf's JSON mapping spells the non-finite doubles NaN, Infinity and -Infinity.
        special = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
        return {"doubleValue": value if math.isfinite(value) else special[str(value)]}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_json_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": _json_value(v)} for k, v in value.items()]}}
    return {} if value is None else {"stringValue": value}


@st.composite
def otlp_json_docs(draw: st.DrawFn) -> dict[str, Any]:
    spans = []
    for _ in range(draw(st.integers(1, 3))):
        span: dict[str, Any] = {
            "traceId": draw(_hex_id(32)),
            "spanId": draw(_hex_id(16)),
            "parentSpanId": draw(st.one_of(st.just(""), _hex_id(16))),
            "name": draw(st.sampled_from(OPERATIONS)),
            "kind": draw(st.integers(0, 5)),
            "startTimeUnixNano": str(draw(st.integers(0, 2**63))),
            "endTimeUnixNano": str(draw(st.integers(0, 2**63))),
            "attributes": [{"key": k, "value": _json_value(v)} for k, v in draw(ATTRIBUTES).items()],
            "events": [{"name": "exception", "timeUnixNano": "1", "attributes": []}],
            "status": {"code": draw(st.integers(0, 2)), "message": draw(TEXT)},
        }
        spans.append(span)
    scope_spans = [{"scope": {"name": "x"}, "spans": spans}]
    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": scope_spans}]}


def _slots(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in the document: the places a wrong type can go."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    out = []
    for key, child in items:
        out.append((node, key))
        out.extend(_slots(child))
    return out


WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    TEXT,
    NUMERIC_TEXT,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(TEXT, st.integers(), max_size=2),
    st.just({}),
    st.just([]),
)


@fuzz_settings(ci=100)
@given(otlp_json_docs(), st.data())
def test_otlp_json_with_a_wrong_type_anywhere(doc: dict[str, Any], data: st.DataObject) -> None:
    assert decode(orjson.dumps(doc), JSON) is not None  # the unmutated document is accepted
    container, key = data.draw(st.sampled_from(_slots(doc)), label="slot")
    before, after = container[key], data.draw(WRONG, label="wrong value")
    container[key] = after
    # json, not orjson: the wrong value may be an integer beyond 64 bits.
    result = decode(json.dumps(doc).encode(), JSON)
    # Every object in OTLP/JSON is a message and every array a repeated message field: another
    # type there is a mistake to report, not a value to read as empty.
    if isinstance(before, dict | list) and after is not None and type(after) is not type(before):
        assert result is None


@fuzz_settings(ci=50)
@given(
    otlp_json_docs(),
    st.sampled_from(["traceId", "spanId", "parentSpanId"]),
    st.one_of(
        st.text(alphabet=HEX + "ABCDEF", max_size=40),
        st.text(alphabet=HEX + "xyzXYZ-+/= \t", max_size=40),
        st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
        st.binary(max_size=40).map(bytes.hex),
        st.text(max_size=40),
    ),
)
def test_otlp_json_ids_of_every_form(doc: dict[str, Any], key: str, value: str) -> None:
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span[key] = value
    result = decode(orjson.dumps(doc), JSON)
    lengths = {"traceId": 32, "spanId": 16, "parentSpanId": 16}
    canonical = _is_hex(value.lower(), lengths[key]) and set(value) != {"0"}
    if key == "parentSpanId":
        canonical = canonical or value in ("", "0" * 16)
    if canonical:
        assert result is not None and span["spanId"].lower() in [s.span_id for s in result.spans]
    accepted = [s for s in result.spans if s.span_id == span["spanId"].lower()] if result else []
    for s in accepted:
        assert_sane(s)
    if result is not None and not accepted:
        assert result.rejected >= 1 and "_id must be" in result.message


# -- the convention mappers ---------------------------------------------------------------------

JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), INT64, FLOATS, TEXT, NUMERIC_TEXT, st.sampled_from(MEANINGFUL)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)


def _usage_like(draw: st.DrawFn) -> Any:
    fields = ["input_tokens", "output_tokens", "prompt_tokens", "completion_tokens", "cost"]
    usage: dict[str, Any] = {k: draw(JSONISH) for k in draw(st.lists(st.sampled_from(fields), max_size=4))}
    if draw(st.booleans()):
        usage["prompt_tokens_details"] = {"cached_tokens": draw(JSONISH)}
    if draw(st.booleans()):
        usage["model"] = draw(st.one_of(TEXT, JSONISH))
    # vLLora sends these as JSON text; sometimes broken JSON text.
    form = draw(st.sampled_from(["object", "text", "broken"]))
    text = (
        orjson.dumps(usage, option=orjson.OPT_NON_STR_KEYS, default=str).decode() if form != "object" else ""
    )
    return usage if form == "object" else text if form == "text" else text[: draw(st.integers(0, len(text)))]


@st.composite
def mapper_attributes(draw: st.DrawFn) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(MAPPED_KEYS), max_size=12, unique=True)):
        attrs[key] = _usage_like(draw) if key in ("usage", "cost", "request") else draw(JSONISH)
    return attrs


@fuzz_settings(ci=200)
@given(mapper_attributes(), st.sampled_from(OPERATIONS), st.integers(0, 2), st.data())
def test_mappers_survive_any_attribute_values(
    attrs: dict[str, Any], operation: str, status: int, data: st.DataObject
) -> None:
    events = []
    if data.draw(st.booleans(), label="exception event"):
        events.append(SpanEvent("exception", 1, {"exception.message": data.draw(JSONISH)}))
    raw = RawSpan(
        trace_id="1" * 32,
        span_id="2" * 16,
        parent_span_id=None,
        name=operation,
        start_time_us=data.draw(st.integers(0, 2**62), label="start"),
        finish_time_us=2**62,
        attributes=attrs,
        events=events,
        status_code=status,
        project_header=data.draw(st.one_of(st.none(), TEXT.filter(bool)), label="project"),
    )
    span = normalize(raw, received_us=1)
    assert_sane(span)
    assert span.project_id and isinstance(span.project_id, str)
    if span.is_error:
        assert span.error_message is None or isinstance(span.error_message, str)
    check(Normalized([span], 0, ""))
