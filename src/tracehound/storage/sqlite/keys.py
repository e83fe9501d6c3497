"""API keys in the SQLite file, on a connection of their own.

Key management does not go through the ingest writer (which a running server holds, with the
data directory's lock file): `tracehound keys` must work beside a running server. Key writes are
rare and tiny, so they rely on SQLite's own write lock and busy timeout instead, between the ingest
writer's transactions. Spans never go through this connection, so the writer's assumption that it
is the only process inserting spans still holds.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from tracehound.storage.errors import SchemaOutdated, StoreLocked, StoreMissing
from tracehound.storage.sqlite.schema import check_current, migrate
from tracehound.storage.sqlite.store import DB_FILENAME, connect, lock_data_dir
from tracehound.storage.types import KeyRecord


def _open_migrated(data_dir: Path) -> sqlite3.Connection:
    """Create or upgrade the file when no server holds it; a running server has already."""
    path = data_dir / DB_FILENAME
    try:
        lock = lock_data_dir(data_dir)
    except StoreLocked:
        conn = connect(path, readonly=False)
        check_current(conn)
        return conn
    try:
        conn = connect(path, readonly=False)
        migrate(conn)
        return conn
    finally:
        lock.close()


class SqliteKeyStore:
    """`create=True` (`keys create`) makes the data directory and database when missing, so
    keys can exist before the first `tracehound serve`; otherwise a missing file means no keys."""

    def __init__(self, data_dir: Path, *, create: bool = False) -> None:
        path = data_dir / DB_FILENAME
        if not path.is_file() and not create:
            raise StoreMissing(f"no tracehound database at {path}")
        if create:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._conn = _open_migrated(data_dir)
        else:
            self._conn = connect(path, readonly=False)
            try:
                check_current(self._conn)
            except SchemaOutdated:
                self._conn.close()
                self._conn = _open_migrated(data_dir)
        # The server reads on the event loop and records last use on another thread.
        self._mutex = threading.Lock()

    def version(self) -> int:
        """Moves on every create, revoke and delete: a cache of the keys is current while the
        version it was read at is."""
        with self._mutex:
            (version,) = self._conn.execute("SELECT version FROM api_key_state WHERE id = 1").fetchone()
        return int(version)

    def load(self) -> tuple[int, list[KeyRecord]]:
        """Every key, revoked ones included, and the version they were read at, in one snapshot."""
        with self._mutex, self._conn:
            self._conn.execute("BEGIN")
            (version,) = self._conn.execute("SELECT version FROM api_key_state WHERE id = 1").fetchone()
            scopes: dict[str, list[str]] = {}
            for key_id, project in self._conn.execute(
                "SELECT key_id, project_id FROM api_key_projects ORDER BY key_id, project_id"
            ):
                scopes.setdefault(key_id, []).append(project)
            rows = self._conn.execute(
                """SELECT id, name, key_hash, all_projects, created_at_us, last_used_at_us,
                    revoked_at_us FROM api_keys ORDER BY created_at_us, id"""
            ).fetchall()
        records = [
            KeyRecord(
                id=r["id"],
                name=r["name"],
                key_hash=r["key_hash"],
                projects=tuple(scopes.get(r["id"], ())),
                all_projects=bool(r["all_projects"]),
                created_at_us=r["created_at_us"],
                last_used_at_us=r["last_used_at_us"],
                revoked_at_us=r["revoked_at_us"],
            )
            for r in rows
        ]
        return int(version), records

    def add(self, record: KeyRecord) -> bool:
        """Store a new key; False when its id is taken (the caller draws another)."""
        with self._mutex, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    """INSERT INTO api_keys (id, name, key_hash, all_projects, created_at_us)
                        VALUES (?, ?, ?, ?, ?)""",
                    (record.id, record.name, record.key_hash, int(record.all_projects), record.created_at_us),
                )
            except sqlite3.IntegrityError:
                return False
            self._conn.executemany(
                "INSERT INTO api_key_projects (key_id, project_id) VALUES (?, ?)",
                [(record.id, p) for p in record.projects],
            )
            self._bump()
        return True

    def revoke(self, key_id: str, at_us: int) -> bool:
        """Revoke a key; False when no active key has this id."""
        with self._mutex, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            done = self._conn.execute(
                "UPDATE api_keys SET revoked_at_us = ? WHERE id = ? AND revoked_at_us IS NULL",
                (at_us, key_id),
            ).rowcount
            if done:
                self._bump()
        return bool(done)

    def delete_revoked(self, key_id: str) -> bool:
        """Forget a revoked key; False when no revoked key has this id."""
        with self._mutex, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            done = self._conn.execute(
                "DELETE FROM api_keys WHERE id = ? AND revoked_at_us IS NOT NULL", (key_id,)
            ).rowcount
            if done:
                self._conn.execute("DELETE FROM api_key_projects WHERE key_id = ?", (key_id,))
                self._bump()
        return bool(done)

    def record_use(self, used: dict[str, int]) -> None:
        """Set keys' last use (µs); this does not change which keys are valid, so no version."""
        with self._mutex, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "UPDATE api_keys SET last_used_at_us = ? WHERE id = ?",
                [(at, key_id) for key_id, at in used.items()],
            )

    def _bump(self) -> None:
        self._conn.execute("UPDATE api_key_state SET version = version + 1 WHERE id = 1")

    def close(self) -> None:
        with self._mutex:
            self._conn.close()
