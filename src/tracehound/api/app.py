"""The ASGI apps: the API (port 9090) and the OTLP/HTTP receiver (port 4318)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tracehound import __version__
from tracehound.api import (
    cors,
    errors,
    routes_bottlenecks,
    routes_groups,
    routes_meta,
    routes_metrics,
    routes_otlp,
    routes_runs,
    routes_spans,
    routes_stats,
    routes_summary,
    routes_threads,
    routes_ui,
)
from tracehound.api.auth import RequireKey
from tracehound.api.context import AppContext
from tracehound.api.params import CamelCaseQuery

DESCRIPTION = """Trace analytics for AI agents. vLLora-compatible trace API (runs, spans, groups,
threads, labels) plus computed run fields and a status filter. Select the project with the
`X-Project-Id` header (default: the API key's only project, else `default`). When API keys are
configured, send one as `Authorization: Bearer <key>` or `X-Api-Key`. List parameters also accept
camelCase names."""


def create_app(context: AppContext) -> FastAPI:
    app = FastAPI(title="tracehound", version=__version__, description=DESCRIPTION)
    app.state.ctx = context
    errors.install(app)
    # /spans/summary before /spans: no /spans/{...} route may shadow it.
    for module in (routes_runs, routes_summary, routes_spans, routes_groups, routes_threads, routes_meta):
        app.include_router(module.router)
    if context.ingestor is not None:
        app.include_router(routes_otlp.router)
    app.include_router(routes_metrics.router)
    app.include_router(routes_bottlenecks.router)
    app.include_router(routes_stats.router)
    app.include_router(routes_ui.router)
    app.add_middleware(CamelCaseQuery)
    _document_errors_as_served(app)
    _require_keys(app, context)
    cors.allow_cross_origin(app, context.settings.allowed_origins)
    return app


def _document_errors_as_served(app: FastAPI) -> None:
    """FastAPI documents a 422 for every operation with parameters, but a malformed parameter
    gets a 400 in the one error shape (api/errors.py), which each route documents: drop the 422s
    and the schemas only they use, so that the schema promises what the server answers."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = generate()  # cached by FastAPI as app.openapi_schema
        for operations in doc["paths"].values():
            for operation in operations.values():
                operation["responses"].pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            doc.get("components", {}).get("schemas", {}).pop(name, None)
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def create_otlp_app(context: AppContext) -> FastAPI:
    app = FastAPI(title="tracehound OTLP/HTTP receiver", version=__version__, docs_url=None, redoc_url=None)
    app.state.ctx = context
    errors.install(app)
    app.include_router(routes_otlp.router)
    app.include_router(routes_meta.router, include_in_schema=False)
    _require_keys(app, context)
    # Browser OTLP exporters (OpenTelemetry JS) post here cross-origin too.
    cors.allow_cross_origin(app, context.settings.allowed_origins)
    return app


def _require_keys(app: FastAPI, context: AppContext) -> None:
    # Added last, so it runs first: nothing answers before the key is checked.
    if context.auth is not None:
        app.add_middleware(RequireKey, authenticator=context.auth)
