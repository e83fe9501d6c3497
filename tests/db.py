"""A test's own database on either backend: how to open it (in process or by CLI options), and
direct reads and writes of its tables for the tests that check what is stored, not only what
is answered. Statements are written once, with `?` placeholders; on PostgreSQL they become `%s`
and `IS NOT ?` becomes `IS DISTINCT FROM %s`. PostgreSQL's NUMERIC sums come back as ints or
floats, as SQLite's do, so one expected value serves both."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from tracehound.storage import StoreConfig, TraceStore, backend_for, open_keys, open_store
from tracehound.storage.protocols import Backend, KeyStore
from tracehound.storage.sqlite.store import DB_FILENAME

Statement = tuple[str, tuple[Any, ...]]


def to_postgres(sql: str) -> str:
    return sql.replace("?", "%s").replace("IS NOT %s", "IS DISTINCT FROM %s")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


@dataclass(frozen=True)
class Database:
    """`url` None: the SQLite file under `data_dir`; else that PostgreSQL database."""

    data_dir: Path
    url: str | None = None

    def config(self, **settings: Any) -> StoreConfig:
        return StoreConfig(url=self.url, data_dir=self.data_dir, **settings)

    @property
    def backend(self) -> Backend:
        return backend_for(self.url)

    def open(self, *, readonly: bool = False, **settings: Any) -> TraceStore:
        return open_store(self.config(**settings), readonly=readonly)

    def keys(self, *, create: bool = False) -> KeyStore:
        return open_keys(self.config(), create=create)

    @property
    def args(self) -> list[str]:
        """The CLI options that open this database."""
        return ["--database-url", self.url] if self.url is not None else ["--data-dir", str(self.data_dir)]

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Every row of one read."""
        if self.url is not None:
            with psycopg.connect(self.url, autocommit=True) as pg:
                return [tuple(map(_plain, r)) for r in pg.execute(to_postgres(sql), params)]
        path = self.data_dir / DB_FILENAME
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
            return [tuple(r) for r in db.execute(sql, params)]

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        [row] = self.rows(sql, params)
        return row

    def transaction(self, statements: list[Statement]) -> list[Any]:
        """Run `statements` in one write transaction; the first row of each (None if none)."""
        out: list[Any] = []
        if self.url is not None:
            with psycopg.connect(self.url, autocommit=True) as pg, pg.transaction():
                for sql, params in statements:
                    cur = pg.execute(to_postgres(sql), params)
                    row = cur.fetchone() if cur.description else None
                    out.append(None if row is None else tuple(map(_plain, row)))
            return out
        path = self.data_dir / DB_FILENAME
        with closing(sqlite3.connect(path, timeout=30, isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE")
            out = [db.execute(sql, params).fetchone() for sql, params in statements]
            db.execute("COMMIT")
        return out
