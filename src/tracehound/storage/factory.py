"""Which backend a database URL names. This is the one module outside a backend's package that
imports it, and it does so lazily: SQLite users never import psycopg."""

from __future__ import annotations

from urllib.parse import urlsplit

from tracehound.storage.errors import InvalidDatabaseUrl
from tracehound.storage.protocols import Backend, KeyStore, TraceStore
from tracehound.storage.types import StoreConfig

_SQLITE_SCHEMES = {"sqlite"}
_POSTGRES_SCHEMES = {"postgres", "postgresql"}


def backend_for(url: str | None) -> Backend:
    """The backend of `url`: None or `sqlite:` is the embedded SQLite file under the data
    directory, `postgresql://…` PostgreSQL."""
    try:
        scheme = "sqlite" if not url else urlsplit(url).scheme.lower().split("+")[0]
    except ValueError as e:  # e.g. an unclosed [ of an IPv6 host
        raise InvalidDatabaseUrl(f"invalid database URL: {e}") from None
    if scheme in _SQLITE_SCHEMES:
        from tracehound.storage.sqlite.backend import SQLITE

        return SQLITE
    if scheme in _POSTGRES_SCHEMES:
        from tracehound.storage.postgres.backend import POSTGRES

        return POSTGRES
    shown = url if len(url or "") <= 80 else f"{(url or '')[:80]}…"
    raise InvalidDatabaseUrl(
        f"unsupported database URL {shown!r}: use postgresql://USER:PASSWORD@HOST:PORT/DB, "
        "or leave it unset for SQLite under --data-dir"
    )


def open_store(config: StoreConfig, *, readonly: bool = False) -> TraceStore:
    return backend_for(config.url).open_store(config, readonly=readonly)


def open_keys(config: StoreConfig, *, create: bool = False) -> KeyStore:
    return backend_for(config.url).open_keys(config, create=create)
