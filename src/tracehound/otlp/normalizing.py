"""OTLP bytes to normalised spans, as plain functions that can run in a decoding process.

Decoding and convention mapping are pure Python and hold the GIL; in a separate process they run
beside the writer on another core. What comes back is small: each span as a tuple of its fields,
with attributes, events and resource already rendered as JSON text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracehound.conventions import normalize
from tracehound.model import Span, events_to_json, to_json
from tracehound.otlp.decode import decompress, parse_request, raw_spans
from tracehound.otlp.limits import Limits, check_span_count, truncate_span

_FIELDS = tuple(f.name for f in fields(Span))


@dataclass(slots=True)
class Normalized:
    spans: list[Span]
    rejected: int
    message: str


def normalize_request(request: ExportTraceServiceRequest, project: str | None, limits: Limits) -> Normalized:
    """Raises OtlpError for a request over the limits."""
    check_span_count(request, limits.max_spans_per_request)
    decoded = raw_spans(request, project)
    received_us = int(time.time() * 1_000_000)
    max_value = limits.max_attribute_value_bytes
    spans = []
    for raw in decoded.spans:
        span = normalize(raw, received_us)
        truncate_span(span, max_value)  # after the mappers: typed fields come from whole values
        spans.append(span)
    return Normalized(spans, decoded.rejected, decoded.message)


def normalize_body(
    body: bytes, content_type: str | None, content_encoding: str | None, project: str | None, limits: Limits
) -> Normalized:
    """Raises OtlpError for a request that cannot be read."""
    return normalize_request(
        parse_request(decompress(body, content_encoding, limits.max_decompressed_bytes), content_type),
        project,
        limits,
    )


# -- across a process boundary ------------------------------------------------------------------


def pack(result: Normalized) -> tuple[list[tuple[Any, ...]], int, str]:
    """Spans as field tuples, their dicts rendered once as JSON: far cheaper to pickle."""
    resources: dict[int, str] = {}
    rows = []
    for span in result.spans:
        span.attributes_json = to_json(span.attributes)
        span.events_json = events_to_json(span.events)
        if span.resource:
            text = resources.get(id(span.resource))
            if text is None:
                text = resources[id(span.resource)] = to_json(span.resource)
            span.resource_json = text
        span.attributes, span.events, span.resource = {}, [], {}
        rows.append(tuple(getattr(span, name) for name in _FIELDS))
    return rows, result.rejected, result.message


def unpack(packed: tuple[list[tuple[Any, ...]], int, str]) -> Normalized:
    rows, rejected, message = packed
    return Normalized([Span(*row) for row in rows], rejected, message)


def normalize_body_packed(
    body: bytes, content_type: str | None, content_encoding: str | None, project: str | None, limits: Limits
) -> tuple[list[tuple[Any, ...]], int, str]:
    return pack(normalize_body(body, content_type, content_encoding, project, limits))


def normalize_request_packed(
    request_bytes: bytes, project: str | None, limits: Limits
) -> tuple[list[tuple[Any, ...]], int, str]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(request_bytes)
    return pack(normalize_request(request, project, limits))
