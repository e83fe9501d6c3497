"""Schema versioning: a newer tracehound upgrades an older file in place, keeps its data, and an
older tracehound refuses a newer file. One writer per data directory.

SQLite only: these are the file's own mechanics (PRAGMA user_version, the lock file, a reader
that never creates the file). PostgreSQL's newer-schema refusal is in tests/test_pg_faults.py;
its concurrent writers in tests/test_multiprocess.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.test_store_writer import span
from tracehound.storage.errors import SchemaOutdated, SchemaTooNew, StoreLocked, StoreMissing
from tracehound.storage.queries import RunQuery
from tracehound.storage.sqlite import schema as sqlite_schema
from tracehound.storage.sqlite.schema import SCHEMA_VERSION, migrate
from tracehound.storage.sqlite.store import DB_FILENAME, SqliteStore


def test_fresh_file_is_at_current_version(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    store.close()
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_older_file_is_upgraded_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SqliteStore(tmp_path)
    store.write([span("t1", "s1", run_id="kept")])
    store.close()
    # A later version adds a migration; opening the old file applies it and keeps the data.
    upgraded = [
        *sqlite_schema.MIGRATIONS,
        ["ALTER TABLE runs ADD COLUMN note TEXT", "UPDATE runs SET note = 'v2'"],
    ]
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", upgraded)
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", len(upgraded))
    store = SqliteStore(tmp_path)
    try:
        page = store.list_runs(RunQuery(project_id="default"))
        assert [r.key for r in page.rows] == ["kept"]
    finally:
        store.close()
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(upgraded)
        assert conn.execute("SELECT note FROM runs").fetchall() == [("v2",)]


def test_newer_file_is_refused(tmp_path: Path) -> None:
    SqliteStore(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        with pytest.raises(SchemaTooNew, match="newer than this tracehound supports"):
            migrate(conn)
    # Opening the store refuses it too, and leaves the directory unlocked for a newer tracehound;
    # a reader refuses it the same way.
    with pytest.raises(SchemaTooNew):
        SqliteStore(tmp_path)
    with pytest.raises(SchemaTooNew):
        SqliteStore(tmp_path, readonly=True)
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    SqliteStore(tmp_path).close()


def test_reader_refuses_an_outdated_or_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StoreMissing):
        SqliteStore(tmp_path / "nothing", readonly=True)
    assert not (tmp_path / "nothing").exists()
    SqliteStore(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    with pytest.raises(SchemaOutdated, match="start `tracehound serve` on it once"):
        SqliteStore(tmp_path, readonly=True)


def test_one_writer_per_data_dir(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    try:
        with pytest.raises(StoreLocked, match="in use by another tracehound"):
            SqliteStore(tmp_path)
    finally:
        store.close()
    SqliteStore(tmp_path).close()  # free again once closed
