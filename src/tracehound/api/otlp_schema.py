"""How `POST /v1/traces` is documented in the OpenAPI schema. The handler reads the raw body
(protobuf or OTLP/JSON, maybe gzip) and answers in the request's encoding, so FastAPI cannot
derive either side from its signature; this module writes them down.

The JSON schema describes what the decoder accepts (otlp/decode.py): protobuf's JSON mapping,
with ids in hex as OTLP/JSON writes them, and `null` anywhere read as absent, as that mapping
does. Values below the first level of an attribute are left open ("an AnyValue"), since they
nest without limit.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tracehound.api.schemas import ErrorBody


def _nullable_fields(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every object property (at any depth) also allowed to be null."""
    out = {k: _nullable_fields(v) if isinstance(v, dict) else v for k, v in schema.items()}
    if "properties" in schema:
        out["properties"] = {
            name: {"anyOf": [_nullable_fields(sub), {"type": "null"}]}
            for name, sub in schema["properties"].items()
        }
    return out


_BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}

# int64 and uint64 fields: protobuf's JSON mapping writes them as decimal strings, and reads
# numbers too.
_INT64: dict[str, Any] = {"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^-?[0-9]+$"}]}

_ANY_VALUE: dict[str, Any] = {
    "type": "object",
    "description": "One of the keys; arrayValue and kvlistValue nest further AnyValues",
    "properties": {
        "stringValue": {"type": "string"},
        "boolValue": {"type": "boolean"},
        "intValue": _INT64,
        "doubleValue": {"type": "number"},
        "bytesValue": {"type": "string", "description": "base64"},
        "arrayValue": {
            "type": "object",
            "properties": {"values": {"type": "array", "items": {"type": "object"}}},
        },
        "kvlistValue": {
            "type": "object",
            "properties": {"values": {"type": "array", "items": {"type": "object"}}},
        },
    },
}

_ATTRIBUTES: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"key": {"type": "string"}, "value": _ANY_VALUE},
    },
}

_ENUM = {"oneOf": [{"type": "integer"}, {"type": "string"}], "description": "The number or the enum name"}

_SPAN: dict[str, Any] = {
    "type": "object",
    "properties": {
        "traceId": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$", "description": "16 bytes in hex"},
        "spanId": {"type": "string", "pattern": "^[0-9a-fA-F]{16}$", "description": "8 bytes in hex"},
        "parentSpanId": {
            "type": "string",
            "pattern": "^([0-9a-fA-F]{16})?$",
            "description": "Empty for a root",
        },
        "traceState": {"type": "string"},
        "name": {"type": "string"},
        "kind": _ENUM,
        "startTimeUnixNano": _INT64,
        "endTimeUnixNano": _INT64,
        "attributes": _ATTRIBUTES,
        "events": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"timeUnixNano": _INT64, "name": {"type": "string"}, "attributes": _ATTRIBUTES},
            },
        },
        "status": {"type": "object", "properties": {"code": _ENUM, "message": {"type": "string"}}},
    },
    "description": "A span without a valid traceId and spanId is rejected alone, in partialSuccess",
}

_EXPORT_REQUEST: dict[str, Any] = _nullable_fields(
    {
        "type": "object",
        "description": "An OTLP ExportTraceServiceRequest in OTLP/JSON",
        "properties": {
            "resourceSpans": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "resource": {"type": "object", "properties": {"attributes": _ATTRIBUTES}},
                        "scopeSpans": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "scope": {"type": "object", "properties": {"name": {"type": "string"}}},
                                    "spans": {"type": "array", "items": _SPAN},
                                },
                            },
                        },
                    },
                },
            }
        },
    }
)


class OtlpErrorBody(ErrorBody):
    code: int = Field(description="google.rpc.Code: 3 invalid argument, 8 too large, 14 try again")


REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Send `Content-Encoding: gzip` (or deflate) to compress it",
        "content": {"application/x-protobuf": _BINARY, "application/json": {"schema": _EXPORT_REQUEST}},
    }
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": f"{description}. A google.rpc.Status for a protobuf request, else JSON",
        "model": OtlpErrorBody,
        "content": {"application/x-protobuf": _BINARY},
    }


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Stored; rejected spans are counted in partialSuccess. A protobuf "
        "ExportTraceServiceResponse for a protobuf request, else JSON",
        "content": {"application/x-protobuf": _BINARY},
    },
    400: _error("Malformed body, or every span rejected"),
    413: _error("The body, or its decompressed size, is over the limit"),
    403: _error("The API key may not write to this project"),
    415: _error("Unsupported Content-Type or Content-Encoding"),
    503: _error("Try again, after Retry-After"),
}
