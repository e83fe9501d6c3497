"""Demo data: a week of synthetic agent traffic, sent to a tracehound server through the real
OTLP/gRPC path with the OpenTelemetry SDK, exactly as an instrumented agent would send it.

`load_demo` is what `tracehound demo` calls. The span shapes live in `demo_shapes`; this module
plans the week (threads, runs, which fail, the one still running) and owns the export pipeline.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator

from tracehound.demo_shapes import Shapes, TracerSource

__all__ = [
    "APPS",
    "MODELS",
    "App",
    "DemoExportError",
    "DemoSummary",
    "DemoTracers",
    "Model",
    "SeededIds",
    "generate",
    "load_demo",
]

_SECOND = 1_000_000
_WEEK = 7 * 86_400 * _SECOND


@dataclass(frozen=True, slots=True)
class Model:
    provider: str  # vLLora's provider name, also the gateway's provider span name
    name: str
    usd_in: float  # list price, USD per million tokens
    usd_out: float
    ttft_ms: tuple[int, int]
    tokens_per_s: float

    @property
    def qualified(self) -> str:
        return f"{self.provider}/{self.name}"

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.usd_in + output_tokens * self.usd_out) / 1e6


@dataclass(frozen=True, slots=True)
class App:
    """One simulated agent application: a conversation (thread) belongs to exactly one."""

    service: str
    label: str
    agents: tuple[str, ...]  # orchestrator first, then the sub-agents it can hand over to
    tools: tuple[str, ...]
    prompts: tuple[str, ...]
    models: tuple[Model, ...]


# Public list prices (USD per 1M tokens, prompts under 128k) so that a cost the demo states and
# a cost the server computes from its price table agree.
MODELS: tuple[Model, ...] = (
    Model("openai", "gpt-4o-mini", 0.15, 0.60, (250, 700), 85),
    Model("openai", "gpt-4o", 2.50, 10.00, (350, 1100), 60),
    Model("anthropic", "claude-3-5-sonnet-20241022", 3.00, 15.00, (500, 1400), 55),
    Model("gemini", "gemini-1.5-pro", 1.25, 5.00, (600, 1500), 50),
    Model("gemini", "gemini-1.5-flash", 0.075, 0.30, (200, 500), 120),
)
_MINI, _4O, _SONNET, _PRO, _FLASH = MODELS

# One simulated application per convention; each conversation (thread) belongs to one of them.
APPS: dict[str, App] = {
    "gateway": App(
        "vllora-gateway",
        "flight_search",
        ("",),
        ("search_flights", "get_weather"),
        (
            "Find flights from Berlin to Lisbon next Friday",
            "Is it going to rain in Lisbon on Saturday?",
            "Cheapest return flight Paris to Rome in May?",
        ),
        (_MINI, _4O, _SONNET, _PRO),
    ),
    "sdk": App(
        "travel-agent",
        "trip_planner",
        ("travel_planner", "flight_searcher", "hotel_searcher"),
        ("search_flights", "search_hotels", "get_weather", "convert_currency"),
        (
            "Plan a 3-day trip to Kyoto in April under 1500 EUR",
            "Book me a hotel near Shibuya for 2 nights",
            "What should I pack for Reykjavik in March?",
        ),
        (_MINI, _4O, _SONNET),
    ),
    "openinference": App(
        "research-assistant",
        "research",
        ("research_agent", "summarizer"),
        ("tavily_search", "arxiv_lookup", "python_repl"),
        (
            "Summarise recent work on speculative decoding",
            "Compare RAG and long-context models",
            "Which papers cite FlashAttention-3?",
        ),
        (_4O, _SONNET, _PRO),
    ),
    "genai": App(
        "support-bot",
        "support",
        ("support_triage", "refund_specialist"),
        ("lookup_order", "search_kb", "issue_refund"),
        (
            "Where is my order #48213?",
            "I was charged twice for my subscription",
            "How do I reset my password?",
        ),
        (_MINI, _SONNET, _FLASH),
    ),
}


@dataclass(slots=True)
class DemoSummary:
    spans: int = 0  # spans exported; the running run's root is never among them
    runs: int = 0
    threads: int = 0
    failed_runs: int = 0
    running_runs: int = 0
    llm_calls: int = 0  # model_call / LLM / chat spans, failed ones included
    cost_usd: float = 0.0  # at the demo's list prices, over the successful LLM calls
    runs_by_convention: dict[str, int] = field(default_factory=dict)
    failed_run_ids: list[str] = field(default_factory=list)
    running_run_id: str | None = None

    def __str__(self) -> str:
        return (
            f"{self.runs} runs ({self.failed_runs} failed, {self.running_runs} running) in "
            f"{self.threads} threads, {self.spans} spans, {self.llm_calls} LLM calls, ${self.cost_usd:.4f}"
        )


class DemoExportError(RuntimeError):
    """The server did not acknowledge every demo span."""


class SeededIds(IdGenerator):
    """Span and trace ids from a seeded generator, so a dataset can be rebuilt id for id.

    Trace ids are laid out as UUID v4, like the vLLora gateway's, so that a run id the SDK derives
    from a trace id is a valid UUID in both places."""

    def __init__(self, seed: str) -> None:
        self._rng = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return uuid.UUID(int=self._rng.getrandbits(128), version=4).int

    def is_trace_id_random(self) -> bool:
        return True


class DemoTracers:
    """One TracerProvider per simulated service (each has its own `service.name` resource), all
    drawing ids from the same seeded generator. `make_processor` decides where spans go: OTLP in
    `load_demo`, an in-memory exporter in tests."""

    def __init__(self, make_processor: Callable[[], SpanProcessor], ids: IdGenerator) -> None:
        self._make_processor = make_processor
        self._ids = ids
        self.providers: dict[str, TracerProvider] = {}

    def __call__(self, service: str, scope: str) -> trace.Tracer:
        provider = self.providers.get(service)
        if provider is None:
            provider = TracerProvider(
                resource=Resource.create({"service.name": service}),
                id_generator=self._ids,
                shutdown_on_exit=False,
            )
            provider.add_span_processor(self._make_processor())
            self.providers[service] = provider
        return provider.get_tracer(scope)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return all(p.force_flush(timeout_millis) for p in self.providers.values())

    def shutdown(self) -> None:
        for provider in self.providers.values():
            provider.shutdown()


class _CheckedExporter(SpanExporter):
    """Counts what the wrapped exporter failed to deliver: the batch processor swallows export
    failures, and its force_flush reports True even when every export failed."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.failed = 0
        self.last_error = ""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # an exporter bug must still surface as a failed load
            self.last_error = repr(exc)
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def generate(tracers: TracerSource, *, seed: int, now_us: int, project: str | None = None) -> DemoSummary:
    """Create the demo spans through `tracers`; spans end (and so are exported) children first."""
    rng = random.Random(seed)
    shapes = Shapes(tracers, rng, project)
    summary = DemoSummary()
    methods = {
        "gateway": shapes.gateway_run,
        "sdk": shapes.sdk_run,
        "openinference": shapes.oi_run,
        "genai": shapes.genai_run,
    }

    def one_run(convention: str, thread_id: str, t0: int, fail: bool, running: bool = False) -> int:
        shapes.run_failed = False
        if running:
            run_id, end = shapes.sdk_run(APPS[convention], thread_id, t0, fail, running=True)
            summary.running_runs += 1
            summary.running_run_id = run_id
        else:
            run_id, end = methods[convention](APPS[convention], thread_id, t0, fail)
            if shapes.run_failed:
                summary.failed_runs += 1
                summary.failed_run_ids.append(run_id)
        summary.runs += 1
        summary.runs_by_convention[convention] = summary.runs_by_convention.get(convention, 0) + 1
        return end

    conventions = ["gateway"] * 7 + ["sdk"] * 6 + ["openinference"] * 5 + ["genai"] * 5
    rng.shuffle(conventions)
    latest = now_us - 4 * 3600 * _SECOND  # room for a six-run conversation to finish before now
    starts = sorted(rng.randint(now_us - _WEEK, latest) for _ in conventions)
    per_convention: dict[str, int] = {}
    for convention, t in zip(conventions, starts, strict=True):
        thread_id = shapes.uuid4()
        if convention == "genai":
            thread_id = "conv_" + thread_id.replace("-", "")  # how agent SDKs spell conversation ids
        for _ in range(rng.randint(2, 6)):
            per_convention[convention] = per_convention.get(convention, 0) + 1
            # A fixed schedule rather than a coin flip, so that every convention has failures.
            fail = per_convention[convention] % 8 == 3
            t = one_run(convention, thread_id, t, fail) + rng.randint(20, 600) * _SECOND
    # The live conversation: one run finished minutes ago, one started 50 s ago and still open.
    live = shapes.uuid4()
    one_run("sdk", live, now_us - 10 * 60 * _SECOND, fail=False)
    shapes.quick = True
    one_run("sdk", live, now_us - 50 * _SECOND, fail=False, running=True)

    summary.threads = len(conventions) + 1
    summary.spans, summary.llm_calls, summary.cost_usd = shapes.spans, shapes.llm_calls, shapes.cost_usd
    return summary


def load_demo(
    endpoint: str,
    *,
    project: str | None = None,
    seed: int = 7,
    now_us: int | None = None,
    timeout_s: float = 10.0,
    api_key: str | None = None,
) -> DemoSummary:
    """Send the demo dataset to the OTLP/gRPC `endpoint` (e.g. "http://127.0.0.1:4317").

    With `project`, spans carry the vLLora SDK's `x-project-id` gRPC metadata; with `api_key`,
    `authorization: Bearer` metadata. Raises DemoExportError unless the server acknowledged every
    span."""
    # Imported here so that building the dataset (tests, `generate`) does not need grpc.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    if now_us is None:
        now_us = time.time_ns() // 1000
    headers = {"x-project-id": project} if project else {}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    exporters: list[_CheckedExporter] = []

    def make_processor() -> SpanProcessor:
        exporter = _CheckedExporter(
            OTLPSpanExporter(endpoint=endpoint, insecure=True, headers=headers or None, timeout=timeout_s)
        )
        exporters.append(exporter)
        # A queue larger than the dataset: at the default (2048) spans would be dropped with only a log line.
        return BatchSpanProcessor(exporter, max_queue_size=20_000, max_export_batch_size=512)

    # Ids depend on `now_us` too, so loading the demo twice adds a second dataset instead of
    # colliding with the first one's ids.
    tracers = DemoTracers(make_processor, SeededIds(f"{seed}:{now_us}"))
    try:
        summary = generate(tracers, seed=seed, now_us=now_us, project=project)
        flushed = tracers.force_flush(int(timeout_s * 1000) * 3)
    finally:
        tracers.shutdown()
    failed = sum(e.failed for e in exporters)
    if failed or not flushed:
        detail = next((e.last_error for e in exporters if e.last_error), "see the exporter's log above")
        raise DemoExportError(
            f"the server at {endpoint} did not accept {failed or 'some'} of {summary.spans} demo spans "
            f"(is `tracehound serve` running with OTLP/gRPC on that port?): {detail}"
        )
    return summary
