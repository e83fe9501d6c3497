"""The benchmark dataset: vLLora-shaped runs (about 10 spans each, ~5% failed) spread over the
past 7 days, as OTLP ExportTraceServiceRequest bodies and as vLLora `traces` rows.

Both forms come from one deterministic stream of runs (`iter_runs`), so the tracehound server and
the baseline hold the same spans.

The request bodies are built with the opentelemetry-proto message classes and cached on disk
per spec and hour (bench/.data), since a million spans take most of a minute to build.

    python bench/dataset.py --spans 20000
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

Value = str | int
CACHE_DIR = Path(__file__).parent / ".data"
SECOND_NS = 1_000_000_000
HOUR_NS = 3600 * SECOND_NS
WEEK_NS = 7 * 86_400 * SECOND_NS

# (provider, model, USD per 1M input tokens, per 1M output tokens, output tokens/s)
MODELS = (
    ("openai", "gpt-4o-mini", 0.15, 0.60, 85.0),
    ("openai", "gpt-4o", 2.50, 10.00, 60.0),
    ("anthropic", "claude-3-5-sonnet-20241022", 3.00, 15.00, 55.0),
    ("gemini", "gemini-1.5-pro", 1.25, 5.00, 50.0),
    ("gemini", "gemini-1.5-flash", 0.075, 0.30, 120.0),
)
LABELS = ("flight_search", "support_chat", "code_review", "research", "")
TOOLS = ("search_flights", "get_weather", "lookup_order", "search_kb", "run_sql")
ERRORS = (
    "Rate limit reached for requests. Please try again in 20s.",
    "Overloaded: the provider is temporarily overloaded",
    "Upstream provider returned 500 Internal Server Error",
)

STATUS_ERROR = 2
KIND_INTERNAL, KIND_SERVER, KIND_CLIENT = 1, 2, 3


Attrs = tuple[tuple[str, Value], ...]


class SpanRec(NamedTuple):
    trace_id: bytes  # 16 bytes
    span_id: bytes  # 8 bytes
    parent_span_id: bytes | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    shared: Attrs  # the run's baggage (vllora.run_id, ...): one object for all spans of a run
    own: Attrs
    status_message: str | None  # set when the OTLP status is ERROR


@dataclass(frozen=True)
class Spec:
    spans: int = 1_000_000
    seed: int = 42
    # On the hour, so that bodies cached on disk (and the baseline) match for an hour.
    now_ns: int = field(default_factory=lambda: time.time_ns() // HOUR_NS * HOUR_NS)
    batch_spans: int = 2000  # spans per request body (whole runs, so a little more)
    failed_share: float = 0.05


@dataclass
class RunStats:
    runs: int = 0
    spans: int = 0
    failed_runs: int = 0
    threads: int = 0


def _decimal(value: float) -> str:
    # vLLora writes cost with Rust's f64 Display: plain decimal, never an exponent.
    return format(Decimal(repr(value)), "f")


class _Generator:
    """Makes runs. Uses `ri` rather than `Random.randint`, which costs 5x more and would be a
    third of the build time at a million spans."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.random = self.rng.random
        self.stats = RunStats()
        self.thread_id = ""
        self.thread_left = 0

    def ri(self, lo: int, hi: int) -> int:
        return lo + int(self.random() * (hi - lo))

    def span_id(self) -> bytes:
        return (self.rng.getrandbits(64) | 1).to_bytes(8, "big")

    def uuid4(self) -> uuid.UUID:
        # Trace ids and run ids as vLLora's gateway makes them: random UUID v4.
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def gateway_call(
        self,
        out: list[SpanRec],
        trace_id: bytes,
        parent: bytes,
        t: int,
        base: Attrs,
        model: tuple[str, str, float, float, float],
        error: str | None,
        with_tools: bool,
    ) -> int:
        """Append one chat completion's spans, children first; return its end time (ns)."""
        ri = self.ri
        provider, name, usd_in, usd_out, tps = model
        tin, tout, ttft_us = ri(200, 4000), ri(20, 700), ri(250_000, 1_400_000)
        cai_id, ai_id, mc_id, pv_id = self.span_id(), self.span_id(), self.span_id(), self.span_id()
        t_ai = t + ri(300_000, 1_500_000)
        t_mc = t_ai + ri(500_000, 3_000_000)
        t_pv = t_mc + ri(200_000, 900_000)
        if error:
            pv_end = t_pv + ri(60, 600) * 1_000_000
        else:
            pv_end = t_pv + ttft_us * 1000 + int(tout / tps * SECOND_NS)
        mc_end = pv_end + ri(100_000, 1_200_000)
        ai_end = mc_end + ri(100_000, 1_200_000)
        cai_end = ai_end + ri(100_000, 600_000)
        qualified = f"{provider}/{name}"
        pv_status = None
        mc_extra: Attrs
        ai_extra: Attrs
        pv_extra: Attrs
        if error:
            # Every failed call carries vLLora's `error`; half also have an OTLP ERROR status.
            mc_extra = ai_extra = pv_extra = (("error", error),)
            pv_status = error if self.random() < 0.5 else None
            http_status = 429
        else:
            cost = (tin * usd_in + tout * usd_out) / 1e6
            usage = (
                f'{{"input_tokens":{tin},"output_tokens":{tout},"total_tokens":{tin + tout},'
                f'"is_cache_used":false}}'
            )
            cost_s = _decimal(cost)
            mc_extra = (
                ("usage", usage),
                ("ttft", ttft_us),
                (
                    "cost",
                    f'{{"cost":{cost!r},"per_input_token":{usd_in},'
                    f'"per_output_token":{usd_out},"is_cache_used":false}}',
                ),
            )
            ai_extra = (("usage", usage), ("cost", cost_s), ("response", "Here is what I found."))
            pv_extra = (("usage", usage), ("ttft", ttft_us), ("cost", cost_s))
            http_status = 200
            if with_tools:
                tool = TOOLS[ri(0, len(TOOLS))]
                calls = f'[{{"type":"function","function":{{"name":"{tool}"}}}}]'
                out.append(
                    SpanRec(
                        trace_id,
                        self.span_id(),
                        pv_id,
                        "tools",
                        KIND_INTERNAL,
                        pv_end - 900_000,
                        pv_end - 700_000,
                        base,
                        (("tool.name", tool), ("tool_calls", calls)),
                        None,
                    )
                )
        out.append(
            SpanRec(
                trace_id,
                pv_id,
                mc_id,
                provider,
                KIND_CLIENT,
                t_pv,
                pv_end,
                base,
                (("retries_left", 0), *pv_extra),
                pv_status,
            )
        )
        out.append(
            SpanRec(
                trace_id,
                mc_id,
                ai_id,
                "model_call",
                KIND_INTERNAL,
                t_mc,
                mc_end,
                base,
                (
                    ("provider_name", provider),
                    ("model_name", qualified),
                    ("inference_model_name", name),
                    ("credentials_identifier", "own"),
                    *mc_extra,
                ),
                None,
            )
        )
        request = (
            f'{{"model":"{qualified}","messages":[{{"role":"user",'
            f'"content":"Find flights to Paris"}}],"stream":false}}'
        )
        out.append(
            SpanRec(
                trace_id,
                ai_id,
                cai_id,
                "api_invoke",
                KIND_INTERNAL,
                t_ai,
                ai_end,
                base,
                (("request", request), *ai_extra),
                None,
            )
        )
        out.append(
            SpanRec(
                trace_id,
                cai_id,
                parent,
                "cloud_api_invoke",
                KIND_SERVER,
                t,
                cai_end,
                base,
                (
                    ("http.request.method", "POST"),
                    ("http.request.path", "/v1/chat/completions"),
                    ("http.response.status_code", http_status),
                    ("status", http_status),
                    *(ai_extra if error else ()),
                ),
                None,
            )
        )
        return cai_end

    def run(self, start_ns: int) -> list[SpanRec]:
        """One run, children before parents: mostly a gateway `run` with 1-3 model calls, sometimes
        an SDK agent (run -> agent -> task -> gateway call, tools)."""
        ri, out = self.ri, list[SpanRec]()
        if self.thread_left == 0:
            self.thread_id, self.thread_left = str(self.uuid4()), ri(1, 10)
            self.stats.threads += 1
        self.thread_left -= 1
        trace = self.uuid4()
        trace_id, root_id = trace.bytes, self.span_id()
        failed = self.random() < self.spec.failed_share
        model = MODELS[ri(0, len(MODELS))]
        sdk = self.random() < 0.15
        # The SDK's run id is its trace id as a UUID; a direct gateway client sends its own.
        run_id = str(trace if sdk else self.uuid4())
        label = LABELS[ri(0, len(LABELS))]
        base: Attrs = (
            ("vllora.run_id", run_id),
            ("vllora.thread_id", self.thread_id),
            ("vllora.tenant", "default"),
            *((("vllora.label", label),) if label else ()),
        )
        sdk_base: Attrs = (*base[:2], ("vllora.client_name", "adk"))
        n_calls = 2 if sdk else (1, 2, 2, 3)[ri(0, 4)]
        t = start_ns + ri(100_000, 800_000)
        agent_id = self.span_id()
        for i in range(n_calls):
            last = i == n_calls - 1
            error = ERRORS[ri(0, len(ERRORS))] if failed and last else None
            if sdk:
                task_id, task_start = self.span_id(), t
                t = self.gateway_call(out, trace_id, task_id, t + 2_000_000, base, model, error, not last)
                out.append(
                    SpanRec(
                        trace_id,
                        task_id,
                        agent_id,
                        "task",
                        KIND_INTERNAL,
                        task_start,
                        t + 500_000,
                        sdk_base,
                        (("vllora.task_name", "call_llm"),),
                        None,
                    )
                )
                t += 1_000_000
                if not last:
                    tool_end = t + ri(50, 2000) * 1_000_000
                    out.append(
                        SpanRec(
                            trace_id,
                            self.span_id(),
                            agent_id,
                            "tool",
                            KIND_INTERNAL,
                            t,
                            tool_end,
                            sdk_base,
                            (("vllora.tool_name", TOOLS[ri(0, len(TOOLS))]),),
                            None,
                        )
                    )
                    t = tool_end
            else:
                t = self.gateway_call(out, trace_id, root_id, t, base, model, error, not last)
            t += ri(50, 3000) * 1_000_000
        if sdk:
            out.append(
                SpanRec(
                    trace_id,
                    agent_id,
                    root_id,
                    "agent",
                    KIND_INTERNAL,
                    start_ns + 50_000,
                    t,
                    sdk_base,
                    (("vllora.agent_name", "travel_planner"),),
                    None,
                )
            )
        # An agent framework marks the whole invocation failed when a model call raised.
        root_status = "agent aborted: model call failed" if failed and sdk else None
        out.append(
            SpanRec(
                trace_id,
                root_id,
                None,
                "run",
                KIND_SERVER,
                start_ns,
                t + 200_000,
                sdk_base if sdk else base,
                (),
                root_status,
            )
        )
        self.stats.runs += 1
        self.stats.spans += len(out)
        self.stats.failed_runs += failed
        return out


def iter_runs(spec: Spec, stats: RunStats | None = None) -> Iterator[list[SpanRec]]:
    """Runs in chronological order until `spec.spans` spans exist (the last run may overshoot)."""
    gen = _Generator(spec)
    if stats is not None:
        gen.stats = stats
    span_ns = (WEEK_NS - 600 * SECOND_NS) // spec.spans  # the week's length per span to send
    while gen.stats.spans < spec.spans:
        # Start times follow progress through the dataset, so runs spread evenly over the week
        # whatever their size, and the last one starts ten minutes before now.
        start = spec.now_ns - WEEK_NS + gen.stats.spans * span_ns
        yield gen.run(start + gen.ri(0, 10 * span_ns))


# -- OTLP protobuf wire format --------------------------------------------------------------------


def _set_attrs(target: Any, attrs: Attrs) -> None:
    for key, value in attrs:
        kv = target.add()
        kv.key = key
        if isinstance(value, int):
            kv.value.int_value = value
        else:
            kv.value.string_value = value


def encode_request(runs: list[list[SpanRec]]) -> bytes:
    """ExportTraceServiceRequest{resource_spans: [{resource, scope_spans: [{scope, spans}]}]},
    built with the opentelemetry-proto classes."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    _set_attrs(rs.resource.attributes, (("service.name", "vllora-gateway"),))
    ss = rs.scope_spans.add()
    ss.scope.name = "vllora"
    spans = ss.spans
    for run in runs:
        for rec in run:
            span = spans.add()
            span.trace_id = rec.trace_id
            span.span_id = rec.span_id
            if rec.parent_span_id is not None:
                span.parent_span_id = rec.parent_span_id
            span.name = rec.name
            span.kind = rec.kind  # type: ignore[assignment]
            span.start_time_unix_nano = rec.start_ns
            span.end_time_unix_nano = rec.end_ns
            _set_attrs(span.attributes, rec.shared)
            _set_attrs(span.attributes, rec.own)
            if rec.status_message is not None:
                span.status.code = STATUS_ERROR  # type: ignore[assignment]
                span.status.message = rec.status_message
    return request.SerializeToString()


@dataclass
class Bodies:
    bodies: list[bytes]
    span_counts: list[int]
    stats: RunStats
    build_seconds: float


def build_bodies(spec: Spec, cache_dir: Path | None = CACHE_DIR) -> Bodies:
    """All request bodies, each holding whole runs (children before parents), in memory.

    Building a million spans with the protobuf classes takes most of a minute, so the bodies are
    cached on disk per spec (bench/.data, ignored by git)."""
    t0 = time.perf_counter()
    cached = _cache_path(spec, cache_dir)
    if cached is not None and cached.exists():
        with cached.open("rb") as f:
            bodies, counts, stats = pickle.load(f)
        return Bodies(bodies, counts, stats, time.perf_counter() - t0)
    stats = RunStats()
    bodies = []
    counts = []
    pending: list[list[SpanRec]] = []
    size = 0
    for run in iter_runs(spec, stats):
        pending.append(run)
        size += len(run)
        if size >= spec.batch_spans:
            bodies.append(encode_request(pending))
            counts.append(size)
            pending, size = [], 0
    if pending:
        bodies.append(encode_request(pending))
        counts.append(size)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump((bodies, counts, stats), f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(cached)
    return Bodies(bodies, counts, stats, time.perf_counter() - t0)


def _cache_path(spec: Spec, cache_dir: Path | None) -> Path | None:
    """Bodies depend on the whole spec, `now_ns` (an hour boundary) included."""
    if cache_dir is None:
        return None
    name = f"bodies-{spec.spans}-{spec.seed}-{spec.batch_spans}-{spec.failed_share}-{spec.now_ns}.pickle"
    return cache_dir / name


# -- vLLora `traces` rows --------------------------------------------------------------------------


Row = tuple[str, str, str | None, str | None, str, int, int, str, str | None, str]


def vllora_row(s: SpanRec, project: str) -> Row:
    """The row vLLora's ingestion writes: UUID trace id, decimal span ids, µs times, attribute
    JSON without the promoted `vllora.*` keys (`vllora.label` comes back as `label`)."""
    attrs: dict[str, Value] = {}
    run_id = thread_id = None
    for key, value in (*s.shared, *s.own):
        if key == "vllora.run_id":
            run_id = str(value)
        elif key == "vllora.thread_id":
            thread_id = str(value)
        elif key == "vllora.label":
            attrs.setdefault("label", value)
        elif key in ("vllora.tenant", "vllora.project_id"):
            continue
        else:
            attrs[key] = value  # vllora.client_name, agent/task/tool names stay (vLLora keeps them)
    parent = str(int.from_bytes(s.parent_span_id, "big")) if s.parent_span_id is not None else None
    return (
        str(uuid.UUID(bytes=s.trace_id)),
        str(int.from_bytes(s.span_id, "big")),
        thread_id,
        parent,
        s.name,
        s.start_ns // 1000,
        s.end_ns // 1000,
        json.dumps(attrs, separators=(",", ":")),
        run_id,
        project,
    )


def _check(bodies: Bodies, sample: int = 3) -> None:
    """Decode a few bodies with opentelemetry-proto and compare with what was meant."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    for body, count in list(zip(bodies.bodies, bodies.span_counts, strict=True))[:sample]:
        request = ExportTraceServiceRequest.FromString(body)
        spans = request.resource_spans[0].scope_spans[0].spans
        assert len(spans) == count, (len(spans), count)
        seen: set[bytes] = set()
        for span in spans:
            assert len(span.trace_id) == 16 and len(span.span_id) == 8
            assert span.start_time_unix_nano <= span.end_time_unix_nano
            if span.parent_span_id:
                assert span.parent_span_id not in seen, "a parent came before its child"
            seen.add(span.span_id)
            assert any(kv.key == "vllora.run_id" for kv in span.attributes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch-spans", type=int, default=2000)
    args = parser.parse_args(argv)
    spec = Spec(spans=args.spans, seed=args.seed, batch_spans=args.batch_spans)
    bodies = build_bodies(spec)
    _check(bodies)
    size = sum(len(b) for b in bodies.bodies)
    s = bodies.stats
    print(
        f"{s.spans} spans, {s.runs} runs ({s.failed_runs} failed), {s.threads} threads, "
        f"{len(bodies.bodies)} bodies, {size / 1e6:.1f} MB, built in {bodies.build_seconds:.1f} s "
        f"({s.spans / bodies.build_seconds:,.0f} spans/s); decoded sample OK"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
