"""Convention mapping in one place: `normalize` turns a decoded OTLP span into a typed `Span`.

The generic rules of design.md (project, run, thread fallbacks, what counts as an error, cost
provenance) live here; each convention module only knows its own attribute names.
"""

from __future__ import annotations

from tracehound.conventions import genai, openinference, openllmetry, vllora
from tracehound.conventions.base import Mapper, as_str
from tracehound.conventions.pricing import price_span
from tracehound.conventions.semantic import scan, texts_to_scan
from tracehound.model import STATUS_ERROR, RawSpan, Span

DEFAULT_PROJECT = "default"

# Most specific first: a mapper only fills fields that earlier ones left unset.
MAPPERS: tuple[Mapper, ...] = (
    vllora.MAPPER,
    openinference.MAPPER,
    openllmetry.MAPPER,
    genai.MAPPER,
)


def resolve_project(raw: RawSpan) -> str:
    """Header first, then the `vllora.project_id` attribute, else `default`: never drop a span
    because its project is unknown."""
    return raw.project_header or as_str(raw.attributes.get("vllora.project_id")) or DEFAULT_PROJECT


def normalize(raw: RawSpan, received_us: int) -> Span:
    span = Span(
        project_id=resolve_project(raw),
        trace_id=raw.trace_id,
        span_id=raw.span_id,
        parent_span_id=raw.parent_span_id,
        run_id="",
        thread_id=None,
        operation_name=raw.name,
        start_time_us=raw.start_time_us,
        finish_time_us=raw.finish_time_us,
        status_code=raw.status_code,
        status_message=raw.status_message or None,
        attributes=raw.attributes,
        events=raw.events,
        resource=raw.resource,
        scope_name=raw.scope_name,
        received_us=received_us,
    )
    for mapper in MAPPERS:
        if mapper.apply(raw, span) and span.convention is None:
            span.convention = mapper.name
    if not span.run_id:
        span.run_id = raw.trace_id
        span.rules["run_id"] = "trace_id"
    _apply_error(raw, span)
    price_span(span)
    # Here, on the values as received (before any rendering or truncation for storage), so the
    # span summary never parses a conversation's attribute JSON again.
    span.findings, span.texts_scanned = scan(span, raw.attributes, *texts_to_scan(span))
    return span


def _apply_error(raw: RawSpan, span: Span) -> None:
    """Error span: OTLP status ERROR, an `error` attribute (vLLora) or an `exception` event.
    Message: the `error` attribute, else the status message, else the exception message."""
    error_attr = raw.attributes.get("error")
    exception_message: str | None = None
    has_exception = False
    for event in raw.events:
        if event.name == "exception":
            has_exception = True
            exception_message = as_str(event.attributes.get("exception.message")) or as_str(
                event.attributes.get("exception.type")
            )
            break
    has_error_attr = error_attr is not None and error_attr is not False and error_attr != ""
    span.is_error = raw.status_code == STATUS_ERROR or has_error_attr or has_exception
    if not span.is_error:
        return
    if has_error_attr:
        span.error_message = error_attr if isinstance(error_attr, str) else str(error_attr)
        span.rules["error_message"] = "error"
    elif raw.status_message:
        span.error_message = raw.status_message
        span.rules["error_message"] = "status.message"
    elif exception_message:
        span.error_message = exception_message
        span.rules["error_message"] = "exception.message"
