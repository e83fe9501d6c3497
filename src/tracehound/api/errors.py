"""One error shape for every endpoint: `{"error": <what>, "message": <details>}` with a 4xx/5xx
status. It is vLLora's own shape, so its clients read our errors too."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from tracehound.api.responses import JSONResponse
from tracehound.auth import Forbidden, NotVisible
from tracehound.storage.errors import StoreUnavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str | None = None) -> None:
        super().__init__(message or error)
        self.status = status
        self.error = error
        self.message = message or error


def error_response(
    status: int, error: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


# Seconds a client waits before retrying while the database is unreachable.
UNAVAILABLE_RETRY_AFTER_S = 2


def unavailable_response(exc: StoreUnavailable) -> JSONResponse:
    """The one answer for a database that went away (the store reconnects by itself)."""
    return error_response(
        503, "Service unavailable", str(exc), headers={"retry-after": str(UNAVAILABLE_RETRY_AFTER_S)}
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "Bad request", message)


def _describe(errors: Any) -> str:
    parts = []
    for e in errors:
        loc = [str(x) for x in e.get("loc", ()) if x not in ("query", "body", "path", "header")]
        where = ".".join(loc) or "request"
        got = e.get("input")
        suffix = f" (got {got!r})" if got is not None and not isinstance(got, dict | list) else ""
        parts.append(f"{where}: {e.get('msg', 'invalid')}{suffix}")
    return "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.message)

    @app.exception_handler(NotVisible)
    async def _not_visible(_: Request, exc: NotVisible) -> JSONResponse:
        return error_response(404, "Not found", str(exc))

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return error_response(403, "Forbidden", str(exc))

    @app.exception_handler(StoreUnavailable)
    async def _unavailable(_: Request, exc: StoreUnavailable) -> JSONResponse:
        log.warning("answered 503: %s", exc)
        return unavailable_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, "Invalid parameter", _describe(exc.errors()))

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        error = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        return error_response(exc.status_code, error, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "Internal error", "the server failed to answer; see its log")
