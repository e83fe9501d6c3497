"""The PostgreSQL backend as `factory.py` sees it: the store, and the administrative commands,
which run beside any number of serving processes (each in its own short transactions)."""

from __future__ import annotations

from tracehound.storage.postgres import retention as pg_retention
from tracehound.storage.postgres.check import check
from tracehound.storage.postgres.connect import startup
from tracehound.storage.postgres.keys import PostgresKeyStore
from tracehound.storage.postgres.schema import check_current
from tracehound.storage.postgres.store import PostgresStore
from tracehound.storage.types import CheckReport, Progress, StoreConfig


def _url(config: StoreConfig) -> str:
    return config.url or ""


class PostgresBackend:
    def open_store(self, config: StoreConfig, *, readonly: bool = False) -> PostgresStore:
        return PostgresStore(config, readonly=readonly)

    def open_keys(self, config: StoreConfig, *, create: bool = False) -> PostgresKeyStore:
        return PostgresKeyStore(_url(config), create=create, statement_timeout_ms=config.statement_timeout_ms)

    def check(
        self, config: StoreConfig, *, repair: bool = False, progress: Progress | None = None
    ) -> CheckReport:
        return check(_url(config), repair=repair, progress=progress)

    def set_retention(
        self, config: StoreConfig, project_id: str, days: int | None, *, clear: bool = False
    ) -> None:
        with startup(_url(config)) as conn:
            check_current(conn)
            with conn.transaction():
                if clear:
                    pg_retention.clear_policy(conn, project_id)
                else:
                    pg_retention.set_policy(conn, project_id, days)

    def retention_policies(self, config: StoreConfig) -> dict[str, int | None]:
        with startup(_url(config)) as conn:
            check_current(conn)
            return pg_retention.policies(conn)


POSTGRES = PostgresBackend()
