"""What the handlers need, carried on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from tracehound.auth import Authenticator
from tracehound.config import Settings
from tracehound.ingest import Ingestor
from tracehound.storage import TraceStore


@dataclass(frozen=True, slots=True)
class AppContext:
    store: TraceStore
    settings: Settings
    # None when the API only reads, in-process for the CLI or `tracehound mcp`: no OTLP routes.
    ingestor: Ingestor | None = None
    # None where no key is asked for: in-process apps over the database file, whose callers
    # already have the file itself.
    auth: Authenticator | None = None


def ctx(request: Request) -> AppContext:
    context: AppContext = request.app.state.ctx
    return context
