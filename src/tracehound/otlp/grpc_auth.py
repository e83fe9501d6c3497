"""API keys on OTLP/gRPC: an interceptor that checks the call's metadata with the same rules as
the HTTP middleware (tracehound.auth) and hands the caller's principal to the service."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

from tracehound.auth import Authenticator, Principal, Unauthenticated, credentials
from tracehound.storage.errors import StoreUnavailable

# grpc.aio runs the interceptors and then the handler in one contextvars.Context per call.
current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "tracehound_principal", default=None
)


# Generic in grpc's type stubs only.
if TYPE_CHECKING:
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _Interceptor = grpc.aio.ServerInterceptor


def _refuse(
    message: str, code: grpc.StatusCode = grpc.StatusCode.UNAUTHENTICATED
) -> grpc.RpcMethodHandler[Any, Any]:
    async def abort(_: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(abort)


class RequireKey(_Interceptor):
    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        metadata = dict(handler_call_details.invocation_metadata or ())

        def header(name: str) -> str | None:
            value = metadata.get(name)
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

        try:
            principal = self.authenticator.authenticate(credentials(header))
        except Unauthenticated as exc:
            return _refuse(str(exc))
        except StoreUnavailable as exc:
            # The keys cannot be read: transient, the exporter retries.
            return _refuse(str(exc), grpc.StatusCode.UNAVAILABLE)
        current_principal.set(principal)
        return await continuation(handler_call_details)
