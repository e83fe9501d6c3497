"""Per-request ingest limits, applied where requests are decoded (a decoding process or thread):
the decompressed size, the spans one request may carry, and the size of attribute values.

Long values are cut after the convention mappers have read them, so that typed fields parsed from
JSON inside a string attribute (vLLora's `request` and `usage`: model, tokens, cost) come from the
whole value; only the stored copy is shortened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracehound.config import Settings
from tracehound.model import Span
from tracehound.otlp.decode import OtlpError

# The span attribute that records what was cut: {attribute key: original size in UTF-8 bytes}.
TRUNCATED_KEY = "tracehound.truncated_attributes"
_DEFAULTS = Settings()


@dataclass(frozen=True, slots=True)
class Limits:
    max_decompressed_bytes: int = _DEFAULTS.max_decompressed_bytes
    max_spans_per_request: int = _DEFAULTS.max_spans_per_request
    max_attribute_value_bytes: int = _DEFAULTS.max_attribute_value_bytes

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            max_decompressed_bytes=settings.max_decompressed_bytes,
            max_spans_per_request=settings.max_spans_per_request,
            max_attribute_value_bytes=settings.max_attribute_value_bytes,
        )


def check_span_count(request: ExportTraceServiceRequest, limit: int) -> None:
    """Refuse the whole request: OTLP's partial success cannot ask for the rest to be resent."""
    count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    if count > limit:
        raise OtlpError(
            413, f"the request carries {count} spans, more than the limit of {limit}: export smaller batches"
        )


def cut_text(text: str, max_bytes: int) -> tuple[str, int] | None:
    """`text` cut to at most `max_bytes` of UTF-8 on a character boundary, with its original size
    in bytes; None when it fits."""
    if len(text) <= max_bytes // 4:  # a character is at most 4 bytes: it fits, without encoding
        return None
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return None
    return data[:max_bytes].decode("utf-8", "ignore"), len(data)


def _cut_value(value: Any, max_bytes: int) -> tuple[str, int] | None:
    if isinstance(value, str):
        return cut_text(value, max_bytes)
    # An array or key/value list is measured as the JSON it is stored as, and kept, when too
    # long, as the beginning of that JSON.
    data = orjson.dumps(value, default=str)
    if len(data) <= max_bytes:
        return None
    return data[:max_bytes].decode("utf-8", "ignore"), len(data)


def _cut_attributes(attributes: dict[str, Any], max_bytes: int, prefix: str, cut: dict[str, int]) -> None:
    quick = max_bytes // 4
    for key, value in attributes.items():
        kind = type(value)
        if (kind is str and len(value) <= quick) or kind not in (str, list, dict):
            continue
        shortened = _cut_value(value, max_bytes)
        if shortened is not None:
            attributes[key], cut[prefix + key] = shortened


def truncate_span(span: Span, max_bytes: int) -> None:
    """Cut attribute values (the span's and its events') longer than `max_bytes`, and the free
    text copied from them, and record the cuts in the span's `tracehound.truncated_attributes`."""
    cut: dict[str, int] = {}
    _cut_attributes(span.attributes, max_bytes, "", cut)
    for i, event in enumerate(span.events):
        _cut_attributes(event.attributes, max_bytes, f"events[{i}].", cut)
    if span.status_message is not None and (status := cut_text(span.status_message, max_bytes)):
        span.status_message, cut["status.message"] = status
    # Copies of attributes already recorded above.
    if span.error_message is not None and (error := cut_text(span.error_message, max_bytes)):
        span.error_message = error[0]
    if span.title is not None and (title := cut_text(span.title, max_bytes)):
        span.title = title[0]
    if cut:
        span.attributes[TRUNCATED_KEY] = cut
