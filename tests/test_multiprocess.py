"""Three `serve` processes on one PostgreSQL database, fed at the same moment by the OTel SDK's
real exporters (gRPC and HTTP), one of them SIGKILLed mid-ingest. Afterwards the two survivors
must give identical answers on every read endpoint, equal to the answers of one SQLite process
fed the same spans one export after another, and the runs must cost what the traces were built
to cost; `tracehound check` must find every rollup in agreement with the spans.

How the spans travel (what a load balancer in front of three replicas does to them):
- every trace is split: its children (model_call, provider and tools spans, which carry usage)
  go to one process, its parents (api_invoke, an agent span with usage of its own, the root) to
  another, so the cost ancestor rule has to take usage back out across processes;
- the exporters (one per process and protocol) start each step together, and a step holds both
  halves of its traces: half the traces' parents race their children (wave 1); the other half's
  parents are sent in wave 2, once every export of wave 1 was acknowledged: late parents;
- every third export is also sent, in the same step, to another process over the other protocol
  (an exporter retry landing at another replica): duplicates;
- threads, labels and models cut across the traces, so most rollup rows get spans from all three
  processes;
- process C is SIGKILLed once half of its wave-1 exports are acknowledged. Every export it did not
  acknowledge (failed, in flight or not sent yet) is re-sent to a survivor, as a load balancer's
  retry would be; those C committed before dying come back as duplicates.
Meanwhile a reader asks every live process for /stats, so that each caches hour parts that the
other processes' writes must invalidate.

This test fails when the writer takes no trace locks (a parent and its child committed at once
both count) or stamps no hours (a survivor serves stale hour parts)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.conftest import Server, get_json, start_server
from tests.processes import descendants, outlived
from tests.shapes import gateway_call
from tests.spans import SpanFactory, Via
from tests.test_cli import cli

TRACES = 36
THREADS = 5
LABELS = ("plan", "search", "book")
MODELS = ("openai/gpt-4o-mini", "anthropic/claude-3-haiku", "openai/gpt-4o")
TRACES_PER_STEP = 6  # two per process: an export touches two traces
VICTIM = 2  # the index of the process that is SIGKILLed
PARENT_OPS = frozenset({"run", "invoke_agent", "cloud_api_invoke", "api_invoke"})
EXPORT_TIMEOUT_S = 3.0


@dataclass
class Trace:
    run_id: str
    thread_id: str
    children: list[ReadableSpan]
    parents: list[ReadableSpan]
    home: int  # the process its children go to; its parents go to the next one
    late: bool  # parents sent in wave 2
    cost: float
    input_tokens: int
    output_tokens: int


@dataclass
class Export:
    index: int
    spans: list[ReadableSpan]
    target: int
    via: Via
    acked_by: int | None = None

    @property
    def survivor(self) -> int:
        """Where a load balancer sends it when the victim is gone."""
        return self.index % 2


def cost_of(i: int, j: int) -> float:
    # Multiples of 2⁻¹⁰: every sum of them is exact in a double, in any order, so answers built
    # from additions committed in different orders by different processes compare with ==.
    return (1 + (5 * i + 3 * j) % 11) / 1024


def build_traces(factory: SpanFactory, now_s: float) -> list[Trace]:
    traces: list[Trace] = []
    for i in range(TRACES):
        run_id = f"run-{i:02d}-{uuid.uuid4().hex[:6]}"
        thread_id = f"thread-{i % THREADS}"
        label = LABELS[(i // 3) % len(LABELS)]
        model = MODELS[(i // 2) % len(MODELS)]
        # Distinct run starts (no ordering ties) spread over five hours: several hour parts.
        t = factory.trace(int((now_s - 120 - (i % 5) * 3600 - 7 * i) * 1e9))
        base = {"vllora.run_id": run_id, "vllora.thread_id": thread_id}
        root = t.span("run", 0, 5000, attrs=base)
        shape = i % 3
        calls = [(cost_of(i, j), 10 + i + j, 20 + 2 * i + j) for j in range(1 if shape == 2 else 2)]
        cost = sum(c for c, _, _ in calls)
        tokens_in = sum(n for _, n, _ in calls)
        tokens_out = sum(n for _, _, n in calls)
        parent = root
        if shape == 1:
            # An agent span billing more than its calls: only its usage may count.
            cost, tokens_in, tokens_out = 2 * cost + 1 / 256, 2 * tokens_in + 1, 2 * tokens_out + 1
            parent = t.span(
                "invoke_agent",
                5,
                4900,
                parent=root,
                attrs={
                    **base,
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.usage.input_tokens": tokens_in,
                    "gen_ai.usage.output_tokens": tokens_out,
                    "gen_ai.usage.cost": cost,
                },
            )
        for j, (call_cost, n_in, n_out) in enumerate(calls):
            gateway_call(
                t,
                parent,
                10 + 2000 * j,
                1900 + 2000 * j,
                run_id=run_id,
                thread_id=thread_id,
                model=model,
                cost=call_cost,
                input_tokens=n_in,
                output_tokens=n_out,
                label=label,
                title=f"Plan trip number {i % THREADS}",  # one title per thread: first-come is any
                error="rate limited" if shape == 2 else None,
                tool="search_flights" if shape == 2 or j == 1 else None,
            )
        spans = factory.finished(t)
        factory.memory.clear()
        traces.append(
            Trace(
                run_id,
                thread_id,
                children=[s for s in spans if s.name not in PARENT_OPS],
                parents=[s for s in spans if s.name in PARENT_OPS],
                home=i % 3,
                late=(i // TRACES_PER_STEP) % 2 == 1,
                cost=cost,
                input_tokens=tokens_in,
                output_tokens=tokens_out,
            )
        )
    return traces


Wave = list[list[Export]]  # steps, each the exports every exporter starts at one moment


def plan_waves(traces: list[Trace]) -> list[Wave]:
    """Each step of a wave holds the halves of TRACES_PER_STEP traces: the children of each over
    gRPC to its home process, its parents (in wave 1, or in wave 2 when late) over HTTP to the
    next; the two halves of a trace in one step, so that they reach two processes at the same
    moment. An export holds the halves of two traces bound for the same process."""
    steps: dict[tuple[int, int], dict[tuple[int, Via], list[ReadableSpan]]] = {}
    for i, t in enumerate(traces):
        step = i // TRACES_PER_STEP
        lanes = steps.setdefault((0, step), {})
        lanes.setdefault((t.home, "grpc"), []).extend(t.children)
        lanes = steps.setdefault((1 if t.late else 0, step), {})
        lanes.setdefault(((t.home + 1) % 3, "http"), []).extend(t.parents)
    waves: list[Wave] = [[], []]
    n = 0
    for (wave, _), lanes in sorted(steps.items()):
        exports = []
        for (target, via), spans in sorted(lanes.items()):
            exports.append(Export(n, spans, target, via))
            if n % 3 == 0:  # the same export, re-sent at once to another replica
                other: Via = "http" if via == "grpc" else "grpc"
                exports.append(Export(n + 1, spans, (target + 2) % 3, other))
            n += 2
        waves[wave].append(exports)
    return waves


@dataclass
class Cluster:
    servers: list[Server]
    factories: list[SpanFactory]
    killed: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)

    def deliver(self, e: Export) -> None:
        """Send until some process acknowledges: a failure at the victim goes to a survivor."""
        target = e.target
        for _ in range(3):
            if self.errors:  # another export already failed the test: stop soon
                return
            if target == VICTIM and self.killed.is_set():
                target = e.survivor
            try:
                result = self.factories[target].export(e.spans, e.via, timeout=EXPORT_TIMEOUT_S)
            except Exception:  # the connection died with the process
                result = SpanExportResult.FAILURE
            if result == SpanExportResult.SUCCESS:
                e.acked_by = target
                return
            if target == VICTIM:
                target = e.survivor
        self.errors.append(f"export {e.index} never acknowledged")


def send_all(cluster: Cluster, waves: list[Wave], wave_1_sent: Callable[[], None]) -> None:
    """One exporter per (process, protocol), all starting each step together; wave 2 after all
    of wave 1 was acknowledged."""
    lanes = sorted({(t, v) for t in range(3) for v in ("grpc", "http")})
    step = threading.Barrier(len(lanes), timeout=60)
    wave_end = threading.Barrier(len(lanes), action=wave_1_sent, timeout=60)

    def lane(target: int, via: Via) -> None:
        try:
            for wave_no, wave in enumerate(waves):
                for exports in wave:
                    step.wait()
                    for e in exports:
                        if (e.target, e.via) == (target, via):
                            cluster.deliver(e)
                if wave_no == 0:
                    wave_end.wait()
        except Exception as exc:
            cluster.errors.append(repr(exc))
            step.abort()
            wave_end.abort()

    threads = [threading.Thread(target=lane, args=key, daemon=True) for key in lanes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not any(t.is_alive() for t in threads), "an exporter hangs"


def kill_victim(cluster: Cluster, wave_1: Wave) -> list[tuple[int, int]]:
    """SIGKILL the victim once half of its wave-1 exports are acknowledged; its processes."""
    mine = [e for exports in wave_1 for e in exports if e.target == VICTIM]
    deadline = time.monotonic() + 60
    while sum(e.acked_by == VICTIM for e in mine) < len(mine) // 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    victim = cluster.servers[VICTIM].process
    started = descendants(victim.pid)
    os.kill(victim.pid, signal.SIGKILL)
    cluster.killed.set()
    victim.wait(timeout=30)
    return started


def poll_stats(cluster: Cluster, project: str, end: str, stop: threading.Event) -> None:
    """Read /stats from every live process while others write: hour parts get cached."""
    while not stop.is_set():
        for i, server in enumerate(cluster.servers):
            if i == VICTIM and cluster.killed.is_set():
                continue
            with contextlib.suppress(httpx.HTTPError):  # the victim, dying
                httpx.get(
                    f"{server.api}/stats",
                    params={"period": "last_day", "end": end},
                    headers={"x-project-id": project},
                    timeout=5,
                )
        time.sleep(0.05)


def pages(api: httpx.Client, path: str, params: dict[str, Any], limit: int) -> dict[str, Any]:
    """Every page of a list, and the total each page reported."""
    data: list[Any] = []
    totals: list[int] = []
    offset = 0
    while True:
        page = get_json(api, path, {**params, "limit": limit, "offset": offset})
        data += page["data"]
        totals.append(page["pagination"]["total"])
        offset += limit
        if offset >= page["pagination"]["total"]:
            return {"data": data, "totals": totals}


def answers(server: Server, project: str, start: str, end: str) -> dict[str, Any]:
    """What a process answers on every read endpoint, for one fixed window."""
    window = {"start": start, "end": end}
    out: dict[str, Any] = {}
    with server.client(project) as api:
        runs = pages(api, "/runs", {"period": "all"}, 10)
        out["/runs"] = runs
        out["/runs?sort_by=cost"] = pages(api, "/runs", {"period": "all", "sort_by": "cost"}, 25)
        out["/runs?status=failed"] = pages(api, "/runs", {"period": "all", "status": "failed"}, 25)
        for run in runs["data"]:
            run_id = run["run_id"]
            out[f"/runs/{run_id}/details"] = get_json(api, f"/runs/{run_id}/details")
            out[f"/runs/{run_id}"] = pages(api, f"/runs/{run_id}", {}, 50)
        threads = pages(api, "/threads", {}, 2)
        out["/threads"] = threads
        for thread in threads["data"]:
            out[f"/threads/{thread['thread_id']}"] = get_json(api, f"/threads/{thread['thread_id']}")
        for period in ("last_day", "last_week"):
            out[f"/stats?period={period}"] = get_json(api, "/stats", {"period": period, "end": end})
        for by in ("model", "provider", "label", "thread"):
            out[f"/stats/breakdown?by={by}"] = get_json(api, "/stats/breakdown", {"by": by, **window})
        out["/stats/tools"] = get_json(api, "/stats/tools", window)
        out["/labels"] = get_json(api, "/labels")
        for metric in ("runs", "failed_runs", "cost", "llm_calls", "input_tokens"):
            out[f"/metrics/timeseries?metric={metric}"] = get_json(
                api, "/metrics/timeseries", {"metric": metric, "interval": "1h", **window}
            )
    return out


def assert_same(a: dict[str, Any], b: dict[str, Any], what: str) -> None:
    assert sorted(a) == sorted(b), what
    for key in sorted(a):
        assert a[key] == b[key], f"{what}: {key} differs"


@pytest.fixture
def fleet(tmp_path: Path, pg_url: str) -> Iterator[tuple[Cluster, Server]]:
    """The three PostgreSQL processes and the SQLite reference, started side by side."""
    with ThreadPoolExecutor(4) as pool:
        starting = [pool.submit(start_server, tmp_path / f"p{i}", database_url=pg_url) for i in range(3)]
        starting.append(pool.submit(start_server, tmp_path / "ref"))
    servers = [f.result() for f in starting if f.exception() is None]
    try:
        if len(servers) < len(starting):
            raise next(e for f in starting if (e := f.exception()) is not None)
        yield Cluster(servers[:3], []), servers[3]
    finally:
        for s in servers:
            s.stop()


def test_three_writers_answer_what_one_computes(fleet: tuple[Cluster, Server], pg_url: str) -> None:
    cluster, reference = fleet
    project = f"mp-{uuid.uuid4().hex[:8]}"
    now_s = time.time()
    # One fixed window for every process and the reference: not each one's "now".
    end_s = (int(now_s) // 3600 + 1) * 3600
    start, end = str((end_s - 86_400) * 1_000_000), str(end_s * 1_000_000)
    cluster.factories = [SpanFactory(s.otlp_grpc, s.otlp_http, project) for s in cluster.servers]
    traces = build_traces(cluster.factories[0], now_s)
    waves = plan_waves(traces)

    stop = threading.Event()
    reader = threading.Thread(target=poll_stats, args=(cluster, project, end, stop), daemon=True)
    killer_result: list[list[tuple[int, int]]] = []
    killer = threading.Thread(target=lambda: killer_result.append(kill_victim(cluster, waves[0])))
    reader.start()
    killer.start()
    try:
        send_all(cluster, waves, lambda: killer.join(timeout=60))  # C dies within wave 1
    finally:
        stop.set()
        killer.join(timeout=60)
        reader.join(timeout=30)
    assert not cluster.errors, cluster.errors
    assert all(e.acked_by is not None for wave in waves for step in wave for e in step)

    # Its decoding process and multiprocessing's resource tracker, at least; none may remain.
    (started,) = killer_result
    assert len(started) >= 2, started
    assert outlived(started) == [], "processes of the killed server still run"
    victim_exports = [e for step in waves[0] for e in step if e.target == VICTIM]
    assert any(e.acked_by == VICTIM for e in victim_exports), "killed before it took anything"
    assert any(e.acked_by != VICTIM for e in victim_exports), "killed after its wave 1"

    # The reference: the same spans, once each, one export after another, to one SQLite process.
    ref_factory = SpanFactory(reference.otlp_grpc, reference.otlp_http, project)
    for k in range(0, len(traces), 4):
        spans = [s for t in traces[k : k + 4] for s in t.children + t.parents]
        assert ref_factory.export(spans, "grpc") == SpanExportResult.SUCCESS

    survivors = [s for i, s in enumerate(cluster.servers) if i != VICTIM]
    first, second, ref = (answers(s, project, start, end) for s in (*survivors, reference))
    assert_same(first, second, "the two survivors")
    assert_same(first, ref, "PostgreSQL with three writers and SQLite with one")

    # Both equal the costs the traces were built with: the ancestor rule counted each call once.
    runs = {r["run_id"]: r for r in first["/runs"]["data"]}
    assert first["/runs"]["totals"][0] == len(traces)
    for t in traces:
        run = runs[t.run_id]
        assert (run["cost"], run["input_tokens"], run["output_tokens"]) == (
            t.cost,
            t.input_tokens,
            t.output_tokens,
        ), t.run_id
        assert run["span_count"] == len(t.children) + len(t.parents)
    stats = first["/stats?period=last_day"]
    assert stats["total_cost"] == sum(t.cost for t in traces), stats

    # The projects list (its created_at is when the first span arrived, so only the survivors,
    # which share one database, must agree on it).
    with survivors[0].client() as a, survivors[1].client() as b:
        assert get_json(a, "/projects") == get_json(b, "/projects")

    check = cli("check", "--database-url", pg_url)
    assert check.returncode == 0, check.stdout + check.stderr
