"""The tracehound benchmark: end-to-end OTLP/HTTP ingest of ~1M vLLora-shaped spans, then
`GET /runs` latency against vLLora's query-time aggregation (the baseline), in one run.

    python bench/run.py                 # 1,000,000 spans
    python bench/run.py --spans 50000   # a quick run

It starts `python -m tracehound serve` on free loopback ports with a fresh data directory, builds
every request body before the clock starts, sends them from several threads, and stops the clock
when the last body is acknowledged and `GET /runs` counts every run. Meanwhile it samples the
server's resident memory every 0.2 s. Then it times the two run lists through HTTP, loads the
same spans into the baseline and times its queries, and prints each figure against its target.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import baseline
import harness
import httpx
from dataset import Bodies, Spec, build_bodies
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

TARGET_LIST_MS = 5.0
TARGET_SPEEDUP = 200.0
TARGET_INGEST = 20_000.0
TARGET_RSS_MB = 300.0
LISTS = {"latest 50": "/runs?limit=50", "failed, latest 50": "/runs?status=failed&limit=50"}


@dataclass
class Results:
    spans: int = 0
    runs: int = 0
    failed_runs: int = 0
    bodies: int = 0
    body_mb: float = 0.0
    build_s: float = 0.0
    ack_s: float = 0.0  # first send -> last acknowledgement
    queryable_s: float = 0.0  # first send -> GET /runs counts every run
    ingest_spans_per_s: float = 0.0
    rejected_spans: int = 0
    retried_requests: int = 0
    rss_idle_mb: float = 0.0
    rss_max_mb: float = 0.0
    db_mb: float = 0.0
    list_ms: dict[str, float] = field(default_factory=dict)  # median through HTTP
    list_p95_ms: dict[str, float] = field(default_factory=dict)
    baseline_ms: dict[str, float] = field(default_factory=dict)
    baseline_load_s: float = 0.0
    mismatches: list[str] = field(default_factory=list)


def _create_key(data_dir: Path) -> dict[str, str]:
    """An all-projects API key on the data directory (so the server checks every request), as
    the headers that send it."""
    done = subprocess.run(
        [sys.executable, "-m", "tracehound", "keys", "create", "--all-projects", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return {"authorization": f"Bearer {done.stdout.splitlines()[-1]}"}


def _send_all(
    bodies: Bodies, otlp_url: str, senders: int, deadline: float, res: Results, auth: dict[str, str]
) -> None:
    """POST every body to /v1/traces from `senders` threads, retrying on 429/503 as OTLP says."""
    lock = threading.Lock()
    next_index = iter(range(len(bodies.bodies)))
    errors: list[str] = []

    def worker() -> None:
        headers = {"content-type": "application/x-protobuf", **auth}
        with httpx.Client(base_url=otlp_url, headers=headers, timeout=120) as client:
            while not errors:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                while True:
                    if time.monotonic() > deadline:
                        errors.append("time budget exhausted while sending")
                        return
                    try:
                        r = client.post("/v1/traces", content=bodies.bodies[i])
                    except httpx.HTTPError as exc:
                        errors.append(f"body {i}: {exc!r}")
                        return
                    if r.status_code in (429, 502, 503, 504):
                        with lock:
                            res.retried_requests += 1
                        time.sleep(_retry_after(r.headers.get("retry-after")))
                        continue
                    if r.status_code != 200:
                        errors.append(f"body {i}: HTTP {r.status_code}: {r.text[:300]}")
                        return
                    rejected = ExportTraceServiceResponse.FromString(r.content).partial_success.rejected_spans
                    with lock:
                        res.rejected_spans += rejected
                    break

    threads = [threading.Thread(target=worker) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise harness.BenchError(errors[0])


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 0.05), 0.0), 2.0)
    except ValueError:  # an HTTP date; not worth parsing for a loopback server
        return 0.5


def _wait_queryable(client: httpx.Client, expected_runs: int, deadline: float) -> int:
    """Poll GET /runs until it counts every run (at most 5 minutes after the last acknowledgement)."""
    total, deadline = -1, min(deadline, time.monotonic() + 300)
    while time.monotonic() < deadline:
        total = int(client.get("/runs", params={"limit": 1}).json()["pagination"]["total"])
        if total >= expected_runs:
            return total
        time.sleep(0.05)
    raise harness.BenchError(f"GET /runs still counted {total} runs of {expected_runs} when the wait ran out")


def _time_lists(
    api_url: str, requests: int, res: Results, headers: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Medians through HTTP with the standard library's client on one keep-alive connection:
    httpx alone costs ~1 ms a request on this machine, which is the client's time, not the
    server's. The round trip of GET /health, timed the same way, is reported as the floor."""
    host, port = api_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    pages: dict[str, list[dict[str, Any]]] = {}

    def get(path: str) -> bytes:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise harness.BenchError(f"GET {path}: HTTP {response.status}: {body[:300]!r}")
        return body

    try:
        for name, path in {"floor": "/health", **LISTS}.items():
            for _ in range(10):  # warm-up: connection, caches
                get(path)
            times = []
            for _ in range(requests):
                t0 = time.perf_counter()
                get(path)
                times.append((time.perf_counter() - t0) * 1000)
            res.list_ms[name] = statistics.median(times)
            res.list_p95_ms[name] = statistics.quantiles(times, n=20)[-1]
            if name != "floor":
                pages[name] = json.loads(get(path))["data"]
    finally:
        conn.close()
    return pages


def _compare(pages: dict[str, list[dict[str, Any]]], conn: sqlite3.Connection, res: Results) -> None:
    """tracehound's numbers on vLLora-shaped data must equal vLLora's: compare the first pages."""
    for name, failed in (("latest 50", False), ("failed, latest 50", True)):
        ours = pages[name]
        theirs = baseline.list_runs(conn, failed=failed).rows
        if [r["run_id"] for r in ours] != [row[0] for row in theirs]:
            res.mismatches.append(f"{name}: run ids or order differ from the baseline")
            continue
        for run, row in zip(ours, theirs, strict=True):
            llm_calls, cost, tokens_in = row[6], row[7], row[8]
            if (
                run.get("llm_calls") != llm_calls
                or run.get("input_tokens") != tokens_in
                or abs(float(run.get("cost") or 0) - float(str(cost))) > 1e-9
            ):
                res.mismatches.append(
                    f"{name}: run {run['run_id']}: ours llm_calls={run.get('llm_calls')} "
                    f"cost={run.get('cost')} input_tokens={run.get('input_tokens')}, "
                    f"baseline {llm_calls} {cost} {tokens_in}"
                )


def _report(res: Results) -> str:
    def met(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    rate, rss = res.ingest_spans_per_s, res.rss_max_mb
    rows = [
        ("Spans / runs / failed runs", f"{res.spans:,} / {res.runs:,} / {res.failed_runs:,}", "", ""),
        (
            "Ingest, first send -> all runs queryable",
            f"{rate:,.0f} spans/s",
            f">= {TARGET_INGEST:,.0f} spans/s",
            met(rate >= TARGET_INGEST),
        ),
        ("  all acknowledged / all queryable after", f"{res.ack_s:.1f} s / {res.queryable_s:.1f} s", "", ""),
        (
            "Server RSS while loading, max (idle)",
            f"{rss:.0f} MB ({res.rss_idle_mb:.0f} MB)",
            f"<= {TARGET_RSS_MB:.0f} MB",
            met(0 < rss <= TARGET_RSS_MB),
        ),
    ]
    rows.append(
        (
            "GET /health round trip, median (the HTTP floor)",
            f"{res.list_ms.get('floor', float('nan')):.2f} ms",
            "",
            "",
        )
    )
    for name in LISTS:
        ours, theirs = res.list_ms.get(name, float("nan")), res.baseline_ms.get(name, float("nan"))
        speedup = theirs / ours if ours > 0 else float("nan")
        rows += [
            (
                f"GET /runs {name}, HTTP median (p95)",
                f"{ours:.2f} ms ({res.list_p95_ms.get(name, 0):.2f})",
                f"<= {TARGET_LIST_MS:.0f} ms",
                met(ours <= TARGET_LIST_MS),
            ),
            (f"Baseline {name}, median (SQL only)", f"{theirs:,.1f} ms", "", ""),
            (
                f"Speed-up {name}",
                f"{speedup:,.0f}x",
                f">= {TARGET_SPEEDUP:.0f}x",
                met(speedup >= TARGET_SPEEDUP),
            ),
        ]
    same = "yes" if not res.mismatches else f"{len(res.mismatches)} differ"
    rows += [
        (
            "Rejected spans / retried requests",
            f"{res.rejected_spans} / {res.retried_requests}",
            "0 / -",
            met(res.rejected_spans == 0),
        ),
        ("Database on disk", f"{res.db_mb:,.0f} MB", "", ""),
        ("Bodies built before timing", f"{res.bodies}, {res.body_mb:,.0f} MB, {res.build_s:.1f} s", "", ""),
        ("Baseline load (untimed)", f"{res.baseline_load_s:.1f} s", "", ""),
        ("First pages equal the baseline's", same, "yes", met(not res.mismatches)),
    ]
    header = ("Figure", "Value", "Target", "")
    width = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, width, strict=True)) for r in [header, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in width))
    lines += [f"  mismatch: {m}" for m in res.mismatches[:10]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--senders", type=int, default=4, help="concurrent OTLP/HTTP senders")
    parser.add_argument("--batch-spans", type=int, default=2000, help="spans per request body")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per list")
    parser.add_argument("--baseline-repeats", type=int, default=5)
    parser.add_argument("--budget-s", type=float, default=1800, help="give up after this long")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--api-key", action="store_true", help="create an API key first and send it with every request"
    )
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.budget_s
    spec = Spec(spans=args.spans, seed=args.seed, batch_spans=args.batch_spans)
    res = Results()
    work = Path(tempfile.mkdtemp(prefix="tracehound-bench-"))
    try:
        print(f"building {args.spans:,} spans ...", flush=True)
        bodies = build_bodies(spec)
        res.spans, res.runs, res.failed_runs = bodies.stats.spans, bodies.stats.runs, bodies.stats.failed_runs
        res.bodies, res.build_s = len(bodies.bodies), bodies.build_seconds
        res.body_mb = sum(len(b) for b in bodies.bodies) / 1e6
        auth = _create_key(work / "db") if args.api_key else {}
        with (
            harness.server(work, deadline, headers=auth) as running,
            httpx.Client(base_url=running.api, timeout=60, headers=auth) as client,
        ):
            api_url, otlp_url = running.api, running.otlp_http
            res.rss_idle_mb = harness.rss_mb(running.process.pid)
            sampler = harness.RssSampler(running.process.pid)
            sampler.start()
            print(f"sending {res.bodies} bodies from {args.senders} threads ...", flush=True)
            t0 = time.perf_counter()
            _send_all(bodies, otlp_url, args.senders, deadline, res, auth)
            res.ack_s = time.perf_counter() - t0
            _wait_queryable(client, res.runs, deadline)
            res.queryable_s = time.perf_counter() - t0
            sampler.stop_event.set()
            sampler.join()
            res.rss_max_mb = sampler.max_mb
            res.ingest_spans_per_s = res.spans / res.queryable_s
            del bodies
            print("timing GET /runs ...", flush=True)
            pages = _time_lists(api_url, args.requests, res, auth)
            res.db_mb = sum(f.stat().st_size for f in (work / "db").rglob("*") if f.is_file()) / 1e6
        print("loading the baseline ...", flush=True)
        conn = baseline.connect(work / "vllora.db")
        res.baseline_load_s = baseline.load(conn, spec).seconds
        for name, failed in (("latest 50", False), ("failed, latest 50", True)):
            if time.monotonic() > deadline:
                raise harness.BenchError("time budget exhausted before the baseline queries")
            res.baseline_ms[name], _ = baseline.median_ms(
                functools.partial(baseline.list_runs, conn, failed=failed), args.baseline_repeats
            )
        _compare(pages, conn, res)
        conn.close()
    except harness.BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"data kept in {work}")
    print(_report(res))
    if args.json:
        args.json.write_text(json.dumps(asdict(res), indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")  # the server inherits it: a full log if it crashes
    sys.exit(main())
