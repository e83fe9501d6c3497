"""A run's status, from its rollup and the clock (the same rule on every backend)."""

from __future__ import annotations

from typing import Any, Protocol

from tracehound.model import RunStatus


class DbRow(Protocol):
    """A rollup row read by column name (sqlite3.Row, a psycopg dict row)."""

    def __getitem__(self, key: str, /) -> Any: ...


def run_status(row: DbRow, cutoff_us: int) -> RunStatus:
    """Running: no root yet and a span seen after `cutoff_us` (now - idle timeout); otherwise
    failed with errors, completed without."""
    if row["root_count"] == 0 and row["last_seen_us"] >= cutoff_us:
        return "running"
    return "failed" if row["error_count"] > 0 else "completed"
