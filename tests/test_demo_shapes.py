"""The demo dataset, checked without a server: spans go to an in-memory exporter (and, in the
last tests, to a stub OTLP/gRPC collector) so the shapes and encodings can be asserted."""

from __future__ import annotations

import json
import socket
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent import futures
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tracehound.demo import MODELS, DemoExportError, DemoSummary, DemoTracers, SeededIds, generate, load_demo

NOW_US = 1_760_000_000_000_000
PROVIDER_SPANS = {"openai", "anthropic", "gemini"}


def _build(seed: int = 7) -> tuple[DemoSummary, list[ReadableSpan]]:
    memory = InMemorySpanExporter()
    tracers = DemoTracers(lambda: SimpleSpanProcessor(memory), SeededIds(f"{seed}:{NOW_US}"))
    summary = generate(tracers, seed=seed, now_us=NOW_US)
    tracers.shutdown()
    return summary, list(memory.get_finished_spans())


@pytest.fixture(scope="module")
def demo() -> tuple[DemoSummary, list[ReadableSpan]]:
    return _build()


@pytest.fixture(scope="module")
def spans(demo: tuple[DemoSummary, list[ReadableSpan]]) -> list[ReadableSpan]:
    return demo[1]


def _attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _sid(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _run_id(span: ReadableSpan) -> str:
    # tracehound's rule: vllora.run_id, else the trace id.
    assert span.context is not None
    return str(_attrs(span).get("vllora.run_id") or format(span.context.trace_id, "032x"))


def _by_id(spans: Sequence[ReadableSpan]) -> dict[int, ReadableSpan]:
    return {_sid(s): s for s in spans}


def _parent_name(span: ReadableSpan, index: dict[int, ReadableSpan]) -> str | None:
    parent = index.get(_parent_id(span) or 0)  # the running run's root is never exported
    return parent.name if parent is not None else None


def _is_error(span: ReadableSpan) -> bool:
    return (
        span.status.status_code is StatusCode.ERROR
        or "error" in _attrs(span)
        or any(e.name == "exception" for e in span.events)
    )


def _runs(spans: Sequence[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    runs: dict[str, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        runs[_run_id(span)].append(span)
    return runs


def test_summary_matches_the_spans(demo: tuple[DemoSummary, list[ReadableSpan]]) -> None:
    summary, spans = demo
    assert summary.spans == len(spans)
    assert 50 <= summary.runs <= 150
    assert summary.runs == len(_runs(spans)) == sum(summary.runs_by_convention.values())
    assert set(summary.runs_by_convention) == {"gateway", "sdk", "openinference", "genai"}
    assert summary.running_runs == 1
    assert summary.failed_runs == len(summary.failed_run_ids) >= 4
    assert summary.threads >= 5


def test_deterministic() -> None:
    def fingerprint(spans: list[ReadableSpan]) -> list[tuple[Any, ...]]:
        return [(s.name, _sid(s), s.start_time, s.end_time, sorted(_attrs(s).items())) for s in spans]

    first, second = _build(), _build()
    assert first[0] == second[0]
    assert fingerprint(first[1]) == fingerprint(second[1])
    assert fingerprint(_build(seed=8)[1]) != fingerprint(first[1])


def test_spread_over_the_past_week(spans: list[ReadableSpan]) -> None:
    starts = [s.start_time // 1000 for s in spans if s.start_time is not None]
    ends = [s.end_time // 1000 for s in spans if s.end_time is not None]
    assert max(ends) < NOW_US
    assert NOW_US - min(starts) > 5 * 86_400_000_000
    assert NOW_US - min(starts) <= 7 * 86_400_000_000


def test_children_are_exported_before_parents(spans: list[ReadableSpan]) -> None:
    position = {_sid(s): i for i, s in enumerate(spans)}
    for i, span in enumerate(spans):
        pid = _parent_id(span)
        if pid in position:
            assert position[pid] > i, span.name


def test_gateway_tree(spans: list[ReadableSpan]) -> None:
    index = _by_id(spans)
    expected_parent = {
        "cloud_api_invoke": {"run", "task"},
        "api_invoke": {"cloud_api_invoke"},
        "model_call": {"api_invoke"},
        "tools": PROVIDER_SPANS,
    }
    expected_parent.update({p: {"model_call"} for p in PROVIDER_SPANS})
    seen = set()
    for span in spans:
        if span.name in expected_parent:
            assert _parent_name(span, index) in expected_parent[span.name], span.name
            seen.add(span.name)
    assert seen == set(expected_parent)
    # A gateway-only run's root is `run`, whose only child is cloud_api_invoke.
    roots = [s for s in spans if s.name == "run" and _attrs(s).get("vllora.label")]
    assert roots and all(_parent_id(s) is None for s in roots)


def test_gateway_attribute_encodings(spans: list[ReadableSpan]) -> None:
    index = _by_id(spans)
    prices = {m.qualified: m for m in MODELS}
    checked = 0
    for mc in (s for s in spans if s.name == "model_call" and "error" not in _attrs(s)):
        attrs = _attrs(mc)
        api = index[_parent_id(mc) or 0]
        api_attrs = _attrs(api)
        model = prices[attrs["model_name"]]
        assert attrs["model_name"] == f"{attrs['provider_name']}/{attrs['inference_model_name']}"
        assert json.loads(api_attrs["request"])["model"] == attrs["model_name"]
        usage = json.loads(api_attrs["usage"])
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        # Cost: a plain numeric string on api_invoke and the provider span, an object on model_call,
        # consistent with the per-token list prices.
        assert "e" not in api_attrs["cost"].lower()
        cost = float(api_attrs["cost"])
        assert cost == pytest.approx(model.cost(usage["input_tokens"], usage["output_tokens"]))
        cost_obj = json.loads(attrs["cost"])
        assert cost_obj["cost"] == pytest.approx(cost)
        assert cost_obj["per_input_token"] == model.usd_in
        assert isinstance(attrs["ttft"], int) and 100_000 < attrs["ttft"] < 5_000_000
        provider = next(s for s in spans if _parent_id(s) == _sid(mc))
        assert float(_attrs(provider)["cost"]) == pytest.approx(cost)
        for key in ("vllora.run_id", "vllora.thread_id"):
            assert attrs[key] == api_attrs[key]
        checked += 1
    assert checked > 50
    assert any("vllora.label" in _attrs(s) for s in spans if s.name == "api_invoke")


def test_sdk_spans(spans: list[ReadableSpan]) -> None:
    index = _by_id(spans)
    sdk_roots = [s for s in spans if s.name == "run" and _attrs(s).get("vllora.client_name") == "adk"]
    assert sdk_roots
    for root in sdk_roots:
        assert root.context is not None
        assert _attrs(root)["vllora.run_id"] == str(uuid.UUID(int=root.context.trace_id))
    assert all(_attrs(s)["vllora.task_name"] == "call_llm" for s in spans if s.name == "task")
    assert all("vllora.tool_name" in _attrs(s) for s in spans if s.name == "tool")
    assert all("vllora.agent_name" in _attrs(s) for s in spans if s.name == "agent")
    # Nested agents: an agent under another agent (through the hand-over tool).
    nested = [s for s in spans if s.name == "agent" and _parent_name(s, index) == "tool"]
    assert nested
    # The gateway joins the SDK's trace through traceparent: a remote parent.
    under_task = [s for s in spans if s.name == "cloud_api_invoke" and _parent_name(s, index) == "task"]
    assert under_task and all(s.parent is not None and s.parent.is_remote for s in under_task)


def test_openinference_spans(spans: list[ReadableSpan]) -> None:
    kinds = defaultdict(list)
    for span in spans:
        kind = _attrs(span).get("openinference.span.kind")
        if kind:
            kinds[kind].append(span)
    assert set(kinds) == {"AGENT", "CHAIN", "LLM", "TOOL"}
    ok_llms = [s for s in kinds["LLM"] if s.status.status_code is not StatusCode.ERROR]
    assert ok_llms
    for span in ok_llms:
        attrs = _attrs(span)
        assert attrs["llm.model_name"] and attrs["llm.provider"] in {"openai", "anthropic", "google"}
        assert attrs["llm.token_count.total"] == (
            attrs["llm.token_count.prompt"] + attrs["llm.token_count.completion"]
        )
        assert attrs["input.value"] and attrs["output.value"]
    assert all("session.id" in _attrs(s) for group in kinds.values() for s in group)
    assert all("tool.name" in _attrs(s) for s in kinds["TOOL"])


def test_genai_spans(spans: list[ReadableSpan]) -> None:
    ops = defaultdict(list)
    for span in spans:
        op = _attrs(span).get("gen_ai.operation.name")
        if op and "gen_ai.conversation.id" in _attrs(span):
            ops[op].append(span)
    assert {"chat", "generate_content", "execute_tool", "invoke_agent"} <= set(ops)
    for span in ops["chat"] + ops["generate_content"]:
        attrs = _attrs(span)
        assert span.name == f"{attrs['gen_ai.operation.name']} {attrs['gen_ai.request.model']}"
        for key in (
            "gen_ai.response.model",
            "gen_ai.provider.name",
            "gen_ai.system",
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens",
        ):
            assert key in attrs, key
    assert all("gen_ai.tool.name" in _attrs(s) for s in ops["execute_tool"])
    assert all(str(_attrs(s)["gen_ai.conversation.id"]).startswith("conv_") for g in ops.values() for s in g)


def test_models(spans: list[ReadableSpan]) -> None:
    used = {str(_attrs(s)["model_name"]) for s in spans if s.name == "model_call"}
    used |= {f"oi:{_attrs(s)['llm.model_name']}" for s in spans if "llm.model_name" in _attrs(s)}
    used |= {
        f"genai:{_attrs(s)['gen_ai.request.model']}" for s in spans if "gen_ai.request.model" in _attrs(s)
    }
    assert len({u.rsplit("/", 1)[-1].split(":")[-1] for u in used}) >= 4


def test_exactly_one_run_without_root(demo: tuple[DemoSummary, list[ReadableSpan]]) -> None:
    summary, spans = demo
    rootless = [rid for rid, group in _runs(spans).items() if all(_parent_id(s) is not None for s in group)]
    assert rootless == [summary.running_run_id]
    live = _runs(spans)[rootless[0]]
    assert all(s.start_time is not None and NOW_US - s.start_time // 1000 < 60_000_000 for s in live)
    # Its root is the missing parent of the top agent.
    ids = {_sid(s) for s in live}
    assert len({_parent_id(s) for s in live} - ids) == 1


def test_failures(demo: tuple[DemoSummary, list[ReadableSpan]]) -> None:
    summary, spans = demo
    runs = _runs(spans)
    failed = {rid for rid, group in runs.items() if any(_is_error(s) for s in group)}
    assert failed == set(summary.failed_run_ids)
    assert any(s.status.status_code is StatusCode.ERROR and s.status.description for s in spans)
    assert any("error" in _attrs(s) for s in spans)  # vLLora's error attribute
    events = [e for s in spans for e in s.events if e.name == "exception"]
    assert events and all((e.attributes or {}).get("exception.message") for e in events)
    # Failures exist in every convention.
    conventions = set()
    for rid in failed:
        names = {s.name for s in runs[rid]}
        attrs = [_attrs(s) for s in runs[rid]]
        if "api_invoke" in names and "agent" not in names:
            conventions.add("gateway")
        elif "agent" in names:
            conventions.add("sdk")
        elif any("openinference.span.kind" in a for a in attrs):
            conventions.add("openinference")
        else:
            conventions.add("genai")
    assert conventions == {"gateway", "sdk", "openinference", "genai"}


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc,unused-ignore]
    def __init__(self) -> None:
        self.spans = 0
        self.projects: set[str | None] = set()

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        metadata = dict(context.invocation_metadata())
        project = metadata.get("x-project-id")
        self.projects.add(project if isinstance(project, str) else None)
        self.spans += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def collector() -> Iterator[tuple[_Collector, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = _Collector()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call,unused-ignore]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(grace=None)


def test_load_demo_exports_everything_over_grpc(collector: tuple[_Collector, int]) -> None:
    servicer, port = collector
    summary = load_demo(f"http://127.0.0.1:{port}", project="acme", now_us=NOW_US)
    assert servicer.spans == summary.spans
    assert servicer.projects == {"acme"}


def test_load_demo_raises_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(DemoExportError, match="did not accept"):
            load_demo(f"http://127.0.0.1:{port}", now_us=NOW_US, timeout_s=0.5)
