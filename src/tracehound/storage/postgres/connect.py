"""Connections to PostgreSQL: the URL, the pool, and the one place where driver failures become
tracehound's storage errors.

Every failure of the server or the network (refused, reset, shut down, timed out, no connection
free in the pool) is `StoreUnavailable` with a one-line message naming the server but never the
password; the API and OTLP layers answer 503 / UNAVAILABLE for it. The pool checks a connection
before handing it out and reconnects in the background, so service resumes by itself once the
server is back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.abc import Buffer
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.string import StrBinaryDumper, StrDumper, StrDumperUnknown
from psycopg_pool import ConnectionPool, PoolTimeout

from tracehound.storage.errors import InvalidDatabaseUrl, StoreUnavailable
from tracehound.storage.postgres.text import clean

Conn = psycopg.Connection[tuple[Any, ...]]

SCHEMES = ("postgresql://", "postgres://")
RECONNECT_WINDOW_S = 4.0


def is_postgres_url(url: str | None) -> bool:
    return url is not None and url.startswith(SCHEMES)


def parse_url(url: str) -> dict[str, Any]:
    """The URL's connection parameters; InvalidDatabaseUrl when it is not a PostgreSQL URL."""
    if not is_postgres_url(url):
        raise InvalidDatabaseUrl("database URL must start with postgresql:// or postgres://")
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as e:
        raise InvalidDatabaseUrl(f"invalid database URL: {_first_line(e)}") from None
    for port in str(params.get("port") or "5432").split(","):
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidDatabaseUrl(f"invalid database URL: port {port!r} is not a number from 1 to 65535")
    return params


def describe(url: str) -> str:
    """Where the URL points, for messages: user@host:port/dbname, without the password."""
    params = parse_url(url)
    user = params.get("user")
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    where = f"{host}:{port}/{params.get('dbname') or user or ''}"
    return f"{user}@{where}" if user else where


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # libpq prefixes "connection failed:" and repeats the address on a second line
    return "; ".join(lines[:2]) if lines else type(exc).__name__


def _broken(exc: psycopg.Error) -> bool:
    if isinstance(exc, psycopg.InterfaceError):
        return True
    conn = getattr(exc, "_conn", None)  # not public; absent, the error is taken as is
    return conn is not None and (conn.broken or conn.closed)


def unavailable(url: str, exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"PostgreSQL at {describe(url)} is unavailable: {_first_line(exc)}")


class _NulSafeUnknown(StrDumperUnknown):
    def dump(self, obj: str) -> Buffer | None:
        return super().dump(clean(obj))


class _NulSafeText(StrDumper):
    def dump(self, obj: str) -> Buffer | None:
        return super().dump(clean(obj))


class _NulSafeBinary(StrBinaryDumper):
    def dump(self, obj: str) -> Buffer | None:
        return super().dump(clean(obj))


def nul_safe(conn: Conn) -> None:
    """PostgreSQL text cannot hold NUL, and span text and query values may carry it. Every string
    parameter of this connection is sent with NUL as U+FFFD, as the writer stores it, so a value
    sent with a NUL finds what a span sent with that NUL became, and no statement fails on it.
    The binary dumper goes first because the last one registered is the default."""
    for dumper in (_NulSafeBinary, _NulSafeText, _NulSafeUnknown):
        conn.adapters.register_dumper(str, dumper)


def connect(url: str, *, connect_timeout_s: float = 5.0) -> Conn:
    """One autocommit connection, for start-up work (migrations) and tools; the failure to
    connect (refused, unknown host, wrong password, no such database) as StoreUnavailable."""
    parse_url(url)
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(connect_timeout_s)))
    except psycopg.OperationalError as e:
        raise unavailable(url, e) from None
    nul_safe(conn)
    return conn


@contextmanager
def startup(url: str) -> Iterator[Conn]:
    """A direct connection for the work before a store or command is ready (migrations, schema
    checks, administrative commands). Every driver failure in the block becomes StoreUnavailable,
    one line without a traceback: the server going away or a lock wait timing out
    (OperationalError), or the server refusing a statement, such as a role that may not create
    the schema."""
    conn = connect(url)
    try:
        yield conn
    except psycopg.OperationalError as e:
        raise unavailable(url, e) from None
    except psycopg.Error as e:
        where = describe(url)
        raise StoreUnavailable(f"PostgreSQL at {where} refused tracehound: {_first_line(e)}") from None
    finally:
        conn.close()


def set_timeout(conn: Conn, statement_timeout_ms: int) -> None:
    """`statement_timeout_ms` 0: none. Set per session so that no query outlives it."""
    conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{int(statement_timeout_ms)}ms",))


class Pool:
    """A psycopg ConnectionPool of autocommit connections (each transaction is an explicit
    `conn.transaction()`), with the statement timeout set on every new connection."""

    def __init__(
        self,
        url: str,
        *,
        size: int,
        statement_timeout_ms: int,
        readonly: bool = False,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self._timeout_s = connect_timeout_s

        def configure(conn: Conn) -> None:
            nul_safe(conn)
            set_timeout(conn, statement_timeout_ms)
            # JIT compiles any statement the planner prices above jit_above_cost: about 100 ms
            # for a week-long scan at 1M spans, more than the scan itself; reads here are short.
            conn.execute("SELECT set_config('jit', 'off', false)")
            if readonly:
                conn.execute("SELECT set_config('default_transaction_read_only', 'on', false)")

        self._pool: ConnectionPool[Conn] = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, size),
            kwargs={"autocommit": True, "connect_timeout": max(1, round(connect_timeout_s))},
            configure=configure,
            check=ConnectionPool.check_connection,
            timeout=connect_timeout_s,
            # A replacement connection is retried with doubling delays until this window ends,
            # then its slot is freed and the next request starts a fresh attempt. A long window
            # would let the delay grow as long as the outage, so service would come back that
            # much after the database does; a short one keeps attempts at most seconds apart.
            reconnect_timeout=RECONNECT_WINDOW_S,
            name="tracehound",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except PoolTimeout:
            self._pool.close()
            # The pool hides why; one direct attempt gives the server's own reason.
            connect(url, connect_timeout_s=connect_timeout_s).close()
            raise StoreUnavailable(f"PostgreSQL at {describe(url)} is unavailable") from None

    @contextmanager
    def connection(self) -> Iterator[Conn]:
        """A pooled connection; server and network failures inside the block, and waiting
        longer than the connect timeout for a connection, raise StoreUnavailable."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolTimeout:
            raise StoreUnavailable(
                f"PostgreSQL at {describe(self.url)} is unavailable: "
                f"no connection within {self._timeout_s:g} s"
            ) from None
        except psycopg.OperationalError as e:
            raise unavailable(self.url, e) from None
        except psycopg.Error as e:
            # Any other driver error on a connection that is now broken (lost mid-COPY, in a
            # transaction) is the server going away too, not a bug of the statement.
            if _broken(e):
                raise unavailable(self.url, e) from None
            raise

    def close(self) -> None:
        self._pool.close()
