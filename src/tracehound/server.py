"""`tracehound serve`: the API, the OTLP/HTTP and OTLP/gRPC receivers in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import uvicorn
from anyio import to_thread

from tracehound.api.app import create_app, create_otlp_app
from tracehound.api.context import AppContext
from tracehound.auth import Authenticator, is_loopback
from tracehound.config import Settings
from tracehound.ingest import Ingestor, tune_gc
from tracehound.mcp_server.server import mount as mount_mcp
from tracehound.otlp.grpc_server import create_grpc_server
from tracehound.retention import Sweeper
from tracehound.storage import open_keys, open_store

log = logging.getLogger("tracehound")


class _Server(uvicorn.Server):
    """Signals are handled once for all three servers, not by each uvicorn server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("start-up task failed: %s", task.exception())


class InsecureBind(RuntimeError):
    pass


def _open_auth(settings: Settings) -> Authenticator:
    """The key checker, and the start-up rule: with no key, serve loopback only unless told
    `--insecure`. Keys created later turn checking on at once; none is ever turned off."""
    config = settings.store_config()
    auth = Authenticator(open_keys(config), open_keys(config))
    if auth.enabled() or is_loopback(settings.host):
        return auth
    if not settings.insecure:
        auth.close()
        raise InsecureBind(
            f"refusing to serve on {settings.host} without API keys: anyone who can reach it could "
            "read and write every project. Create a key first (`tracehound keys create --project P`), "
            "bind 127.0.0.1, or pass --insecure"
        )
    log.warning(
        "serving on %s with no API keys (--insecure): anyone who can reach these ports can read "
        "and write every project",
        settings.host,
    )
    return auth


async def serve(settings: Settings, on_ready: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
    store = open_store(settings.store_config())
    try:
        auth = _open_auth(settings)
    except BaseException:
        store.close()
        raise
    ingestor = Ingestor(store, settings)
    context = AppContext(store=store, ingestor=ingestor, settings=settings, auth=auth)
    sweeper = Sweeper(store, settings.retention_days, settings.retention_interval_s)
    level = settings.log_level.lower()
    api_app = create_app(context)
    mcp_sessions = mount_mcp(api_app, settings.host)
    servers = [
        _Server(
            uvicorn.Config(
                api_app,
                host=settings.host,
                port=settings.port,
                log_level=level,
                lifespan="off",
                access_log=level == "debug",
            )
        ),
        _Server(
            uvicorn.Config(
                create_otlp_app(context),
                host=settings.host,
                port=settings.otlp_http_port,
                log_level=level,
                lifespan="off",
                access_log=level == "debug",
            )
        ),
    ]
    # A few worker threads, each with its own read connection whose cache stays warm, rather
    # than anyio's default of 40.
    to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
    grpc_server = create_grpc_server(
        ingestor, settings.host, settings.otlp_grpc_port, settings.max_request_bytes, auth
    )
    await grpc_server.start()
    exits = contextlib.AsyncExitStack()
    await exits.enter_async_context(mcp_sessions)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tune_gc()
    sweeper.start()
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    try:
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.05)
        if all(s.started for s in servers):
            log.info(
                "tracehound ready: API http://%s:%d, OTLP/HTTP :%d, OTLP/gRPC :%d, data %s",
                settings.host,
                settings.port,
                settings.otlp_http_port,
                settings.otlp_grpc_port,
                store.where,
            )
            if on_ready is not None:
                ready_task: asyncio.Task[None] = loop.create_task(on_ready())
                ready_task.add_done_callback(_log_failure)
            waiter = asyncio.create_task(stop.wait())
            await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        log.info("tracehound shutting down")
        await grpc_server.stop(grace=5)
        for s in servers:
            s.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        await exits.aclose()
        sweeper.stop()
        ingestor.close()
        auth.close()
        store.close()
    failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception()]
    if failed or not all(s.started for s in servers):
        raise SystemExit("tracehound could not start: is a port already in use?")
