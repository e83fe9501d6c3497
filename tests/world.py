"""A small shared dataset for the API tests: six runs over four threads, sent once per test
module through the SDK's gRPC exporter under its own project id."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import Server
from tests.shapes import gateway_call
from tests.spans import SpanFactory, TraceBuilder, span_hex

GPT = "openai/gpt-4o-mini"
CLAUDE = "anthropic/claude-3-5-sonnet"
RUN_B = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"  # the only UUID run id; the others are any string
LONG_TITLE = "Plan a trip to Lisbon with a stop in Porto and Faro next spring"
OLD_S = 2 * 86_400  # run F starts two days before the others
S = 1_000_000  # µs per second


@dataclass
class World:
    """What was sent, so tests can name ids and times. Runs start `base_s` + 0/10/20/30/40 s
    (A..E) and `base_s` - 2 days (F, "run-old"); `base_s` is a multiple of 100 s."""

    project: str
    base_s: int
    traces: dict[str, TraceBuilder] = field(default_factory=dict)
    roots: dict[str, str] = field(default_factory=dict)  # run letter -> root span hex
    span_ids: dict[str, str] = field(default_factory=dict)  # name -> span hex

    def us(self, seconds: float = 0, ms: float = 0) -> int:
        return int((self.base_s + seconds) * S + ms * 1000)

    def trace(self, run: str) -> str:
        return self.traces[run].trace_hex

    @property
    def run_d(self) -> str:
        """Run D has a thread but no vllora.run_id: its run id is its trace id."""
        return self.trace("D")


def build_world(server: Server) -> World:
    """Six runs (A-F) over four threads, sent with the SDK's gRPC exporter, children first.

    | run      | thread     | start     | ms   | spans | llm | cost   | label         | status    |
    | run-a    | thread-1   | +0 s      | 1000 | 10    | 2   | 0.003  | flight_search | completed |
    | RUN_B    | thread-1   | +10 s     | 500  | 5     | 1   | 0.0005 | hotel_search  | failed    |
    | run-c    | thread-2   | +20 s     | 300  | 5     | 1   | 0.004  | -             | running   |
    | <trace>  | thread-3   | +30 s     | 100  | 2     | 0   | 0      | flight_search | failed    |
    | run-e    | -          | +40 s     | 800  | 6     | 1   | 0.0001 | -             | completed |
    | run-old  | thread-old | -2 days   | 2000 | 5     | 1   | 0.01   | flight_search | completed |
    """
    project = f"world-{uuid.uuid4().hex[:12]}"
    factory = SpanFactory(server.otlp_grpc, server.otlp_http, project)
    base_s = (int(time.time()) // 100) * 100 - 1000
    w = World(project=project, base_s=base_s)

    def trace(run: str, offset_s: int) -> TraceBuilder:
        t = w.traces[run] = factory.trace((base_s + offset_s) * 1_000_000_000)
        return t

    t = trace("A", 0)
    attrs: dict[str, Any] = {
        "vllora.run_id": "run-a",
        "vllora.thread_id": "thread-1",
        "vllora.label": "flight_search",
    }
    root = t.span("run", 0, 1000, attrs=attrs)
    first = gateway_call(
        t,
        root,
        10,
        390,
        run_id="run-a",
        thread_id="thread-1",
        cost=0.001,
        input_tokens=100,
        output_tokens=10,
        label="flight_search",
        tool="search",
    )
    gateway_call(
        t,
        root,
        410,
        990,
        run_id="run-a",
        thread_id="thread-1",
        model=CLAUDE,
        cost=0.002,
        input_tokens=200,
        output_tokens=20,
        label="flight_search",
    )
    w.roots["A"] = span_hex(root)
    w.span_ids["A.api_invoke"] = span_hex(first.api_invoke)
    w.span_ids["A.model_call"] = span_hex(first.model_call)

    t = trace("B", 10)
    attrs = {"vllora.run_id": RUN_B, "vllora.thread_id": "thread-1", "vllora.label": "hotel_search"}
    root = t.span("run", 0, 500, attrs=attrs)
    gateway_call(
        t,
        root,
        10,
        490,
        run_id=RUN_B,
        thread_id="thread-1",
        cost=0.0005,
        input_tokens=50,
        output_tokens=5,
        label="hotel_search",
        error="rate limited",
    )
    w.roots["B"] = span_hex(root)

    t = trace("C", 20)  # its root never arrives: running
    agent = t.span(
        "agent",
        0,
        300,
        remote_parent=0x1234,
        attrs={"vllora.run_id": "run-c", "vllora.thread_id": "thread-2"},
    )
    gateway_call(
        t,
        agent,
        10,
        290,
        run_id="run-c",
        thread_id="thread-2",
        model=CLAUDE,
        cost=0.004,
        input_tokens=400,
        output_tokens=40,
    )
    w.span_ids["C.agent"] = span_hex(agent)

    t = trace("D", 30)  # a thread but no run id
    root = t.span(
        "api_invoke",
        0,
        100,
        attrs={"vllora.thread_id": "thread-3", "title": LONG_TITLE, "vllora.label": "flight_search"},
    )
    t.span("lookup", 10, 50, parent=root, attrs={"vllora.thread_id": "thread-3"}, exception="boom")
    w.roots["D"] = span_hex(root)

    t = trace("E", 40)  # a run but no thread, with an MCP call
    root = t.span("run", 0, 800, attrs={"vllora.run_id": "run-e"})
    gateway_call(t, root, 100, 700, run_id="run-e", cost=0.0001, input_tokens=20, output_tokens=2)
    t.span("mcp_call", 710, 790, parent=root, attrs={"vllora.run_id": "run-e"})
    w.roots["E"] = span_hex(root)

    t = trace("F", -OLD_S)
    attrs = {"vllora.run_id": "run-old", "vllora.thread_id": "thread-old", "vllora.label": "flight_search"}
    root = t.span("run", 0, 2000, attrs=attrs)
    gateway_call(
        t,
        root,
        10,
        1990,
        run_id="run-old",
        thread_id="thread-old",
        cost=0.01,
        input_tokens=1000,
        output_tokens=100,
        label="flight_search",
    )
    w.roots["F"] = span_hex(root)

    factory.send(*w.traces.values())
    return w
