"""Where a command's answers come from: a running server (`--url`) or the database file
(`--data-dir`, read-only, beside a running server or none). Failures become one line on stderr
and an exit code: 1 when the request was refused (bad input, unknown id), 2 when tracehound could
not be reached or the database could not be opened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from tracehound.client import Params, RequestFailed, TraceClient
from tracehound.config import Settings
from tracehound.storage import StoreConfig
from tracehound.storage.errors import StoreError, StoreMissing

T = TypeVar("T")

# soft_wrap: an error stays one line whatever the terminal's width.
err_console = Console(stderr=True, soft_wrap=True)


@dataclass(frozen=True)
class Source:
    url: str | None
    data_dir: Path
    project: str | None
    idle_timeout_s: float = 300.0
    # Sent to a server (--url); the database file needs none: reading it is the access check.
    api_key: str | None = None
    # Unset: the SQLite file under data_dir.
    database_url: str | None = None


def store_config(data_dir: Path, database_url: str | None) -> StoreConfig:
    """What an administrative command (check, keys, retention) opens."""
    return StoreConfig(url=database_url, data_dir=data_dir.expanduser())


def fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


@asynccontextmanager
async def open_client(source: Source) -> AsyncIterator[TraceClient]:
    if source.url:
        client = TraceClient.remote(source.url, source.project, api_key=source.api_key)
        try:
            yield client
        finally:
            await client.aclose()
        return
    settings = Settings(
        data_dir=source.data_dir, database_url=source.database_url, idle_timeout_s=source.idle_timeout_s
    )
    try:
        client, store = TraceClient.local(settings, source.project)
    except StoreMissing as exc:
        raise fail(f"{exc}; start `tracehound serve` first, or pass --url", 2) from None
    except StoreError as exc:
        raise fail(str(exc), 2) from None
    try:
        yield client
    finally:
        await client.aclose()
        store.close()


def run(source: Source, work: Callable[[TraceClient], Awaitable[T]]) -> T:
    async def go() -> T:
        async with open_client(source) as client:
            return await work(client)

    try:
        return asyncio.run(go())
    except RequestFailed as exc:
        raise fail(str(exc), 2 if exc.status == 0 else 1) from None


def get(source: Source, path: str, params: Params | None = None) -> Any:
    """One API answer."""

    async def one(client: TraceClient) -> Any:
        return await client.get(path, params)

    return run(source, one)
