"""The SQLite backend as `factory.py` sees it: the store, and the administrative commands, which
work on the file beside a running server (each takes only the locks its writes need)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tracehound.storage.errors import StoreMissing
from tracehound.storage.sqlite import retention as sqlite_retention
from tracehound.storage.sqlite.check import check
from tracehound.storage.sqlite.keys import SqliteKeyStore
from tracehound.storage.sqlite.schema import check_current
from tracehound.storage.sqlite.store import DB_FILENAME, SqliteStore, connect, lock_data_dir
from tracehound.storage.types import CheckReport, Progress, StoreConfig


def _data_dir(config: StoreConfig) -> Path:
    """`sqlite:///path/to/dir` names the data directory; without a URL, `config.data_dir`."""
    url = config.url or ""
    _, _, path = url.partition(":")
    path = path.removeprefix("//")
    return Path(path or config.data_dir).expanduser()


def _existing(config: StoreConfig) -> Path:
    path = _data_dir(config) / DB_FILENAME
    if not path.is_file():
        raise StoreMissing(f"no tracehound database at {path}")
    return path


class SqliteBackend:
    def open_store(self, config: StoreConfig, *, readonly: bool = False) -> SqliteStore:
        return SqliteStore(
            _data_dir(config),
            idle_timeout_s=config.idle_timeout_s,
            clock=config.clock,
            readonly=readonly,
            stats_cache_bytes=config.stats_cache_bytes,
        )

    def open_keys(self, config: StoreConfig, *, create: bool = False) -> SqliteKeyStore:
        return SqliteKeyStore(_data_dir(config), create=create)

    def check(
        self, config: StoreConfig, *, repair: bool = False, progress: Progress | None = None
    ) -> CheckReport:
        """Compare the rollups with the spans (read-only, beside a running server), or repair
        them (which needs the data directory to itself)."""
        path = _existing(config)
        lock = lock_data_dir(path.parent) if repair else None
        try:
            with tempfile.TemporaryDirectory(prefix="tracehound-check-") as scratch:
                return check(path, Path(scratch) / "rebuilt.db", fix=repair, progress=progress)
        finally:
            if lock is not None:
                lock.close()

    def set_retention(
        self, config: StoreConfig, project_id: str, days: int | None, *, clear: bool = False
    ) -> None:
        """Beside a running server: the single-writer lock guards span de-duplication, which a
        settings row cannot disturb, so this writes through its own short transaction and
        SQLite's file lock."""
        conn = connect(_existing(config), readonly=False)
        try:
            check_current(conn)
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                if clear:
                    sqlite_retention.clear_policy(conn, project_id)
                else:
                    sqlite_retention.set_policy(conn, project_id, days)
        finally:
            conn.close()

    def retention_policies(self, config: StoreConfig) -> dict[str, int | None]:
        conn = connect(_existing(config), readonly=True)
        try:
            check_current(conn)
            return sqlite_retention.policies(conn)
        finally:
            conn.close()


SQLITE = SqliteBackend()
