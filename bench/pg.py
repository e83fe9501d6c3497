"""PostgreSQL for the benchmarks: a server to put fresh databases on, and what they hold on disk.

Without a URL the benchmark starts its own throwaway server (tests/pgserver.py: Debian's binaries,
initdb in a temporary directory, a free loopback port), stopped with the benchmark. With
`--database-url`, the benchmark creates its scratch databases beside the one the URL names, on
the same server and with the same credentials (the role needs CREATEDB), and drops them at the
end: it never writes into the database the URL names, which may hold real data.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/pgserver.py, shared with the test suite

from tests.pgserver import PgServer  # noqa: E402

# The benchmark's own server keeps PostgreSQL's durability defaults (fsync, synchronous_commit,
# full_page_writes on, unlike the tests' server): every acknowledged export is on disk, as it would
# be in production. A larger WAL keeps a million-span load from checkpointing every few seconds.
OWN_SERVER_SETTINGS = {
    "shared_buffers": "256MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
}


class Postgres:
    """Where the benchmark's PostgreSQL databases live; `fresh()` makes one, `close()` drops
    them all (and stops the server when it is the benchmark's own)."""

    def __init__(self, url: str | None, keep: bool = False) -> None:
        self.keep = keep
        self._server: PgServer | None = None
        self._made: list[str] = []
        if url is None:
            self._server = PgServer(durable=True, settings=OWN_SERVER_SETTINGS).start()
            self._admin_url = self._server.url()
            version = self._server.bin_dir.parent.name
            self.where = f"a throwaway PostgreSQL {version} server on port {self._server.port}"
        else:
            self._admin_url = url
            self.where = f"the PostgreSQL server of --database-url ({_without_password(url)})"
        self.settings = self._read_settings()

    def fresh(self, label: str) -> str:
        """A new empty database; its URL."""
        name = f"tracehound_bench_{os.getpid()}_{label}_{secrets.token_hex(3)}"
        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._made.append(name)
        return _with_dbname(self._admin_url, name)

    def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        if self.keep or name not in self._made:
            return
        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self._made.remove(name)

    def close(self) -> None:
        """Drop the databases made (unless `keep`: then they stay on a --database-url server; the
        benchmark's own server and its directory go with it whatever `keep` says)."""
        if self._server is not None:
            self._server.stop()
            return
        if not self.keep:
            for name in list(self._made):
                self.drop(_with_dbname(self._admin_url, name))

    def _read_settings(self) -> dict[str, str]:
        names = ["server_version", "fsync", "synchronous_commit", "shared_buffers", "max_connections"]
        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)", (names,)
            ).fetchall()
        return {str(n): str(v) for n, v in rows}


def vacuum_analyze(url: str) -> None:
    """What autovacuum does minutes after a bulk load: planner statistics and the visibility map
    (index-only scans). Done at once, so that the reads are timed in that steady state."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def disk_bytes(url: str) -> dict[str, int]:
    """pg_total_relation_size (heap, indexes, TOAST) of every table of the database, and of
    `spans` alone."""
    with psycopg.connect(url, autocommit=True) as conn:
        row: Any = conn.execute(
            """SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint,
                   COALESCE(SUM(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname = 'spans'), 0)::bigint,
                   COALESCE(SUM(pg_indexes_size(c.oid)) FILTER (WHERE c.relname = 'spans'), 0)::bigint
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relkind = 'r' AND n.nspname = 'public'"""
        ).fetchone()
    return {"tables": int(row[0]), "spans_table": int(row[1]), "spans_indexes": int(row[2])}


def _with_dbname(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
