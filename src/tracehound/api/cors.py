"""Cross-origin access (`--cors-origins`), off unless origins are given: Starlette's CORS
middleware around everything an app answers, so that preflights are answered before any key is
asked for, and every actual answer carries the headers, errors (401, 404, 400, 500) included."""

from __future__ import annotations

from collections.abc import Collection

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from tracehound.api.errors import error_response

METHODS = ("GET", "POST", "PUT", "DELETE")
# What vLLora's UI and SDKs send, besides the CORS-safelisted headers.
HEADERS = (
    "content-type",
    "x-project-id",
    "authorization",
    "x-api-key",
    "x-thread-id",
    "x-run-id",
    "x-label",
)


class Cors(CORSMiddleware):
    """A refused preflight answers in the API's one error shape, not Starlette's plain text."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        cors = ("access-control-", "vary")
        kept = {k: v for k, v in response.headers.items() if k.lower().startswith(cors)}
        return error_response(response.status_code, "Bad request", bytes(response.body).decode(), kept)


def allow_cross_origin(app: FastAPI, origins: Collection[str]) -> None:
    """Wrap the whole of `app`, outside even the handler of unexpected errors (Starlette runs that
    one outside every added middleware, so an added CORS middleware would miss 500s), around every
    route it has or gets later (mounts, MCP, /events)."""
    if not origins:
        return
    build = app.build_middleware_stack

    def build_with_cors() -> ASGIApp:
        return Cors(build(), allow_origins=origins, allow_methods=METHODS, allow_headers=HEADERS)

    app.build_middleware_stack = build_with_cors  # type: ignore[method-assign]
