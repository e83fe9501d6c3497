"""API keys on the HTTP apps: one ASGI middleware in front of every route of the API port (the
REST API, /v1/traces and MCP at /mcp) and of the OTLP/HTTP port. The rules are in
tracehound.auth; this carries headers in and answers 401 in the API's error shape."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from tracehound.api.errors import error_response, unavailable_response
from tracehound.auth import Authenticator, Principal, Unauthenticated, credentials
from tracehound.storage.errors import StoreUnavailable

# Liveness probes (load balancers, orchestrators) carry no key; /health tells nothing about data.
OPEN_PATHS = frozenset({"/health"})
CHALLENGE = {"www-authenticate": 'Bearer realm="tracehound"'}


class RequireKey:
    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            principal = self.authenticator.authenticate(credentials(headers.get))
        except Unauthenticated as exc:
            if scope["type"] == "websocket":
                # 1008: policy violation, the WebSocket form of a refusal.
                await send({"type": "websocket.close", "code": 1008, "reason": str(exc)})
                return
            response = error_response(401, "Unauthorized", str(exc), headers=CHALLENGE)
            await response(scope, receive, send)
            return
        except StoreUnavailable as exc:
            # Raised here, outside the app, no exception handler would see it.
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1013, "reason": str(exc)})
                return
            await unavailable_response(exc)(scope, receive, send)
            return
        # A copy, never the server's shared state: the principal belongs to this request only.
        scope = {**scope, "state": {**scope.get("state", {}), "principal": principal}}
        await self.app(scope, receive, send)


def principal(request: Request) -> Principal | None:
    """The request's key; None when keys are off (or on an in-process app that reads the file)."""
    found: Principal | None = request.scope.get("state", {}).get("principal")
    return found
