"""A bounded load test: N OpenTelemetry SDK exporters (half OTLP/gRPC, half OTLP/HTTP) send
LLM-agent spans to a local `tracehound serve` for a few minutes, while API clients query it.

    python bench/load.py            # 8 exporters, 150 s of load, at most 2,000,000 spans
    python bench/load.py --quick    # 4 exporters, 20 s

Everything stays on loopback, and the run is bounded by time (`--duration-s`, `--budget-s`) and
by span count (`--max-spans`). The spans are the demo's four conventions (vLLora gateway and SDK,
OpenInference, GenAI), built once with the SDK and sent again and again with fresh trace, span,
run and thread ids, so every span sent is a new one. Each exporter sends the way a batch span
processor does (512 spans an export, one export at a time); an export the exporter finally
reports failed is sent again, and counted.

The load runs in two halves with an idle window between them, in which only the API clients
run: latency under load is compared with latency at rest on the same server and about the same
amount of data. At the end it checks that the server stored exactly the spans it acknowledged.
See docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import harness
import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext

from tracehound.demo import DemoTracers, SeededIds, generate

PROJECT = "load"
BATCH = 512  # the batch span processor's default export size
ID_ATTRIBUTES = ("vllora.run_id", "vllora.thread_id", "session.id", "gen_ai.conversation.id")
QUERIES = {
    "/runs": "/runs?limit=50",
    "/stats": "/stats?period=last_week",
    "/runs/{id}/bottlenecks": "/runs/{run_id}/bottlenecks",
    "/metrics/timeseries": "/metrics/timeseries?metric=cost&period=last_week&interval=1h",
}


# -- exporters (one process per transport) ----------------------------------------------------


def _template(seed: int) -> list[ReadableSpan]:
    """The demo dataset (~1,300 spans), in the order the SDK ends them: children first."""
    memory = InMemorySpanExporter()
    tracers = DemoTracers(lambda: SimpleSpanProcessor(memory), SeededIds(f"load-{seed}"))
    generate(tracers, seed=seed, now_us=time.time_ns() // 1000)
    tracers.shutdown()
    return list(memory.get_finished_spans())


def _copy(template: list[ReadableSpan], rng: random.Random, tag: str) -> list[ReadableSpan]:
    """The template with fresh ids throughout, so that the server stores every copy."""
    ids: dict[int, int] = {}

    def new(old: int, bits: int) -> int:
        if old not in ids:
            ids[old] = rng.getrandbits(bits) or 1
        return ids[old]

    out = []
    for s in template:
        assert s.context is not None
        attrs = dict(s.attributes or {})
        for key in ID_ATTRIBUTES:
            if key in attrs:
                attrs[key] = f"{attrs[key]}-{tag}"
        trace_id = new(s.context.trace_id, 128)
        context = SpanContext(trace_id, new(s.context.span_id, 64), False, s.context.trace_flags)
        parent = None
        if s.parent is not None:
            parent = SpanContext(
                trace_id, new(s.parent.span_id, 64), s.parent.is_remote, s.parent.trace_flags
            )
        out.append(
            ReadableSpan(
                s.name,
                context,
                parent,
                s.resource,
                attrs,
                s.events,
                (),
                s.kind,
                status=s.status,
                start_time=s.start_time,
                end_time=s.end_time,
                instrumentation_scope=s.instrumentation_scope,
            )
        )
    return out


class _ExporterLog(logging.Handler):
    """Counts what the exporters log: each retry announces an answer such as 503 or
    RESOURCE_EXHAUSTED; each export given up says why."""

    def __init__(self) -> None:
        super().__init__()
        self.codes: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        message = str(record.msg)
        with self.lock_:
            if message.startswith("Transient error") and args:
                self.codes[str(args[0]).removeprefix("StatusCode.")] += 1
            elif message.startswith("Failed to export"):
                # gRPC names the last status; HTTP says it ran out of attempts or time.
                reason = str(args[2]) if len(args) == 4 else message.split(" due to ")[-1].rstrip(".")
                self.failures[reason.removeprefix("StatusCode.")] += 1


def exporter_process(
    transport: str, endpoint: str, count: int, quota: int, until: float, control: Any, results: Any
) -> None:
    """Run `count` exporters over `transport` until `control["stop"]`, `until` (epoch seconds) or
    `quota` spans each. While `control["paused"]` is set they hold off between exports."""
    transient = _ExporterLog()
    logging.getLogger("opentelemetry.exporter").addHandler(transient)
    logging.getLogger("opentelemetry.exporter").setLevel(logging.WARNING)
    logging.getLogger("opentelemetry.exporter").propagate = False
    template = _template(seed=len(transport))
    control[f"ready-{transport}"] = True
    totals: Counter[str] = Counter()
    lock = threading.Lock()

    def run(worker: int) -> None:
        rng = random.Random(f"{transport}-{worker}")
        headers = {"x-project-id": PROJECT}
        if transport == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

            exporter: Any = Grpc(endpoint=endpoint, insecure=True, headers=headers)
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

            exporter = Http(endpoint=f"{endpoint}/v1/traces", headers=headers)
        sent = copies = 0
        while sent < quota and not control["stop"] and time.time() < until:
            copies += 1
            spans = _copy(template, rng, f"{transport}{worker}.{copies}")
            for i in range(0, len(spans), BATCH):
                while control["paused"] and not control["stop"] and time.time() < until:
                    time.sleep(0.05)
                if control["stop"]:
                    break
                batch = spans[i : i + BATCH]
                # Sent again until acknowledged: what an exporter reported failed is not lost
                # by the server, and must land once it is sent again.
                while exporter.export(batch) is not SpanExportResult.SUCCESS:
                    with lock:
                        totals["failed_exports"] += 1
                    time.sleep(1)
                sent += len(batch)
                with lock:
                    totals["acked_spans"] += len(batch)
                    totals["exports"] += 1
                if sent >= quota:
                    break
        exporter.shutdown()

    threads = [threading.Thread(target=run, args=(w,)) for w in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(
        {
            "transport": transport,
            **totals,
            "transient": dict(transient.codes),
            "failures": dict(transient.failures),
        }
    )


# -- API clients --------------------------------------------------------------------------------


@dataclass
class Latencies:
    by_phase: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, phase: str, name: str, ms: float) -> None:
        self.by_phase.setdefault(phase, {}).setdefault(name, []).append(ms)


def api_client(api: str, phase: list[str], stop: threading.Event, out: Latencies, seed: int) -> None:
    rng = random.Random(seed)
    run_ids: list[str] = []
    with httpx.Client(base_url=api, headers={"x-project-id": PROJECT}, timeout=60) as client:
        while not stop.is_set():
            for name, path in QUERIES.items():
                if "{run_id}" in path:
                    if not run_ids:
                        continue
                    path = path.format(run_id=rng.choice(run_ids))
                current = phase[0]
                t0 = time.perf_counter()
                r = client.get(path)
                ms = (time.perf_counter() - t0) * 1000
                if r.status_code != 200:
                    out.errors.append(f"GET {path}: {r.status_code} {r.text[:200]}")
                    continue
                if phase[0] == current:  # a request that straddles two phases counts in neither
                    out.add(current, name, ms)
                if name == "/runs":
                    run_ids = [run["run_id"] for run in r.json()["data"]]


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Results:
    exporters: int = 0
    load_s: float = 0.0
    acked_spans: int = 0
    stored_spans: int = 0
    exports: int = 0
    failed_exports: int = 0  # reported failed by the exporter, then sent again
    refusals: dict[str, int] = field(default_factory=dict)  # answers the exporters retried
    give_ups: dict[str, int] = field(default_factory=dict)  # why exporters reported failure
    ingest_spans_per_s: float = 0.0
    rss_idle_mb: float = 0.0
    rss_max_mb: float = 0.0
    rss_anon_idle_mb: float = 0.0
    rss_anon_max_mb: float = 0.0
    rss_bound_mb: float = 0.0
    server_args: list[str] = field(default_factory=list)
    latency_ms: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    api_errors: list[str] = field(default_factory=list)


def _summarise(lat: Latencies) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for phase, by_name in lat.by_phase.items():
        for name, values in by_name.items():
            if len(values) >= 2:
                p95 = statistics.quantiles(values, n=20)[-1]
                out.setdefault(name, {})[phase] = {
                    "n": len(values),
                    "p50": statistics.median(values),
                    "p95": p95,
                }
    return out


def _report(res: Results) -> str:
    lost = res.acked_spans - res.stored_spans
    lines = [
        f"Exporters: {res.exporters} (half OTLP/gRPC, half OTLP/HTTP), {res.load_s:.0f} s of load",
        f"Server flags: {' '.join(res.server_args) or '(defaults)'}",
        f"Spans acknowledged / stored: {res.acked_spans:,} / {res.stored_spans:,} "
        f"({'zero loss' if lost == 0 else f'{lost:,} LOST'})",
        f"Exports: {res.exports:,}; reported failed and sent again: {res.failed_exports} "
        f"{res.give_ups or ''}",
        f"Refusals the exporters retried: {res.refusals or 'none'}",
        f"Ingest under load: {res.ingest_spans_per_s:,.0f} spans/s",
        f"Server private memory (RssAnon) max (idle): {res.rss_anon_max_mb:.0f} MB "
        f"({res.rss_anon_idle_mb:.0f} MB); bound {res.rss_bound_mb:.0f} MB: "
        f"{'met' if res.rss_anon_max_mb <= res.rss_bound_mb else 'NOT MET'}",
        f"Server VmRSS max (idle), with the database pages mapped for reading: {res.rss_max_mb:.0f} MB "
        f"({res.rss_idle_mb:.0f} MB)",
        "",
        f"{'API query':<24} | {'idle p50 / p95 ms':>18} | {'load p50 / p95 ms':>18} | p95 ratio | n load",
    ]
    for name, phases in res.latency_ms.items():
        idle, load = phases.get("idle"), phases.get("load")
        if idle is None or load is None:
            continue
        lines.append(
            f"{name:<24} | {idle['p50']:>7.1f} / {idle['p95']:>8.1f} | "
            f"{load['p50']:>7.1f} / {load['p95']:>8.1f} | {load['p95'] / idle['p95']:>8.1f}x | "
            f"{load['n']:.0f}"
        )
    lines += [f"API error: {e}" for e in res.api_errors[:5]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--exporters", type=int, default=8, help="concurrent exporters, half of each transport"
    )
    parser.add_argument("--api-clients", type=int, default=2)
    parser.add_argument("--duration-s", type=float, default=150, help="seconds of load (two halves)")
    parser.add_argument("--idle-s", type=float, default=20, help="the idle window between the halves")
    parser.add_argument("--max-spans", type=int, default=2_000_000, help="stop sending after this many")
    parser.add_argument("--rss-bound-mb", type=float, default=400, help="the server's memory bound")
    parser.add_argument(
        "--max-pending-spans",
        type=int,
        default=1024,
        help="the server's queue bound: below what the exporters keep in flight, so that backpressure works",
    )
    parser.add_argument("--quick", action="store_true", help="4 exporters, 20 s of load, 5 s idle")
    parser.add_argument("--budget-s", type=float, default=900, help="give up after this long")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.exporters, args.duration_s, args.idle_s = 4, 20.0, 5.0
    deadline = time.monotonic() + args.budget_s
    res = Results(exporters=args.exporters, rss_bound_mb=args.rss_bound_mb)
    res.server_args = ["--max-pending-spans", str(args.max_pending_spans)] if args.max_pending_spans else []
    work = Path(tempfile.mkdtemp(prefix="tracehound-load-"))
    lat = Latencies()
    try:
        with harness.server(work, deadline, res.server_args) as running:
            res.rss_idle_mb = harness.rss_mb(running.process.pid)
            res.rss_anon_idle_mb = harness.rss_mb(running.process.pid, "RssAnon")
            sampler = harness.RssSampler(running.process.pid)
            sampler.start()
            phase, stop = ["load"], threading.Event()
            clients = [
                threading.Thread(target=api_client, args=(running.api, phase, stop, lat, i))
                for i in range(args.api_clients)
            ]
            mp = multiprocessing.get_context("spawn")
            manager = mp.Manager()
            control = manager.dict(paused=True, stop=False)
            results = mp.Queue()
            half = args.duration_s / 2
            until = time.time() + args.duration_s + args.idle_s + 30  # room for start-up
            quota = args.max_spans // args.exporters
            procs = []
            for transport, endpoint, count in (
                ("grpc", running.otlp_grpc, args.exporters // 2),
                ("http", running.otlp_http, args.exporters - args.exporters // 2),
            ):
                procs.append(
                    mp.Process(
                        target=exporter_process,
                        args=(transport, endpoint, count, quota, until, control, results),
                    )
                )
            for p in procs:
                p.start()
            while not all(control.get(f"ready-{t}") for t in ("grpc", "http")):
                if time.monotonic() > deadline or not all(p.is_alive() for p in procs):
                    raise harness.BenchError("the exporters did not start")
                time.sleep(0.1)
            control["paused"] = False
            for c in clients:
                c.start()
            t0 = time.monotonic()
            time.sleep(half)
            control["paused"] = True
            time.sleep(2)  # exports in flight finish
            phase[0] = "idle"
            time.sleep(args.idle_s)
            phase[0] = "load"
            control["paused"] = False
            time.sleep(half)
            res.load_s = time.monotonic() - t0 - args.idle_s - 2
            control["stop"] = True
            phase[0] = "done"
            for _ in procs:
                totals = results.get(timeout=max(1.0, deadline - time.monotonic()))
                res.acked_spans += totals.get("acked_spans", 0)
                res.exports += totals.get("exports", 0)
                res.failed_exports += totals.get("failed_exports", 0)
                for code, n in totals["transient"].items():
                    res.refusals[f"{totals['transport']} {code}"] = n
                for reason, n in totals["failures"].items():
                    res.give_ups[f"{totals['transport']} {reason}"] = n
            for p in procs:
                p.join(timeout=30)
            stop.set()
            for c in clients:
                c.join()
            sampler.stop_event.set()
            sampler.join()
            res.rss_max_mb, res.rss_anon_max_mb = sampler.max_mb, sampler.max_anon_mb
            res.ingest_spans_per_s = res.acked_spans / res.load_s
            with httpx.Client(base_url=running.api, headers={"x-project-id": PROJECT}, timeout=300) as c:
                res.stored_spans = int(c.get("/spans", params={"limit": 1}).json()["pagination"]["total"])
            manager.shutdown()
    except harness.BenchError as exc:
        print(f"load test failed: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res.latency_ms, res.api_errors = _summarise(lat), lat.errors
    print(_report(res))
    if args.json:
        args.json.write_text(json.dumps(asdict(res), indent=2))
    return 0 if res.acked_spans == res.stored_spans and not lat.errors else 1


if __name__ == "__main__":
    sys.exit(main())
