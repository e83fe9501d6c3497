"""Timed OTLP/HTTP ingest into one or several `tracehound serve` processes.

Bodies are taken in order by `senders` threads; body i goes to process i mod n, as a round-robin
load balancer would send it. The clock runs from the first POST until every body is acknowledged
and every process's `GET /runs` counts every run (each process answers for all of them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import harness
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse


@dataclass
class Ingest:
    processes: int = 1
    spans: int = 0
    ack_s: float = 0.0  # first send -> last acknowledgement
    queryable_s: float | None = None  # first send -> every process's GET /runs counts every run
    not_queryable: str | None = None  # why queryable_s is missing
    rejected_spans: int = 0
    retried_requests: int = 0
    rss_idle_mb: list[float] = field(default_factory=list)  # per process
    rss_max_mb: list[float] = field(default_factory=list)

    @property
    def spans_per_s(self) -> float | None:
        """The end-to-end rate; None when the runs could not be counted through the API."""
        return self.spans / self.queryable_s if self.queryable_s else None

    @property
    def acked_spans_per_s(self) -> float:
        return self.spans / self.ack_s if self.ack_s else 0.0


def send_all(
    bodies: Sequence[bytes],
    otlp_urls: Sequence[str],
    senders: int,
    deadline: float,
    auth: dict[str, str],
    res: Ingest | None = None,
) -> None:
    """POST every body to /v1/traces from `senders` threads, retrying on 429/503 as OTLP says."""
    res = res if res is not None else Ingest()
    lock = threading.Lock()
    next_index = iter(range(len(bodies)))
    errors: list[str] = []

    def worker() -> None:
        headers = {"content-type": "application/x-protobuf", **auth}
        clients = [httpx.Client(base_url=u, headers=headers, timeout=120) for u in otlp_urls]
        try:
            while not errors:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                if not _send_one(clients[i % len(clients)], i, bodies[i], deadline, res, lock, errors):
                    return
        finally:
            for c in clients:
                c.close()

    threads = [threading.Thread(target=worker) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise harness.BenchError(errors[0])


def _send_one(
    client: httpx.Client,
    i: int,
    body: bytes,
    deadline: float,
    res: Ingest,
    lock: threading.Lock,
    errors: list[str],
) -> bool:
    while True:
        if time.monotonic() > deadline:
            errors.append("time budget exhausted while sending")
            return False
        try:
            r = client.post("/v1/traces", content=body)
        except httpx.HTTPError as exc:
            errors.append(f"body {i}: {exc!r}")
            return False
        if r.status_code in (429, 502, 503, 504):
            with lock:
                res.retried_requests += 1
            time.sleep(_retry_after(r.headers.get("retry-after")))
            continue
        if r.status_code != 200:
            errors.append(f"body {i}: HTTP {r.status_code}: {r.text[:300]}")
            return False
        rejected = ExportTraceServiceResponse.FromString(r.content).partial_success.rejected_spans
        with lock:
            res.rejected_spans += rejected
        return True


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 0.05), 0.0), 2.0)
    except ValueError:  # an HTTP date; not worth parsing for a loopback server
        return 0.5


def wait_queryable(client: httpx.Client, expected_runs: int, deadline: float) -> int:
    """Poll GET /runs until it counts every run (at most 5 minutes after the last acknowledgement)."""
    total, deadline = -1, min(deadline, time.monotonic() + 300)
    while time.monotonic() < deadline:
        r = client.get("/runs", params={"limit": 1})
        if r.status_code != 200:
            raise harness.BenchError(f"GET /runs: HTTP {r.status_code}: {r.text[:200]}")
        total = int(r.json()["pagination"]["total"])
        if total >= expected_runs:
            return total
        time.sleep(0.05)
    raise harness.BenchError(f"GET /runs still counted {total} runs of {expected_runs} when the wait ran out")


def timed_ingest(
    bodies: Sequence[bytes],
    spans: int,
    runs: int,
    servers: Sequence[harness.Running],
    senders: int,
    deadline: float,
    auth: dict[str, str],
) -> Ingest:
    """Send `bodies` (`spans` spans of `runs` runs) through `servers`, sampling each one's RSS."""
    res = Ingest(processes=len(servers), spans=spans)
    res.rss_idle_mb = [harness.rss_mb(s.process.pid) for s in servers]
    samplers = [harness.RssSampler(s.process.pid) for s in servers]
    for s in samplers:
        s.start()
    try:
        t0 = time.perf_counter()
        send_all(bodies, [s.otlp_http for s in servers], senders, deadline, auth, res)
        res.ack_s = time.perf_counter() - t0
        try:
            for server in servers:
                with httpx.Client(base_url=server.api, timeout=60, headers=auth) as client:
                    wait_queryable(client, runs, deadline)
            res.queryable_s = time.perf_counter() - t0
        except harness.BenchError as exc:
            res.not_queryable = str(exc)
    finally:
        for s in samplers:
            s.stop_event.set()
            s.join()
    res.rss_max_mb = [s.max_mb for s in samplers]
    return res
