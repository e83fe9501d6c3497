"""A throwaway PostgreSQL server for the tests and the benchmarks: Debian's own binaries, a fresh
`initdb` in a temporary directory, a free loopback port, password (SCRAM) authentication.

The postmaster runs in the foreground as our child with a parent-death signal, so it cannot
outlive the process that started it, even when that process is SIGKILLed. The death signal is
tied to the *thread* that starts the server: start it from a thread that lives as long as the
server should (the main thread, in pytest and in `python -m tests.pgserver`).

Run `python -m tests.pgserver` for a server to point tracehound or a benchmark at by hand: it
prints the URL and runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import psycopg
from psycopg import sql

PG_LIB = Path("/usr/lib/postgresql")
HOST = "127.0.0.1"
# initdb and postgres refuse to run as root; Debian's package creates this user.
SERVER_OS_USER = "postgres"
DIR_PREFIX = "tracehound-pg-"
# SIGINT is PostgreSQL's "fast shutdown": it disconnects clients instead of waiting for them.
DEATH_SIGNAL = "INT"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# Throwaway data: durability settings off, for speed. Enough connections for three `serve`
# processes with their pools plus the tests' own.
FAST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
BASE_SETTINGS: Mapping[str, str] = {
    "listen_addresses": HOST,
    "max_connections": "200",
    "shared_buffers": "128MB",
    "timezone": "UTC",
    "log_timezone": "UTC",
}


class PgServerError(RuntimeError):
    """The server could not be set up, started or stopped; the message says why."""


def find_bin_dir(lib: Path = PG_LIB) -> Path:
    """The newest /usr/lib/postgresql/<version>/bin that holds both initdb and postgres."""
    found = [
        d / "bin"
        for d in lib.glob("*")
        if os.access(d / "bin" / "initdb", os.X_OK) and os.access(d / "bin" / "postgres", os.X_OK)
    ]
    if not found:
        raise PgServerError(
            f"no PostgreSQL server binaries under {lib}/*/bin: run scripts/ensure-postgres "
            "(it installs Debian's postgresql package)"
        )
    return max(found, key=lambda b: tuple(int(p) for p in re.findall(r"\d+", b.parent.name)))


def alive(pid: int) -> bool:
    """Whether `pid` is a running process; a zombie counts as gone (it has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def sweep_stale(base: Path) -> None:
    """Remove the directories of servers whose owner and postmaster are both gone: what a SIGKILLed
    test run leaves behind (the postmaster stops on its own, its files stay)."""
    for d in base.glob(f"{DIR_PREFIX}*"):
        try:
            owner = int((d / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # being created right now, or not ours
        try:
            postmaster = int((d / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            postmaster = 0
        if not alive(owner) and not (postmaster and alive(postmaster)):
            shutil.rmtree(d, ignore_errors=True)


def _conf_line(key: str, value: str) -> str:
    quoted = value.replace("'", "''")
    return f"{key} = '{quoted}'\n"


class PgServer:
    """One PostgreSQL server in its own temporary directory.

    `start()` runs initdb and starts it; `stop()` shuts it down and removes the directory.
    `stop_server()` and `start_server()` (or `restart()`) stop and start it again on the same data
    directory and port, for tests of a database that goes away and comes back.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        user: str = "tracehound",
        durable: bool = False,
        settings: Mapping[str, str] | None = None,
        base_dir: Path | None = None,
    ) -> None:
        self.bin_dir = find_bin_dir()
        self.user = user
        self.password = secrets.token_urlsafe(18)
        self.port = port or 0
        self._fixed_port = port is not None
        self._base = base_dir or Path(tempfile.gettempdir())
        self._settings = {**BASE_SETTINGS, **({} if durable else FAST_SETTINGS), **(settings or {})}
        self.root: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ paths and URLs

    @property
    def data_dir(self) -> Path:
        return self._dir() / "data"

    @property
    def log_path(self) -> Path:
        return self._dir() / "postgres.log"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        return self.process.pid if self.process and self.process.poll() is None else None

    def url(self, dbname: str = "postgres", *, password: str | None = None) -> str:
        secret = quote(self.password if password is None else password, safe="")
        return f"postgresql://{quote(self.user, safe='')}:{secret}@{HOST}:{self.port}/{dbname}"

    def _dir(self) -> Path:
        if self.root is None:
            raise PgServerError("the server has not been started")
        return self.root

    # ------------------------------------------------------------------ life cycle

    def start(self) -> PgServer:
        """initdb into a new temporary directory and start the server on a free port."""
        if self.root is not None:
            raise PgServerError("already started")
        sweep_stale(self._base)
        self.root = Path(tempfile.mkdtemp(prefix=DIR_PREFIX, dir=self._base))
        try:
            (self.root / "owner.pid").write_text(str(os.getpid()))
            self._initdb()
            for attempt in range(5):
                if not self._fixed_port:
                    self.port = free_port()
                try:
                    self.start_server()
                    return self
                except PgServerError as e:
                    # Another process may take the free port between our probe and the bind.
                    if self._fixed_port or "could not bind" not in str(e) or attempt == 4:
                        raise
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")

    def start_server(self) -> None:
        """Start the postmaster on the existing data directory and port; wait until it accepts."""
        if self.pid is not None:
            raise PgServerError("the server is already running")
        root = self._dir()
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self._as_server_user(
                    [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
                ),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=root,
                # Our own signal handling (stop_server, the death signal) decides when it stops,
                # not a Ctrl-C sent to the terminal's process group.
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                self.process = None
                raise PgServerError(f"postgres exited at start: {self.log_tail(offset)}")
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError as e:
                if time.monotonic() > deadline:
                    self.stop_server()
                    raise PgServerError(f"postgres did not accept connections: {e}") from e
            time.sleep(0.05)

    def stop_server(self) -> None:
        """Fast shutdown of the postmaster; the data directory and port stay for `start_server()`."""
        process, self.process = self.process, None
        if process is None:
            return
        for sig, wait_s in ((signal.SIGINT, STOP_TIMEOUT_S), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0)):
            if process.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=wait_s)
        if process.poll() is None:
            raise PgServerError(f"postgres pid {process.pid} did not stop")

    def restart(self) -> None:
        self.stop_server()
        self.start_server()

    def stop(self) -> None:
        """Stop the server and remove its directory. Safe to call more than once."""
        try:
            self.stop_server()
        finally:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ databases

    def create_database(self, name: str, template: str | None = None) -> str:
        """CREATE DATABASE name [TEMPLATE template]; returns its URL. The template must have no
        open connections."""
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(_checked(name)))
        if template is not None:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(_checked(template)))
        self._admin(query)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop it if it exists, disconnecting whoever is still connected to it."""
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(_checked(name))))

    def _admin(self, query: sql.Composed) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(query)

    # ------------------------------------------------------------------ set-up

    def _as_server_user(self, argv: Sequence[str]) -> list[str]:
        """argv run with the parent-death signal and, when we are root, as the postgres user.
        setpriv sets the death signal after it changes the uid (a uid change clears it), so it
        survives; tests/test_pgserver.py checks that by SIGKILLing a server's parent."""
        prefix = ["setpriv", f"--pdeathsig={DEATH_SIGNAL}"]
        if os.geteuid() == 0:
            prefix += [f"--reuid={SERVER_OS_USER}", f"--regid={SERVER_OS_USER}", "--init-groups"]
        return [*prefix, *argv]

    def _initdb(self) -> None:
        root = self._dir()
        pwfile = root / "pwfile"
        pwfile.write_text(self.password + "\n")
        (root / "run").mkdir()
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam(SERVER_OS_USER)
            except KeyError:
                raise PgServerError(
                    f"running as root and there is no {SERVER_OS_USER!r} OS user to run PostgreSQL as: "
                    "run scripts/ensure-postgres"
                ) from None
            for path in (root, pwfile, root / "run"):
                os.chown(path, account.pw_uid, account.pw_gid)
        pwfile.chmod(0o600)
        command = self._as_server_user(
            [
                str(self.bin_dir / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                self.user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ]
        )
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
        pwfile.unlink()
        if done.returncode != 0:
            raise PgServerError(f"initdb failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
        settings = {**self._settings, "unix_socket_directories": str(root / "run")}
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# tracehound test server (tests/pgserver.py)\n")
            conf.writelines(_conf_line(k, v) for k, v in settings.items())
        # Every connection authenticates, so a test can see a wrong password refused.
        (self.data_dir / "pg_hba.conf").write_text(
            f"local all all scram-sha-256\nhost all all {HOST}/32 scram-sha-256\n"
        )

    def log_tail(self, offset: int = 0) -> str:
        """The end of the server's log from byte `offset` on."""
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace").strip()[-2000:]


def _checked(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ValueError(f"not a plain database name: {name!r}")
    return name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.pgserver",
        description="Start a throwaway PostgreSQL server, print its URL, run until Ctrl-C or SIGTERM.",
    )
    parser.add_argument("--database", default="tracehound", help="database to create (default: tracehound)")
    parser.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--durable", action="store_true", help="keep fsync and synchronous_commit on")
    parser.add_argument("--json", action="store_true", help="print url, port, pid and data_dir as JSON")
    args = parser.parse_args(argv)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        server = PgServer(port=args.port, durable=args.durable)
    except PgServerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        server.start()
        url = server.create_database(args.database)
        if args.json:
            info = {"url": url, "port": server.port, "pid": server.pid, "data_dir": str(server.data_dir)}
            print(json.dumps(info), flush=True)
        else:
            print(url, flush=True)
            print(f"data in {server.data_dir}, log in {server.log_path}; Ctrl-C stops it", file=sys.stderr)
        assert server.process is not None
        code = server.process.wait()
        print(f"postgres exited with {code}:\n{server.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except PgServerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
