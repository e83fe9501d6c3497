"""What storage raises, whatever the backend. Each message is one line a person can act on: the
CLI prints it as it is, and the API maps `StoreUnavailable` to 503."""

from __future__ import annotations


class StoreError(RuntimeError):
    """The base of every storage error."""


class StoreLocked(StoreError):
    """An embedded database already has its one writer (another process holds its lock)."""


class StoreMissing(StoreError):
    """No database where one was expected (a reader never creates one)."""


class ReadOnlyStore(StoreError):
    """A write through a store opened read-only."""


class SchemaTooNew(StoreError):
    """The database was migrated by a newer tracehound."""


class SchemaOutdated(StoreError):
    """The database is at an older schema, and this opener may not migrate it."""


class StoreUnavailable(StoreError):
    """The database server cannot be reached, refused the credentials, or went away. Transient:
    ingest answers 503 / UNAVAILABLE, and the store reconnects by itself."""


class InvalidDatabaseUrl(StoreError):
    """A database URL tracehound cannot use."""
