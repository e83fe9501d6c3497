"""Storage: every SQL statement of tracehound lives in this package, one package per backend
(`sqlite/`, `postgres/`) behind the protocols of `protocols.py`. It imports nothing from the web,
MCP or CLI layers, and nothing outside it imports a backend: `open_store` picks one by URL."""

from tracehound.storage.factory import backend_for, open_keys, open_store
from tracehound.storage.protocols import (
    AnalyticsReader,
    Backend,
    KeyStore,
    Maintenance,
    RunReader,
    SpanWriter,
    TraceStore,
)
from tracehound.storage.types import StoreConfig, WriteResult

__all__ = [
    "AnalyticsReader",
    "Backend",
    "KeyStore",
    "Maintenance",
    "RunReader",
    "SpanWriter",
    "StoreConfig",
    "TraceStore",
    "WriteResult",
    "backend_for",
    "open_keys",
    "open_store",
]
