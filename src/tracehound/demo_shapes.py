"""How the demo's spans look, in the four shapes tracehound reads: the vLLora gateway (run ->
cloud_api_invoke -> api_invoke -> model_call -> provider -> tools, JSON inside string attributes),
the vLLora Python SDK over an agent framework (run -> agent -> task/tool, LLM calls through the
gateway), OpenInference (AGENT/CHAIN/LLM/TOOL) and the OTel GenAI conventions. `demo.py` holds the
catalogue (models, apps), plans the week and wires the exporters.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue

if TYPE_CHECKING:  # demo.py imports this module, so the catalogue's types come only for typing
    from tracehound.demo import App, Model

Attrs = dict[str, AttributeValue]
# (service name, instrumentation scope) -> tracer; one TracerProvider per simulated service.
TracerSource = Callable[[str, str], trace.Tracer]

_SECOND = 1_000_000
_INTERNAL, _SERVER, _CLIENT = SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT
# provider -> (gen_ai.provider.name, OpenInference llm.provider, LangChain class naming its LLM span)
_NAMES = {
    "openai": ("openai", "openai", "ChatOpenAI"),
    "anthropic": ("anthropic", "anthropic", "ChatAnthropic"),
    "gemini": ("gcp.gemini", "google", "ChatGoogleGenerativeAI"),
}
_TOOL_TIMEOUT = ("requests.exceptions.ReadTimeout", "upstream API read timed out (read timeout=30)")
_LLM_TIMEOUT = ("openai.APITimeoutError", "Request timed out.")
_HTTP_503 = ("httpx.HTTPStatusError", "Server error '503 Service Unavailable'")
_GATEWAY_FAILURES = (
    (429, "Rate limit reached for requests. Please try again in 20s."),
    (529, "Overloaded: the provider is temporarily overloaded"),
    (500, "Upstream provider returned 500 Internal Server Error"),
)


@dataclass(slots=True)
class _Call:
    model: Model
    input_tokens: int
    output_tokens: int
    ttft_us: int
    duration_us: int

    @property
    def cost(self) -> float:
        return self.model.cost(self.input_tokens, self.output_tokens)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _decimal(value: float) -> str:
    # The gateway writes cost with Rust's f64 Display: plain decimal, never an exponent.
    return format(Decimal(repr(value)), "f")


def _answer(call: _Call, tools: Sequence[str]) -> str:
    return f"Calling {', '.join(tools)}." if tools else f"Here is what I found ({call.output_tokens} tokens)."


def _hex_trace_id(span: Span) -> str:
    return format(span.get_span_context().trace_id, "032x")


class Shapes:
    """Builds runs span by span. Each `*_run` method returns (run id, end time in µs) and leaves
    `run_failed` telling whether it created an error span. Spans end children first, so they are
    exported in the order real instrumentation exports them."""

    def __init__(self, tracers: TracerSource, rng: random.Random, project: str | None) -> None:
        self.rng = rng
        self.tracers = tracers
        self.project = project
        self.spans = 0
        self.llm_calls = 0
        self.cost_usd = 0.0  # at the models' list prices, over every successful LLM call
        self.run_failed = False
        self.quick = False  # keeps the live run short enough to fit in its last minute

    # -- span plumbing ------------------------------------------------------------------------

    def start(
        self,
        tracer: trace.Tracer,
        name: str,
        parent: Span | None,
        at_us: int,
        attrs: Attrs,
        kind: SpanKind = _INTERNAL,
    ) -> Span:
        # An explicit empty context for roots, so that no ambient span becomes the parent.
        ctx = trace.set_span_in_context(parent) if parent is not None else Context()
        return tracer.start_span(name, context=ctx, kind=kind, attributes=attrs, start_time=at_us * 1000)

    def end(self, span: Span, at_us: int) -> int:
        span.end(end_time=at_us * 1000)
        self.spans += 1
        return at_us

    def fail(self, span: Span, at_us: int, exc_type: str, message: str) -> None:
        span.set_status(Status(StatusCode.ERROR, message))
        exc_attrs = {"exception.type": exc_type}
        span.record_exception(RuntimeError(message), exc_attrs, timestamp=at_us * 1000, escaped=True)
        self.run_failed = True

    def uuid4(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def call_id(self) -> str:
        return "call_" + "".join(self.rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=24))

    def plan_call(self, model: Model, context_tokens: int) -> _Call:
        rng = self.rng
        output = max(12, min(160 if self.quick else 900, int(rng.lognormvariate(4.7, 0.7))))
        inp = context_tokens + rng.randint(40, 400)
        # Prompt processing adds a little to time-to-first-token on long contexts.
        ttft = rng.randint(*model.ttft_ms) * 1000 + inp * 40
        decode = int(output / model.tokens_per_s * _SECOND * rng.uniform(0.8, 1.3))
        self.llm_calls += 1
        return _Call(model, inp, output, ttft, ttft + decode)

    # -- vLLora gateway -------------------------------------------------------------------------

    def gateway_baggage(self, run_id: str, thread_id: str) -> Attrs:
        # What the gateway's baggage processor copies onto every span of a request.
        baggage: Attrs = {"vllora.run_id": run_id, "vllora.thread_id": thread_id, "vllora.tenant": "default"}
        if self.project:
            baggage["vllora.project_id"] = self.project
        return baggage

    def gateway_call(
        self,
        parent: Span,
        t0: int,
        base: Attrs,
        model: Model,
        context: int,
        prompt: str,
        tools: Sequence[str],
    ) -> tuple[int, _Call]:
        """One POST /v1/chat/completions as the gateway traces it; returns (end, call)."""
        rng, tr = self.rng, self.tracers("vllora-gateway", "vllora")
        call = self.plan_call(model, context)
        messages = [{"role": "user", "content": prompt}]
        http = {"http.request.method": "POST", "http.request.path": "/v1/chat/completions"}
        cai = self.start(tr, "cloud_api_invoke", parent, t0, base | http, _SERVER)
        request = _json({"model": model.qualified, "messages": messages, "stream": False})
        t = t0 + rng.randint(300, 1500)
        ai = self.start(tr, "api_invoke", cai, t, base | {"request": request, "title": prompt})
        model_def = {"name": model.qualified, "provider_name": model.provider, "model_name": model.name}
        names: Attrs = {
            "provider_name": model.provider,
            "model_name": model.qualified,
            "inference_model_name": model.name,
            "credentials_identifier": "own",
            "model": _json(model_def | {"engine_name": model.provider, "model_type": "completions"}),
        }
        t += rng.randint(500, 3000)
        mc = self.start(tr, "model_call", ai, t, base | names | {"input": "{}"})
        t += rng.randint(200, 900)
        payload = _json({"model": model.name, "messages": messages})
        pv = self.start(tr, model.provider, mc, t, base | {"retries_left": 0, "request": payload}, _CLIENT)
        t_end = t + call.duration_us
        if tools:
            calls = [{"id": self.call_id(), "type": "function", "function": {"name": n}} for n in tools]
            tools_attrs = {"tool_calls": _json(calls), "tool.name": ",".join(sorted(set(tools)))}
            ts = t_end - rng.randint(300, 2000)
            self.end(self.start(tr, "tools", pv, ts, base | tools_attrs), ts + rng.randint(50, 250))
        details = {"cached_tokens": 0, "cache_creation_tokens": 0, "audio_tokens": 0}
        usage_d = {
            "input_tokens": call.input_tokens,
            "output_tokens": call.output_tokens,
            "total_tokens": call.tokens,
        }
        usage = _json(usage_d | {"prompt_tokens_details": details, "is_cache_used": False})
        answer = _answer(call, tools)
        output = _json({"role": "assistant", "content": answer})
        cost = {"cost": call.cost, "per_input_token": model.usd_in, "per_output_token": model.usd_out}
        pv.set_attributes(
            {"output": output, "usage": usage, "ttft": call.ttft_us, "cost": _decimal(call.cost)}
        )
        mc.set_attributes({"output": output, "usage": usage, "ttft": call.ttft_us, "cost": _json(cost)})
        ai.set_attributes({"response": answer, "usage": usage, "cost": _decimal(call.cost)})
        cai.set_attributes({"http.response.status_code": 200, "status": 200})
        self.cost_usd += call.cost
        return self._end_call((pv, mc, ai, cai), t_end), call

    def gateway_failure(self, parent: Span, t0: int, base: Attrs, model: Model) -> int:
        """A call the provider refused: `error` on every span, no usage and no cost."""
        rng, tr = self.rng, self.tracers("vllora-gateway", "vllora")
        status, message = rng.choice(_GATEWAY_FAILURES)
        self.plan_call(model, 0)  # still a model_call, so it still counts as an LLM call
        failed = base | {"error": message}
        cai = self.start(tr, "cloud_api_invoke", parent, t0, failed | {"http.response.status_code": status})
        ai = self.start(
            tr, "api_invoke", cai, t0 + 800, failed | {"request": _json({"model": model.qualified})}
        )
        names = {"model_name": model.qualified, "provider_name": model.provider}
        mc = self.start(tr, "model_call", ai, t0 + 2500, failed | names)
        pv = self.start(tr, model.provider, mc, t0 + 3000, failed | {"retries_left": 0})
        self.run_failed = True
        return self._end_call((pv, mc, ai, cai), t0 + rng.randint(60_000, 600_000))

    def _end_call(self, spans: Sequence[Span], t: int) -> int:
        for span in spans:
            t = self.end(span, t) + self.rng.randint(100, 1200)
        return t

    def gateway_run(self, app: App, thread_id: str, t0: int, fail: bool) -> tuple[str, int]:
        """A client calling the gateway directly with X-Run-Id / X-Thread-Id / x-label headers.
        Each request gets its own `run` root and trace; they share the run id."""
        rng, tr = self.rng, self.tracers("vllora-gateway", "vllora")
        run_id = self.uuid4()
        base = self.gateway_baggage(run_id, thread_id) | {"vllora.label": app.label}
        model = rng.choice(app.models)
        n_calls = 2 if rng.random() < 0.3 else 1
        t, context = t0, rng.randint(150, 900)
        for i in range(n_calls):
            last = i == n_calls - 1
            root = self.start(tr, "run", None, t, base)
            t += rng.randint(100, 800)
            if fail and last:
                end = self.gateway_failure(root, t, base, model)
            else:
                tools = [] if last else [rng.choice(app.tools)]
                end, call = self.gateway_call(root, t, base, model, context, rng.choice(app.prompts), tools)
                context = call.tokens + rng.randint(80, 600)
            t = self.end(root, end + rng.randint(50, 400)) + rng.randint(300_000, 3 * _SECOND)
        return run_id, t

    # -- vLLora SDK over an agent framework -----------------------------------------------------

    def sdk_agent(self, parent: Span, t: int, app: App, depth: int, base: Attrs, fail: bool) -> int:
        rng, tr = self.rng, self.tracers(app.service, "gcp.vertex.agent")
        name = app.agents[0] if depth == 0 else rng.choice(app.agents[1:])
        agent_attrs = {
            "vllora.agent_name": name,
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": name,
        }
        agent = self.start(tr, "agent", parent, t, base | agent_attrs)
        # The gateway joins the SDK's trace through `traceparent`: its parent is a remote span.
        gw_base = self.gateway_baggage(str(base["vllora.run_id"]), str(base["vllora.thread_id"]))
        model = app.models[0] if self.quick else rng.choice(app.models)
        steps = 2 if self.quick else rng.randint(2, 3)
        fail_step = rng.randrange(steps - 1) if fail else -1
        t, context, prompt = t + rng.randint(500, 3000), rng.randint(600, 1800), rng.choice(app.prompts)
        for step in range(steps):
            if depth == 0 and step == 0 and not self.quick:
                wants = ["transfer_to_agent"]  # hand over to a sub-agent, as ADK does
            else:
                wants = [] if step == steps - 1 else rng.sample(app.tools, k=rng.randint(1, 2))
            task = self.start(tr, "task", agent, t, base | {"vllora.task_name": "call_llm"})
            remote = NonRecordingSpan(SpanContext(*self._ids(task), True, TraceFlags(TraceFlags.SAMPLED)))
            end, call = self.gateway_call(
                remote, t + rng.randint(2000, 9000), gw_base, model, context, prompt, wants
            )
            t, context = self.end(task, end + rng.randint(500, 3000)), call.tokens
            for tool_name in wants:
                tool_attrs = {"vllora.tool_name": tool_name, "gen_ai.tool.name": tool_name}
                tool = self.start(tr, "tool", agent, t + rng.randint(200, 1500), base | tool_attrs)
                if tool_name == "transfer_to_agent":
                    # A failure planned for this step happens inside the sub-agent and propagates up.
                    t = self.sdk_agent(
                        tool, t + rng.randint(2000, 5000), app, depth + 1, base, step == fail_step
                    )
                else:
                    t += rng.randint(80_000, 2_500_000)
                    tool.set_attribute("gcp.vertex.agent.tool_response", _json({"status": "ok"}))
                if step == fail_step:
                    self.fail(tool, t, _TOOL_TIMEOUT[0], f"{tool_name}: {_TOOL_TIMEOUT[1]}")
                t = self.end(tool, t + rng.randint(100, 900))
                context += rng.randint(100, 900)
            if step == fail_step:
                # The exception escapes the tool, then the agent, as a Python exception would.
                self.fail(agent, t, _TOOL_TIMEOUT[0], "agent aborted: tool call failed")
                break
        return self.end(agent, t + rng.randint(200, 1500))

    @staticmethod
    def _ids(span: Span) -> tuple[int, int]:
        ctx = span.get_span_context()
        return ctx.trace_id, ctx.span_id

    def sdk_run(
        self, app: App, thread_id: str, t0: int, fail: bool, running: bool = False
    ) -> tuple[str, int]:
        root = self.start(self.tracers(app.service, "gcp.vertex.agent"), "run", None, t0, {})
        # The SDK's rule: the run id is the trace id written as a UUID.
        run_id = str(uuid.UUID(int=root.get_span_context().trace_id))
        base: Attrs = {"vllora.run_id": run_id, "vllora.thread_id": thread_id, "vllora.client_name": "adk"}
        root.set_attributes(base)
        t = self.sdk_agent(root, t0 + self.rng.randint(1000, 20_000), app, 0, base, fail)
        if fail:
            self.fail(root, t, _TOOL_TIMEOUT[0], "agent aborted: tool call failed")
        if running:
            return run_id, t  # the root is still open: nothing ends it, so it is never exported
        return run_id, self.end(root, t + self.rng.randint(1000, 10_000))

    # -- OpenInference ----------------------------------------------------------------------------

    def oi_run(self, app: App, session: str, t0: int, fail: bool) -> tuple[str, int]:
        rng, tr = self.rng, self.tracers(app.service, "openinference.instrumentation.langchain")
        question = rng.choice(app.prompts)
        common: Attrs = {"session.id": session, "input.value": question}
        root = self.start(tr, app.agents[0], None, t0, common | {"openinference.span.kind": "AGENT"})
        chain = self.start(
            tr, "RunnableSequence", root, t0 + 900, common | {"openinference.span.kind": "CHAIN"}
        )
        model = rng.choice(app.models)
        t, context = t0 + rng.randint(3000, 9000), rng.randint(400, 1500)
        steps = rng.randint(2, 4)
        for step in range(steps):
            last = step == steps - 1
            tools = [] if last else [rng.choice(app.tools)]
            t, context = self.oi_llm(tr, chain, t, common, model, context, tools, fail and last)
            for tool_name in tools:
                tool_attrs: Attrs = {"openinference.span.kind": "TOOL", "tool.name": tool_name}
                tool = self.start(tr, tool_name, chain, t + rng.randint(300, 2000), common | tool_attrs)
                tool.set_attribute("output.value", _json({"results": rng.randint(1, 8)}))
                t = self.end(tool, t + rng.randint(200_000, 4 * _SECOND))
                context += rng.randint(300, 2500)
        if fail:  # the LLM's exception escapes the chain and the agent too
            self.fail(chain, t, *_LLM_TIMEOUT)
            self.fail(root, t, *_LLM_TIMEOUT)
        t = self.end(chain, t + rng.randint(500, 3000))
        if not fail and rng.random() < 0.5:
            sub = self.start(tr, app.agents[1], root, t + 1000, common | {"openinference.span.kind": "AGENT"})
            t, _ = self.oi_llm(tr, sub, t + 3000, common, app.models[0], context, [], False)
            t = self.end(sub, t + rng.randint(500, 2000))
        if not fail:
            root.set_attribute("output.value", "Here is a summary of what I found.")
        return _hex_trace_id(root), self.end(root, t + rng.randint(500, 3000))

    def oi_llm(
        self,
        tr: trace.Tracer,
        parent: Span,
        t: int,
        common: Attrs,
        model: Model,
        context: int,
        tools: list[str],
        error: bool,
    ) -> tuple[int, int]:
        _, oi_provider, oi_class = _NAMES[model.provider]
        call = self.plan_call(model, context)
        attrs: Attrs = {
            "openinference.span.kind": "LLM",
            "llm.model_name": model.name,
            "llm.provider": oi_provider,
            "llm.system": model.provider,
            "llm.invocation_parameters": _json({"temperature": 0.2}),
        }
        span = self.start(tr, oi_class, parent, t, common | attrs)
        if error:
            end = t + self.rng.randint(10, 30) * _SECOND  # a client-side timeout
            self.fail(span, end, *_LLM_TIMEOUT)
            return self.end(span, end), context
        tokens = {"prompt": call.input_tokens, "completion": call.output_tokens, "total": call.tokens}
        span.set_attributes({f"llm.token_count.{k}": v for k, v in tokens.items()})
        span.set_attribute("output.value", _answer(call, tools))
        self.cost_usd += call.cost
        return self.end(span, t + call.duration_us), call.tokens

    # -- OTel GenAI semantic conventions ------------------------------------------------------------

    def genai_agent(
        self, tr: trace.Tracer, parent: Span | None, t0: int, app: App, name: str, conv: str, fail: bool
    ) -> tuple[Span, int]:
        rng = self.rng
        model = rng.choice(app.models)
        provider = _NAMES[model.provider][0]
        common: Attrs = {"gen_ai.conversation.id": conv, "gen_ai.provider.name": provider}
        agent_attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}
        agent = self.start(tr, f"invoke_agent {name}", parent, t0, common | agent_attrs)
        op = "generate_content" if model.provider == "gemini" else "chat"
        request = {
            "gen_ai.operation.name": op,
            "gen_ai.request.model": model.name,
            "gen_ai.system": model.provider,
        }
        t, context = t0 + rng.randint(1000, 5000), rng.randint(500, 2000)
        steps = rng.randint(2, 3)
        for step in range(steps):
            call, last = self.plan_call(model, context), step == steps - 1
            chat = self.start(tr, f"{op} {model.name}", agent, t, common | request, _CLIENT)
            chat.set_attributes(
                {
                    "gen_ai.response.model": model.name,
                    "gen_ai.response.finish_reasons": ["stop" if last else "tool_calls"],
                    "gen_ai.usage.input_tokens": call.input_tokens,
                    "gen_ai.usage.output_tokens": call.output_tokens,
                }
            )
            self.cost_usd += call.cost
            t = self.end(chat, t + call.duration_us) + rng.randint(1000, 8000)
            context = call.tokens
            if last:
                break
            if parent is None and not fail and step == 0 and rng.random() < 0.4:
                _, t = self.genai_agent(tr, agent, t, app, app.agents[1], conv, fail=False)
                continue
            tool_name = rng.choice(app.tools)
            tool_attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool_name}
            tool_attrs |= {"gen_ai.tool.call.id": self.call_id(), "gen_ai.tool.type": "function"}
            tool = self.start(tr, f"execute_tool {tool_name}", agent, t, common | tool_attrs)
            t += rng.randint(30_000, 1_500_000)
            if fail:
                for span, message in ((tool, f"{tool_name}: {_HTTP_503[1]}"), (agent, f"{tool_name} failed")):
                    span.set_attribute("error.type", _HTTP_503[0])
                    self.fail(span, t, _HTTP_503[0], message)
                t = self.end(tool, t + 200)
                break
            t = self.end(tool, t + rng.randint(100, 600))
            context += rng.randint(100, 800)
        return agent, self.end(agent, t + rng.randint(200, 1500))

    def genai_run(self, app: App, conv: str, t0: int, fail: bool) -> tuple[str, int]:
        tr = self.tracers(app.service, "support_bot.agents")
        root, t = self.genai_agent(tr, None, t0, app, app.agents[0], conv, fail)
        return _hex_trace_id(root), t
