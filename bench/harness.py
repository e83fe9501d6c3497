"""What the benchmarks share: a `tracehound serve` on free loopback ports with a fresh data
directory (or a PostgreSQL database), and the server's resident memory (its decoding processes
included)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx


class BenchError(RuntimeError):
    pass


@dataclass(frozen=True)
class Running:
    process: subprocess.Popen[bytes]
    api: str
    otlp_http: str
    otlp_grpc: str
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """VmRSS (or another /proc/<pid>/status field, such as RssAnon: the private memory, without
    the database file's pages mapped for reading) of a process and its descendants, in MB."""
    total_kb, pending = 0, [pid]
    while pending:
        p = pending.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    total_kb += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total_kb / 1024


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.every_s, self.max_mb, self.max_anon_mb = pid, every_s, 0.0, 0.0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.max_mb = max(self.max_mb, rss_mb(self.pid))
            self.max_anon_mb = max(self.max_anon_mb, rss_mb(self.pid, "RssAnon"))
            self.stop_event.wait(self.every_s)


@contextlib.contextmanager
def server(
    data_dir: Path,
    deadline: float,
    extra: Sequence[str] = (),
    headers: dict[str, str] | None = None,
    *,
    database_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[Running]:
    """Run `tracehound serve` on free loopback ports with `extra` flags; stop it (SIGINT, then
    SIGKILL after 15 s) on the way out. The store is SQLite under `data_dir`/db, or the
    PostgreSQL database `database_url`; the log is `data_dir`/server.log either way. `env` is
    added to the server's environment (PYTHONPATH: another tracehound's sources)."""
    api, grpc_port, otlp = free_port(), free_port(), free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    log = log_path.open("wb")
    cmd = [
        sys.executable,
        "-m",
        "tracehound",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(api),
        "--otlp-grpc-port",
        str(grpc_port),
        "--otlp-http-port",
        str(otlp),
        "--data-dir",
        str(data_dir / "db"),
        "--log-level",
        "warning",
        *(["--database-url", database_url] if database_url else []),
        *extra,
    ]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    running = Running(
        proc, f"http://127.0.0.1:{api}", f"http://127.0.0.1:{otlp}", f"http://127.0.0.1:{grpc_port}", log_path
    )
    try:
        _wait_ready(proc, running.api, otlp, min(deadline, time.monotonic() + 60), log_path, headers or {})
        yield running
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_ready(
    proc: subprocess.Popen[bytes],
    api_url: str,
    otlp_port: int,
    until: float,
    log: Path,
    headers: dict[str, str],
) -> None:
    while time.monotonic() < until:
        if proc.poll() is not None:
            raise BenchError(f"tracehound serve exited with {proc.returncode}:\n{tail(log)}")
        try:
            # /health, not a data endpoint: the store was opened (and migrated) before the API
            # listens, and a read that fails is the benchmark's to report, not a start-up failure.
            if httpx.get(f"{api_url}/health", headers=headers, timeout=1).status_code == 200:
                with socket.create_connection(("127.0.0.1", otlp_port), timeout=1):
                    return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    raise BenchError(f"tracehound serve did not become ready:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
