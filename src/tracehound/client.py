"""The API as one async client, for the CLI and the MCP tools: over HTTP to a running server
(`--url`), or in-process over the database file, through the same FastAPI app. Both paths run the
same handlers, so a command or a tool answers exactly what the REST endpoint answers, with the same
validation and the same errors (Datasette's internal client works the same way)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from tracehound.config import Settings

Params = Mapping[str, str | int | float | bool | Sequence[str] | None]

# The in-process app is never on the network; this host only fills the URL.
_LOCAL_BASE = "http://tracehound.local"


class RequestFailed(Exception):
    """An answer in the API's error shape, or no answer at all (status 0)."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(f"{error}: {message}" if message and message != error else error)
        self.status = status
        self.error = error
        self.message = message


def query_params(params: Params) -> dict[str, str]:
    """Drop unset values; lists become the API's CSV, booleans its `true`/`false`."""
    out: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            out[name] = str(value)
        elif value:
            out[name] = ",".join(value)
    return out


class TraceClient:
    def __init__(self, http: httpx.AsyncClient, project: str | None = None) -> None:
        self._http = http
        self.project = project
        self.where = str(http.base_url)

    @classmethod
    def remote(
        cls, url: str, project: str | None = None, timeout_s: float = 60.0, api_key: str | None = None
    ) -> TraceClient:
        # Authorization, rather than x-api-key: proxies and HTTP logs know to hide it.
        headers = {"authorization": f"Bearer {api_key}"} if api_key else None
        return cls(httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout_s, headers=headers), project)

    @classmethod
    def in_process(cls, app: Any, project: str | None = None) -> TraceClient:
        transport = httpx.ASGITransport(app=app)
        return cls(httpx.AsyncClient(transport=transport, base_url=_LOCAL_BASE, timeout=None), project)

    @classmethod
    def local(cls, settings: Settings, project: str | None = None) -> tuple[TraceClient, Any]:
        """A client over the database `settings` names, read-only, beside any running
        server. Returns the client and the store, which the caller closes."""
        from tracehound.api.app import create_app
        from tracehound.api.context import AppContext
        from tracehound.storage import open_store

        store = open_store(settings.store_config(), readonly=True)
        client = cls.in_process(create_app(AppContext(store=store, settings=settings)), project)
        client.where = store.where
        return client, store

    async def get(
        self,
        path: str,
        params: Params | None = None,
        project: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """`headers` go with this request only (the MCP caller's key)."""
        headers = dict(headers or {})
        if project or self.project:
            headers["x-project-id"] = project or self.project or ""
        try:
            response = await self._http.get(path, params=query_params(params or {}), headers=headers)
        except httpx.HTTPError as exc:
            raise RequestFailed(0, "Unreachable", f"{self.where}: {exc}") from None
        if response.status_code >= 400:
            try:
                body = response.json()
                error, message = str(body["error"]), str(body.get("message", ""))
            except (ValueError, KeyError, TypeError):
                error, message = f"HTTP {response.status_code}", response.text[:200]
            raise RequestFailed(response.status_code, error, message)
        return response.json()

    async def aclose(self) -> None:
        await self._http.aclose()
