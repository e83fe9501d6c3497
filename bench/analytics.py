"""The analytics benchmark: `/stats`, `/metrics/timeseries` and `/runs/{id}/bottlenecks` on the
benchmark's million spans, each beside the query-time JSON aggregation that vLLora's schema
forces (the baseline), in one run.

    python bench/analytics.py                  # 1,000,000 spans
    python bench/analytics.py --spans 100000   # a quick run
    python bench/analytics.py --data-dir /tmp/th-1m --baseline-repeats 0
        # keep the store in /tmp/th-1m and reuse it on the next run; no baseline

The spans are written into a fresh data directory in-process, through the same normalising code
and store the server uses (this benchmark times queries, not ingest; bench/run.py times ingest).
Then `tracehound serve` starts on that directory, a 2,000-span run is sent to it over OTLP/gRPC
by the OpenTelemetry SDK, and each endpoint is timed through HTTP. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import baseline
import harness
from dataset import Spec, build_bodies

from tracehound.analytics.percentiles import percentiles
from tracehound.otlp.limits import Limits
from tracehound.otlp.normalizing import normalize_body
from tracehound.storage import StoreConfig, open_store

TARGETS_MS = {"stats": 20.0, "timeseries": 30.0, "bottlenecks": 30.0}
DAY_US = 86_400 * 1_000_000
HOUR_US = 3_600 * 1_000_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def load_store(data_dir: Path, spec: Spec, database_url: str | None = None) -> int:
    bodies = build_bodies(spec)
    write_bodies(data_dir, bodies.bodies, database_url)
    return bodies.stats.spans


def write_bodies(data_dir: Path, bodies: list[bytes], database_url: str | None = None) -> None:
    """OTLP protobuf bodies through the server's decoding, mapping and writer, in-process: into
    SQLite under `data_dir`, or the PostgreSQL database `database_url`."""
    store = open_store(StoreConfig(url=database_url, data_dir=data_dir))
    batch: list[Any] = []
    try:
        for body in bodies:
            batch += normalize_body(body, "application/x-protobuf", None, None, Limits()).spans
            if len(batch) >= 20_000:
                store.write(batch)
                batch = []
        store.write(batch)
    finally:
        store.close()


def send_big_run(grpc_port: int, spans: int, run_id: str, headers: dict[str, str] | None = None) -> str:
    """One run of `spans` spans: an agent looping over LLM calls and tool calls, some tools in
    parallel, sent the way an SDK sends it."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import set_span_in_context

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    base = time.time_ns() - 3_600 * 10**9
    ms = 1_000_000
    attrs = {"vllora.run_id": run_id}
    root = tracer.start_span("run", attributes=attrs, start_time=base)
    ctx = set_span_in_context(root)
    t, made = base + ms, 1
    while made < spans - 1:
        llm = tracer.start_span(
            "chat gpt-4o-mini",
            context=ctx,
            start_time=t,
            attributes={
                **attrs,
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 500,
                "gen_ai.usage.output_tokens": 80,
            },
        )
        t += 400 * ms
        llm.end(end_time=t)
        tools = []
        for k in range(min(2, spans - 1 - made - 1)):
            tool = tracer.start_span(
                "execute_tool search",
                context=ctx,
                start_time=t + k * 5 * ms,
                attributes={**attrs, "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
            )
            tools.append((tool, t + (150 + 40 * k) * ms))
        for tool, end in tools:
            tool.end(end_time=end)
        t += 200 * ms
        made += 1 + len(tools)
    root.end(end_time=t + ms)
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{grpc_port}", insecure=True, headers=headers)
    finished = list(memory.get_finished_spans())
    for i in range(0, len(finished), 500):
        exporter.export(finished[i : i + 500])
    exporter.shutdown()
    return run_id


def cpu_s(pid: int) -> float:
    """CPU time (user + system) the process has used: less swayed than wall time by whatever
    else the machine runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_get(
    conn: http.client.HTTPConnection, path: str, requests: int, headers: dict[str, str] | None = None
) -> tuple[float, float, Any]:
    """Median and p95 (ms) of `requests` GETs after 5 warm-ups, and the last answer."""

    def get() -> bytes:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise harness.BenchError(f"GET {path}: HTTP {response.status}: {body[:300]!r}")
        return body

    for _ in range(5):
        get()
    times = []
    for _ in range(requests):
        t0 = time.perf_counter()
        get()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), statistics.quantiles(times, n=20)[-1], json.loads(get())


# -- the baseline: vLLora's schema, aggregated at query time --------------------------------------

_RUNS_SINCE = baseline._AGGREGATE.replace(
    "GROUP BY run_id", "GROUP BY run_id HAVING MIN(start_time_us) >= :since"
)


def baseline_stats(conn: sqlite3.Connection, since_us: int) -> dict[str, Any]:
    """/stats?period=last_day the vLLora way: aggregate every run from its spans, then summarise."""
    rows = conn.execute(_RUNS_SINCE, {"project": baseline.PROJECT, "since": since_us}).fetchall()
    durations = [(r[11] - r[10]) / 1000 for r in rows]
    by_model = conn.execute(
        """SELECT json_extract(attribute, '$.model_name') AS model, COUNT(*),
               SUM(json_extract(attribute, '$.error') IS NOT NULL),
               SUM(json_extract(json_extract(attribute, '$.cost'), '$.cost'))
           FROM traces WHERE project_id = :project AND operation_name = 'model_call'
               AND start_time_us >= :since GROUP BY model""",
        {"project": baseline.PROJECT, "since": since_us},
    ).fetchall()
    return {
        "runs": len(rows),
        "cost": sum(r[7] or 0 for r in rows),
        "failed": sum(1 for r in rows if r[12]),
        "percentiles": percentiles(durations, (50, 90, 95, 99)),
        "by_model": len(by_model),
    }


def baseline_timeseries(conn: sqlite3.Connection, since_us: int) -> int:
    """Hourly cost over the last week the vLLora way."""
    rows = conn.execute(
        f"SELECT start_time_us / {HOUR_US} AS bucket, SUM(cost) FROM ({_RUNS_SINCE}) GROUP BY bucket",
        {"project": baseline.PROJECT, "since": since_us},
    ).fetchall()
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--baseline-repeats", type=int, default=3)
    parser.add_argument("--big-run-spans", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the store here, and reuse the one a previous run left (its spans and clock)",
    )
    parser.add_argument(
        "--database-url",
        help="an empty PostgreSQL database (postgresql://...) to use instead of SQLite; "
        "with --data-dir, the one a previous run left in it is reused",
    )
    args = parser.parse_args(argv)
    work = args.data_dir or Path(tempfile.mkdtemp(prefix="tracehound-analytics-"))
    work.mkdir(parents=True, exist_ok=True)
    kept = work / "spec.json"
    results: dict[str, Any] = {}
    proc = None
    try:
        if args.data_dir is not None and kept.is_file():
            saved = json.loads(kept.read_text())
            spec = Spec(spans=saved["spans"], now_ns=saved["now_ns"])
            results["spans"], results["load_s"] = saved["written"], saved["load_s"]
            print(f"reusing the {results['spans']:,} spans in {work}", flush=True)
        else:
            spec = Spec(spans=args.spans)
            print(f"writing {args.spans:,} spans into a store ...", flush=True)
            t0 = time.perf_counter()
            results["spans"] = load_store(work / "db", spec, args.database_url)
            results["load_s"] = time.perf_counter() - t0
            if args.data_dir is not None:
                saved = {"spans": args.spans, "now_ns": spec.now_ns, "written": results["spans"]}
                kept.write_text(json.dumps({**saved, "load_s": results["load_s"]}))
        port, grpc_port, http_port = _free_port(), _free_port(), _free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tracehound",
                "serve",
                "--port",
                str(port),
                "--otlp-grpc-port",
                str(grpc_port),
                "--otlp-http-port",
                str(http_port),
                "--data-dir",
                str(work / "db"),
                "--log-level",
                "warning",
                *(["--database-url", args.database_url] if args.database_url else []),
            ],
        )
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(300):
            try:
                conn.request("GET", "/health")
                conn.getresponse().read()
                break
            except OSError:
                conn.close()
                time.sleep(0.1)
        print(f"sending a {args.big_run_spans:,}-span run ...", flush=True)
        # A store kept from an earlier run already holds that run's big run.
        run_id = send_big_run(grpc_port, args.big_run_spans, f"bench-big-run-{time.time_ns()}")
        conn.close()  # the server may have closed it, idle while the run was sent; reopened on use
        paths = {
            "stats": "/stats?period=last_day",
            "timeseries": "/metrics/timeseries?metric=cost&interval=1h&period=last_week",
            "bottlenecks": f"/runs/{run_id}/bottlenecks",
            # No target of its own; the durations' percentiles cost more than the sums.
            "timeseries_p95": "/metrics/timeseries?metric=duration_p95&interval=1h&period=last_week",
        }
        floor = time_get(conn, "/health", args.requests)
        results["floor_ms"] = floor[0]
        results["load_average"] = os.getloadavg()[0]
        for name, path in paths.items():
            cpu0 = cpu_s(proc.pid)
            median, p95, body = time_get(conn, path, args.requests)
            cpu_ms = (cpu_s(proc.pid) - cpu0) * 1000 / (args.requests + 6)  # time_get's warm-ups too
            results[name] = {"median_ms": median, "p95_ms": p95, "server_cpu_ms": cpu_ms}
            if name == "bottlenecks":
                results[name]["span_count"] = body.get("span_count")
            print(
                f"  {path}: median {median:.2f} ms (p95 {p95:.2f}), server CPU {cpu_ms:.1f} ms a request",
                flush=True,
            )
        conn.close()
        if args.baseline_repeats <= 0:
            return _report(results, args.json)
        print("loading the baseline ...", flush=True)
        base = baseline.connect(work / "vllora.db")
        baseline.load(base, spec)
        now_us = time.time_ns() // 1000
        for name, fn in (
            ("stats", functools.partial(baseline_stats, base, now_us - DAY_US)),
            ("timeseries", functools.partial(baseline_timeseries, base, now_us - 7 * DAY_US)),
        ):
            results[name]["baseline_ms"], _ = baseline.median_ms(fn, args.baseline_repeats)
        base.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        if args.data_dir is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            (work / "vllora.db").unlink(missing_ok=True)
    return _report(results, args.json)


def _report(results: dict[str, Any], json_path: Path | None) -> int:
    print(
        f"\nspans {results['spans']:,} (written in {results['load_s']:.0f} s); HTTP floor "
        f"{results['floor_ms']:.2f} ms; load average {results['load_average']:.2f}"
    )
    print(f"{'endpoint':12} | {'median':>9} | {'p95':>9} | {'target':>7} | {'baseline':>11} | speed-up")
    for name, target in TARGETS_MS.items():
        r = results[name]
        base_ms = r.get("baseline_ms")
        ratio = f"{base_ms / r['median_ms']:,.0f}x" if base_ms else "no baseline"
        met = "met" if r["median_ms"] <= target else "NOT MET"
        print(
            f"{name:12} | {r['median_ms']:7.2f}ms | {r['p95_ms']:7.2f}ms | {target:5.0f}ms | "
            f"{(f'{base_ms:,.0f} ms' if base_ms else '-'):>11} | {ratio} ({met})"
        )
    if json_path:
        json_path.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        sys.exit(main())
    except harness.BenchError as exc:
        sys.exit(f"benchmark failed: {exc}")
