"""Storage: every SQL statement of tracehound lives in this package. It imports nothing from
the web, MCP or CLI layers."""

from tracehound.storage.base import TraceStore
from tracehound.storage.sqlite_store import SqliteStore
from tracehound.storage.sqlite_writer import WriteResult

__all__ = ["SqliteStore", "TraceStore", "WriteResult"]
