"""The span-summary benchmark: `GET /spans/summary?thread_ids=T` for one thread of 10,000 spans,
beside the vLLora way of getting the same answer (the baseline), in one run.

    python bench/summary.py                      # = make bench-summary
    python bench/summary.py --thread-spans 2000  # a quick run

The thread is an agent's conversation as vLLora's gateway records it: runs of 2 to 8 model calls
(`cloud_api_invoke > api_invoke > model_call > provider (> tools)`), each request carrying the
conversation so far (a system prompt, the user's question, earlier tool calls and their results,
some of which failed), model outputs that call tools or answer, rate-limited calls, and SDK tool
spans with their outputs. Beside it sit `--background-spans` spans of other threads
(bench/dataset.py). Everything is sent to `tracehound serve` over OTLP/HTTP.

The baseline is what vLLora's data agent does (reference §6.1): fetch every span of the thread
through `GET /spans`, 100 a page, the first page and then the rest six at a time (a browser's
connections per host), and summarise them in the client. Its summary reuses tracehound's pattern
matcher, which is far faster than trying each pattern in turn, so the baseline's time is mostly
the download. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import harness
from analytics import cpu_s, time_get
from dataset import MODELS, SpanRec, Spec, build_bodies, encode_request

from tracehound.analytics.percentiles import nearest_rank
from tracehound.conventions.semantic import detect

TARGET_MS = 200.0
THREAD_ID = "bench-summary-thread"
PAGE = 100  # vLLora's UI page size
BROWSER_CONNECTIONS = 6
MS = 1_000_000  # ns

TOOLS = ("search_flights", "get_weather", "lookup_order", "search_kb", "book_hotel")
FAILURES = (
    "❌ {tool} failed: upstream timeout after 30s",
    "Error: unknown tool '{tool}_v2'",
    "No results found for the given query.",
    "Service unavailable, using cached fallback from 3 days ago.",
)
WORDS = [
    "flight",
    "paris",
    "lyon",
    "departure",
    "arrival",
    "terminal",
    "gate",
    "seat",
    "economy",
    "business",
    "fare",
    "euro",
    "total",
    "hotel",
    "room",
    "night",
    "breakfast",
    "check",
    "order",
    "shipped",
    "delivered",
    "weather",
    "sunny",
    "cloudy",
    "wind",
    "rain",
    "article",
    "answer",
    "policy",
    "refund",
    "baggage",
    "allowance",
    "connection",
    "duration",
    "layover",
    "airline",
]
SYSTEM = "You are a travel assistant. " + " ".join(WORDS * 8)  # about 1,500 characters


class ThreadGen:
    """Deterministic runs of one thread, children before parents."""

    def __init__(self, seed: int, start_ns: int) -> None:
        self.rng = random.Random(seed)
        self.t = start_ns
        self.spans = 0

    def sid(self) -> bytes:
        return (self.rng.getrandbits(64) | 1).to_bytes(8, "big")

    def text(self, lo: int, hi: int) -> str:
        n = self.rng.randint(lo, hi) // 7
        return " ".join(self.rng.choice(WORDS) for _ in range(n))

    def tool_result(self, tool: str) -> str:
        if self.rng.random() < 0.12:
            return self.rng.choice(FAILURES).format(tool=tool)
        return json.dumps({"tool": tool, "result": self.text(200, 1200)})

    def run(self) -> list[SpanRec]:
        rng, out = self.rng, list[SpanRec]()
        trace, root = rng.getrandbits(128).to_bytes(16, "big"), self.sid()
        run_id = f"run-{rng.getrandbits(48):012x}"
        base = (("vllora.run_id", run_id), ("vllora.thread_id", THREAD_ID), ("vllora.tenant", "default"))
        provider, model, usd_in, usd_out, _ = rng.choice(MODELS)
        qualified = f"{provider}/{model}"
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": self.text(40, 200)},
        ]
        start = self.t
        calls = rng.randint(2, 8)
        for i in range(calls):
            last = i == calls - 1
            tools = [] if last else rng.sample(TOOLS, rng.randint(1, 2))
            self.gateway_call(out, trace, root, base, qualified, provider, (usd_in, usd_out), messages, tools)
            if tools and rng.random() < 0.3:
                for tool in tools:  # the SDK's own tool span, with the result it returned
                    end = self.t + rng.randint(50, 900) * MS
                    attrs = (("openinference.span.kind", "TOOL"), ("tool.name", tool))
                    output = (("output.value", self.tool_result(tool)),)
                    out.append(
                        SpanRec(trace, self.sid(), root, "tool", 1, self.t, end, base, attrs + output, None)
                    )
                    self.t = end
        out.append(SpanRec(trace, root, None, "run", 2, start, self.t + MS, base, (), None))
        self.t += rng.randint(5, 120) * 1000 * MS
        self.spans += len(out)
        return out

    def gateway_call(
        self,
        out: list[SpanRec],
        trace: bytes,
        parent: bytes,
        base: tuple[tuple[str, str], ...],
        model: str,
        provider: str,
        prices: tuple[float, float],
        messages: list[dict[str, Any]],
        tools: list[str],
    ) -> None:
        rng = self.rng
        cai, ai, mc, pv = self.sid(), self.sid(), self.sid(), self.sid()
        request = json.dumps({"model": model, "messages": messages})
        tin, tout, ttft = len(request) // 4, rng.randint(20, 400), rng.randint(150_000, 1_800_000)
        t0 = self.t
        pv_end = t0 + 3 * MS + ttft * 1000 + tout * 15 * MS
        failed = rng.random() < 0.03
        if tools:
            calls = [
                {
                    "id": f"call_{rng.getrandbits(32):08x}",
                    "type": "function",
                    "function": {"name": t, "arguments": '{"q": "paris"}'},
                }
                for t in tools
            ]
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": calls}
        else:
            message = {"role": "assistant", "content": self.text(100, 800)}
        cost = (tin * prices[0] + tout * prices[1]) / 1e6
        usage = json.dumps({"input_tokens": tin, "output_tokens": tout, "total_tokens": tin + tout})
        if failed:
            err: tuple[tuple[str, Any], ...] = (("error", "Rate limit reached for requests"),)
            mc_attrs, ai_attrs, pv_attrs = err, (("request", request), *err), err
        else:
            cost_obj = json.dumps({"cost": cost, "per_input_token": prices[0], "per_output_token": prices[1]})
            mc_attrs = (("usage", usage), ("ttft", ttft), ("cost", cost_obj), ("output", json.dumps(message)))
            ai_attrs = (
                ("request", request),
                ("usage", usage),
                ("cost", repr(cost)),
                ("response", message["content"] or json.dumps(message["tool_calls"])),
            )
            pv_attrs = (("usage", usage), ("ttft", ttft), ("cost", repr(cost)), ("retries_left", 0))
        mc_attrs = (("model_name", model), ("provider_name", provider), *mc_attrs)
        if tools and not failed:
            names = ",".join(tools)
            out.append(
                SpanRec(
                    trace,
                    self.sid(),
                    pv,
                    "tools",
                    1,
                    pv_end - MS,
                    pv_end,
                    base,
                    (("tool.name", names), ("tool_calls", json.dumps(calls))),
                    None,
                )
            )
        status = "rate limited" if failed and rng.random() < 0.5 else None
        out.append(SpanRec(trace, pv, mc, provider, 3, t0 + 3 * MS, pv_end, base, pv_attrs, status))
        out.append(SpanRec(trace, mc, ai, "model_call", 1, t0 + 2 * MS, pv_end + MS, base, mc_attrs, None))
        out.append(SpanRec(trace, ai, cai, "api_invoke", 1, t0 + MS, pv_end + 2 * MS, base, ai_attrs, None))
        cai_attrs = (("http.request.method", "POST"), ("status", 429 if failed else 200))
        out.append(
            SpanRec(trace, cai, parent, "cloud_api_invoke", 2, t0, pv_end + 3 * MS, base, cai_attrs, None)
        )
        self.t = pv_end + 4 * MS
        if not failed:
            messages.append(message)
            for call in message.get("tool_calls") or ():
                result = self.tool_result(call["function"]["name"])
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})


def thread_bodies(spans: int, seed: int) -> tuple[list[bytes], int]:
    gen = ThreadGen(seed, time.time_ns() - 3 * 86_400 * 10**9)
    bodies, pending = [], list[list[SpanRec]]()
    while gen.spans < spans:
        pending.append(gen.run())
        if sum(map(len, pending)) >= 1000:
            bodies.append(encode_request(pending))
            pending = []
    if pending:
        bodies.append(encode_request(pending))
    return bodies, gen.spans


def post_all(otlp_url: str, bodies: list[bytes]) -> None:
    parsed = urllib.parse.urlparse(otlp_url)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)
    for body in bodies:
        for _ in range(100):
            conn.request("POST", "/v1/traces", body, {"content-type": "application/x-protobuf"})
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                break
            if response.status not in (429, 503):
                raise SystemExit(f"POST /v1/traces: HTTP {response.status}")
            time.sleep(0.2)
    conn.close()


# -- the baseline: every span downloaded, summarised in the client (vLLora's UI, reference §6.1) --


def fetch_all(api_url: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    parsed = urllib.parse.urlparse(api_url)

    def page(offset: int) -> dict[str, Any]:
        conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)
        conn.request(
            "GET", f"/spans?threadIds={THREAD_ID}&limit={PAGE}&offset={offset}", headers=headers or {}
        )
        response = conn.getresponse()
        raw = response.read()
        conn.close()
        if response.status != 200:
            raise harness.BenchError(f"GET /spans: HTTP {response.status}: {raw[:300]!r}")
        body: dict[str, Any] = json.loads(raw)
        return body

    first = page(0)
    total = first["pagination"]["total"]
    with ThreadPoolExecutor(BROWSER_CONNECTIONS) as pool:
        rest = list(pool.map(page, range(PAGE, total, PAGE)))
    return [s for p in (first, *rest) for s in p["data"]]


def _json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def client_summary(spans: list[dict[str, Any]]) -> dict[str, Any]:
    """vLLora's fetch_spans_summary arithmetic, quirks included (reference §6.1)."""
    ops: Counter[str] = Counter()
    errors, latencies, ttfts, semantic, tool_errors = [], [], [], [], []
    cost = tokens_in = tokens_out = total_ms = 0.0
    for s in spans:
        a, op = s["attribute"], s["operation_name"]
        ops[op] += 1
        ms = round((s["finish_time_us"] - s["start_time_us"]) / 1000)
        total_ms += ms
        if a.get("error"):
            errors.append(s["span_id"])
        ttft = int(a["ttft"]) if "ttft" in a else 0
        if ttft > 0:
            ttfts.append(ttft / 1000 if ttft > 1_000_000 else ttft)
        usage = _json(a.get("usage")) or {}
        if op == "model_call" and isinstance(usage, dict):
            tokens_in += usage.get("input_tokens", 0)
            tokens_out += usage.get("output_tokens", 0)
        if op == "api_invoke":
            cost += float(a.get("cost") or 0)
            if ms > 0:
                latencies.append(ms)
            text = a.get("response")
            if isinstance(text, str) and detect(text):
                semantic.append(s["span_id"])
            request = _json(a.get("request")) or {}
            for m in request.get("messages", ()) if isinstance(request, dict) else ():
                if m.get("role") == "tool" and isinstance(m.get("content"), str) and detect(m["content"]):
                    tool_errors.append(s["span_id"])
    latencies.sort()
    ttfts.sort()
    return {
        "total_spans": len(spans),
        "by_operation": dict(ops),
        "errors": len(errors),
        "total_duration_ms": total_ms,
        "total_cost": cost,
        "tokens": (tokens_in, tokens_out),
        "latency": [nearest_rank(latencies, p) for p in (50, 95, 99)],
        "ttft": [nearest_rank(ttfts, p) for p in (50, 95)],
        "semantic": len(semantic),
        "tool_call_errors": len(tool_errors),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--thread-spans", type=int, default=10_000)
    parser.add_argument("--background-spans", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--baseline-repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tracehound-summary-"))
    results: dict[str, Any] = {}
    try:
        bodies, results["thread_spans"] = thread_bodies(args.thread_spans, args.seed)
        results["thread_bytes"] = sum(map(len, bodies))
        background = build_bodies(Spec(spans=args.background_spans)) if args.background_spans else None
        with harness.server(work, time.monotonic() + 1800) as running:
            proc, api_url, otlp_url = running.process, running.api, running.otlp_http
            if background is not None:
                print(f"sending {background.stats.spans:,} background spans ...", flush=True)
                post_all(otlp_url, background.bodies)
            print(
                f"sending the thread: {results['thread_spans']:,} spans, "
                f"{results['thread_bytes'] / 1e6:.1f} MB of OTLP ...",
                flush=True,
            )
            post_all(otlp_url, bodies)
            parsed = urllib.parse.urlparse(api_url)
            conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)
            results["floor_ms"] = time_get(conn, "/health", args.requests)[0]
            cpu0 = cpu_s(proc.pid)
            median, p95, body = time_get(conn, f"/spans/summary?thread_ids={THREAD_ID}", args.requests)
            cpu_ms = (cpu_s(proc.pid) - cpu0) * 1000 / (args.requests + 6)  # time_get's warm-ups too
            typed = time_get(conn, f"/spans/summary?thread_ids={THREAD_ID}&semantic=false", args.requests)
            results["typed_only"] = {"median_ms": typed[0], "p95_ms": typed[1]}
            conn.close()
            results["summary"] = {
                "median_ms": median,
                "p95_ms": p95,
                "server_cpu_ms": cpu_ms,
                "response_bytes": len(json.dumps(body)),
            }
            results["summary_body"] = {k: body[k] for k in ("total_spans", "by_status", "semantic_scan")}
            fetch_times, total_times = [], []
            for _ in range(args.baseline_repeats):
                t0 = time.perf_counter()
                spans = fetch_all(api_url)
                t1 = time.perf_counter()
                client = client_summary(spans)
                t2 = time.perf_counter()
                fetch_times.append((t1 - t0) * 1000)
                total_times.append((t2 - t0) * 1000)
            results["baseline"] = {
                "fetch_median_ms": statistics.median(fetch_times),
                "median_ms": statistics.median(total_times),
                "spans": len(spans),
                "downloaded_bytes": len(json.dumps(spans)),
            }
            if client["total_spans"] != body["total_spans"]:
                raise SystemExit(f"span counts differ: {client['total_spans']} vs {body['total_spans']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    s, b = results["summary"], results["baseline"]
    print(
        f"\nthread: {results['thread_spans']:,} spans; background {args.background_spans:,}; "
        f"HTTP floor {results['floor_ms']:.2f} ms"
    )
    print(f"summary as tracehound sends it: {results['summary_body']}")
    print(
        f"server CPU per summary request: {s['server_cpu_ms']:.1f} ms; load average {os.getloadavg()[0]:.2f}"
    )
    met = "met" if s["median_ms"] <= TARGET_MS else "NOT MET"
    print(
        f"GET /spans/summary   median {s['median_ms']:8.1f} ms  p95 {s['p95_ms']:8.1f} ms  "
        f"({s['response_bytes']:,} bytes)  target {TARGET_MS:.0f} ms: {met}"
    )
    t = results["typed_only"]
    print(f"  semantic=false     median {t['median_ms']:8.1f} ms  p95 {t['p95_ms']:8.1f} ms  (typed only)")
    print(
        f"baseline (vLLora)    median {b['median_ms']:8.1f} ms  "
        f"of which download {b['fetch_median_ms']:.1f} ms "
        f"({b['downloaded_bytes']:,} bytes in {-(-b['spans'] // PAGE)} pages)"
    )
    print(
        f"speed-up: {b['median_ms'] / s['median_ms']:.1f}x (download alone: "
        f"{b['fetch_median_ms'] / s['median_ms']:.1f}x)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        sys.exit(main())
    except harness.BenchError as exc:
        sys.exit(f"benchmark failed: {exc}")
