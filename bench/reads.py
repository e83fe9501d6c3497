"""The timed reads of the benchmark, through HTTP, on a store that holds the million spans.

Before timing, two more things go into the store, the same bytes for every backend: a long run
sent by the OpenTelemetry SDK over OTLP/gRPC (for /runs/{id}/bottlenecks; bench/analytics.py) and
a 10,000-span agent thread (for /spans/summary; bench/summary.py). Each endpoint is timed on one
keep-alive `http.client` connection (httpx costs about 1 ms a request by itself), with the
server's CPU per request beside the wall time. A read that fails (an HTTP error) is recorded as
such and the others go on, so one broken endpoint does not hide the rest.
"""

from __future__ import annotations

import http.client
import statistics
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import harness
import httpx
import summary
from analytics import cpu_s, send_big_run, time_get
from ingest import send_all

BIG_RUN_ID = "bench-big-run"


@dataclass(frozen=True)
class Read:
    name: str
    path: str
    share: float = 1.0  # of --requests (the summary reads a 10,000-span thread: fewer)


READS = (
    Read("GET /runs latest 50", "/runs?limit=50"),
    Read("GET /runs failed, latest 50", "/runs?status=failed&limit=50"),
    Read("GET /stats last day", "/stats?period=last_day", 0.5),
    Read(
        "GET /metrics/timeseries cost, 1 h, last week",
        "/metrics/timeseries?metric=cost&interval=1h&period=last_week",
        0.5,
    ),
    Read(
        "GET /metrics/timeseries duration p95, 1 h, last week",
        "/metrics/timeseries?metric=duration_p95&interval=1h&period=last_week",
        0.5,
    ),
    Read("GET /runs/{id}/bottlenecks (2,000 spans)", f"/runs/{BIG_RUN_ID}/bottlenecks", 0.5),
    Read(
        f"GET /spans/summary (a {10_000:,}-span thread)",
        f"/spans/summary?thread_ids={summary.THREAD_ID}",
        0.15,
    ),
    Read(
        "GET /metrics/timeseries cost by model, 1 h, last week",
        "/metrics/timeseries?metric=cost&interval=1h&period=last_week&group_by=model",
        0.5,
    ),
    Read(
        "GET /metrics/timeseries duration p95 by model, 1 h, last week",
        "/metrics/timeseries?metric=duration_p95&interval=1h&period=last_week&group_by=model",
        0.5,
    ),
)


@dataclass
class Timed:
    median_ms: float | None = None
    p95_ms: float | None = None
    server_cpu_ms: float | None = None
    error: str | None = None


@dataclass
class Reads:
    floor_ms: float = 0.0
    timed: dict[str, Timed] = field(default_factory=dict)
    summary_baseline_ms: float | None = None  # every span through GET /spans, summed in the client
    summary_baseline_error: str | None = None


@dataclass
class Extras:
    """What every backend gets after the timed ingest, built once."""

    thread_bodies: list[bytes]
    thread_spans: int
    big_run_spans: int


def build_extras(thread_spans: int, big_run_spans: int, seed: int = 7) -> Extras:
    bodies, spans = summary.thread_bodies(thread_spans, seed)
    return Extras(bodies, spans, big_run_spans)


def send_extras(running: harness.Running, extras: Extras, deadline: float, auth: dict[str, str]) -> None:
    send_big_run(int(running.otlp_grpc.rsplit(":", 1)[1]), extras.big_run_spans, BIG_RUN_ID, auth or None)
    send_all(extras.thread_bodies, [running.otlp_http], 2, deadline, auth)


def first_pages(running: harness.Running, auth: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """The first page of each run list, to compare with the baseline's (taken before the extras
    go in: the baseline does not have them)."""
    pages = {}
    for name, read in (("latest 50", READS[0]), ("failed, latest 50", READS[1])):
        r = httpx.get(running.api + read.path, headers=auth, timeout=120)
        if r.status_code != 200:
            raise harness.BenchError(f"GET {read.path}: HTTP {r.status_code}: {r.text[:200]}")
        pages[name] = r.json()["data"]
    return pages


def time_reads(running: harness.Running, requests: int, auth: dict[str, str], summary_repeats: int) -> Reads:
    out = Reads()
    parts = urlsplit(running.api)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
    pid = running.process.pid
    try:
        out.floor_ms = time_get(conn, "/health", requests, auth)[0]
        for read in READS:
            n = max(5, round(requests * read.share))
            cpu0 = cpu_s(pid)
            try:
                median, p95, _ = time_get(conn, read.path, n, auth)
            except harness.BenchError as exc:
                out.timed[read.name] = Timed(error=str(exc).splitlines()[0][:200])
                conn.close()  # a failed answer may leave the connection half read; reopened on use
                continue
            cpu_ms = (cpu_s(pid) - cpu0) * 1000 / (n + 6)  # time_get's warm-ups too
            out.timed[read.name] = Timed(median, p95, cpu_ms)
    finally:
        conn.close()
    _summary_baseline(running.api, auth, summary_repeats, out)
    return out


def _summary_baseline(api_url: str, auth: dict[str, str], repeats: int, out: Reads) -> None:
    """vLLora's way to the same summary: download the thread's spans 100 a page, sum them up in
    the client (bench/summary.py)."""
    times = []
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            summary.client_summary(summary.fetch_all(api_url, auth))
            times.append((time.perf_counter() - t0) * 1000)
    except harness.BenchError as exc:
        out.summary_baseline_error = str(exc).splitlines()[0][:200]
        return
    if times:
        out.summary_baseline_ms = statistics.median(times)
