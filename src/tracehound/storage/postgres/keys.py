"""API keys in PostgreSQL, with the interface of the SQLite KeyStore (what auth.py uses).

`api_key_state.version` moves in the same transaction as every change of a key's validity, and
`version()` reads it from the database on each call: a server caching the keys notices a key
created or revoked through any process (another `serve`, `tracehound keys`) on its next request.
"""

from __future__ import annotations

from psycopg import errors

from tracehound.storage.errors import StoreMissing
from tracehound.storage.postgres.connect import Pool, describe, startup
from tracehound.storage.postgres.schema import migrate, read_version
from tracehound.storage.types import KeyRecord


class PostgresKeyStore:
    """`create=True` (`keys create`) creates the schema in an empty database, so that keys can
    exist before the first `tracehound serve`; otherwise a database without it means no keys."""

    def __init__(self, url: str, *, create: bool = False, statement_timeout_ms: int = 30_000) -> None:
        with startup(url) as conn:
            if read_version(conn) == 0 and not create:
                raise StoreMissing(f"no tracehound database at {describe(url)}")
            # Migrations serialise themselves (an advisory lock), so this is safe beside a server.
            migrate(conn)
        self._pool = Pool(url, size=2, statement_timeout_ms=statement_timeout_ms)

    def version(self) -> int:
        """Moves on every create, revoke and delete: a cache of the keys is current while the
        version it was read at is."""
        with self._pool.connection() as conn:
            row = conn.execute("SELECT version FROM api_key_state WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def load(self) -> tuple[int, list[KeyRecord]]:
        """Every key, revoked ones included, and the version they were read at, in one snapshot."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            row = conn.execute("SELECT version FROM api_key_state WHERE id = 1").fetchone()
            scopes: dict[str, list[str]] = {}
            for key_id, project in conn.execute(
                "SELECT key_id, project_id FROM api_key_projects ORDER BY key_id, project_id"
            ):
                scopes.setdefault(key_id, []).append(project)
            rows = conn.execute(
                """SELECT id, name, key_hash, all_projects, created_at_us, last_used_at_us,
                    revoked_at_us FROM api_keys ORDER BY created_at_us, id"""
            ).fetchall()
        records = [
            KeyRecord(
                id=key_id,
                name=name,
                key_hash=key_hash,
                projects=tuple(scopes.get(key_id, ())),
                all_projects=bool(all_projects),
                created_at_us=created,
                last_used_at_us=used,
                revoked_at_us=revoked,
            )
            for key_id, name, key_hash, all_projects, created, used, revoked in rows
        ]
        return (int(row[0]) if row else 0), records

    def add(self, record: KeyRecord) -> bool:
        """Store a new key; False when its id is taken (the caller draws another)."""
        with self._pool.connection() as conn:
            try:
                with conn.transaction():
                    conn.execute(
                        """INSERT INTO api_keys (id, name, key_hash, all_projects, created_at_us)
                            VALUES (%s, %s, %s, %s, %s)""",
                        (
                            record.id,
                            record.name,
                            record.key_hash,
                            int(record.all_projects),
                            record.created_at_us,
                        ),
                    )
                    conn.cursor().executemany(
                        "INSERT INTO api_key_projects (key_id, project_id) VALUES (%s, %s)",
                        [(record.id, p) for p in record.projects],
                    )
                    self._bump(conn)
            except errors.UniqueViolation:
                return False
        return True

    def revoke(self, key_id: str, at_us: int) -> bool:
        """Revoke a key; False when no active key has this id."""
        with self._pool.connection() as conn, conn.transaction():
            done = conn.execute(
                "UPDATE api_keys SET revoked_at_us = %s WHERE id = %s AND revoked_at_us IS NULL",
                (at_us, key_id),
            ).rowcount
            if done:
                self._bump(conn)
        return bool(done)

    def delete_revoked(self, key_id: str) -> bool:
        """Forget a revoked key; False when no revoked key has this id."""
        with self._pool.connection() as conn, conn.transaction():
            done = conn.execute(
                "DELETE FROM api_keys WHERE id = %s AND revoked_at_us IS NOT NULL", (key_id,)
            ).rowcount
            if done:
                conn.execute("DELETE FROM api_key_projects WHERE key_id = %s", (key_id,))
                self._bump(conn)
        return bool(done)

    def record_use(self, used: dict[str, int]) -> None:
        """Set keys' last use (µs); this does not change which keys are valid, so no version.
        GREATEST: several servers record uses of one key, in any order."""
        with self._pool.connection() as conn, conn.transaction():
            conn.cursor().executemany(
                "UPDATE api_keys SET last_used_at_us = GREATEST(COALESCE(last_used_at_us, 0), %s) "
                "WHERE id = %s",
                sorted((at, key_id) for key_id, at in used.items()),
            )

    @staticmethod
    def _bump(conn: object) -> None:
        conn.execute("UPDATE api_key_state SET version = version + 1 WHERE id = 1")  # type: ignore[attr-defined]

    def close(self) -> None:
        self._pool.close()
