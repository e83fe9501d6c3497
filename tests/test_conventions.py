"""Convention mapping: spans shaped as each convention really sends them, normalised through
`tracehound.conventions.normalize`, with exact typed fields and the rule behind each."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from tracehound.conventions import normalize
from tracehound.conventions.pricing import compute_cost
from tracehound.model import (
    KIND_AGENT,
    KIND_CHAIN,
    KIND_EMBEDDING,
    KIND_LLM,
    KIND_OTHER,
    KIND_RETRIEVER,
    KIND_TOOL,
    STATUS_ERROR,
    STATUS_OK,
    RawSpan,
    Span,
    SpanEvent,
)

TRACE_ID = "0f8e2a4c6b1d4e3f9a7b2c5d8e1f4a6b"
START_US = 1737100800123456
RUN_ID = "9b7e5c3a-1d2f-4e6a-8b0c-7d5e3f1a2b4c"
THREAD_ID = "6a3c1d0e-2b44-4c1e-8f4a-1e2d3c4b5a69"

# What vLLora's BaggageSpanProcessor copies onto every gateway span before OTLP export.
GATEWAY_BAGGAGE: dict[str, Any] = {
    "vllora.run_id": RUN_ID,
    "vllora.thread_id": THREAD_ID,
    "vllora.tenant": "default",
    "vllora.project_id": "default-project",
    "vllora.label": "flight_search",
}


def make_raw(
    name: str,
    attributes: dict[str, Any],
    *,
    span_id: str = "bb8f6d2a1c3e4f50",
    parent: str | None = "5ad0c8e4f1a2b3c4",
    status_code: int = 0,
    status_message: str = "",
    events: list[SpanEvent] | None = None,
    project_header: str | None = None,
) -> RawSpan:
    return RawSpan(
        trace_id=TRACE_ID,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        start_time_us=START_US,
        finish_time_us=START_US + 1_530_865,
        attributes=attributes,
        events=events or [],
        status_code=status_code,
        status_message=status_message,
        project_header=project_header,
    )


def norm(name: str, attributes: dict[str, Any], **kwargs: Any) -> Span:
    return normalize(make_raw(name, attributes, **kwargs), received_us=START_US + 2_000_000)


def genai_prices_total(model: str, provider: str | None, inp: int, cached: int, out: int) -> float:
    usage = Usage(input_tokens=inp, cache_read_tokens=cached, output_tokens=out)
    return float(calc_price(usage, model, provider_id=provider).total_price)


# --------------------------------------------------------------------------- vLLora gateway

API_INVOKE_ATTRS: dict[str, Any] = {
    **GATEWAY_BAGGAGE,
    "request": '{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Find flights to Paris"}],'
    '"stream":false}',
    "title": "Find flights to Paris",
    "response": "Here are three options…",
    "cost": "0.0000165",
    "usage": '{"input_tokens":10,"output_tokens":25,"total_tokens":35,"prompt_tokens_details":'
    '{"cached_tokens":0,"cache_creation_tokens":0,"audio_tokens":0},"is_cache_used":false}',
}

MODEL_CALL_ATTRS: dict[str, Any] = {
    **GATEWAY_BAGGAGE,
    "input": "{}",
    "model": '{"name":"openai/gpt-4o-mini","provider_name":"openai","engine_name":"openai",'
    '"model_params":{},"model_name":"gpt-4o-mini","tools":[],"model_type":"completions"}',
    "provider_name": "openai",
    "model_name": "openai/gpt-4o-mini",
    "inference_model_name": "gpt-4o-mini",
    "credentials_identifier": "own",
    "output": '{"role":"assistant","content":"Here are three options…"}',
    "cost": '{"cost":1.65e-5,"per_input_token":0.15,"per_output_token":0.6,"is_cache_used":false}',
    "usage": '{"input_tokens":10,"output_tokens":25,"total_tokens":35,"is_cache_used":false}',
    "ttft": 412345,
}


def test_vllora_api_invoke() -> None:
    span = norm("api_invoke", dict(API_INVOKE_ATTRS))
    assert span.convention == "vllora"
    assert span.project_id == "default-project"
    assert (span.run_id, span.thread_id) == (RUN_ID, THREAD_ID)
    assert span.kind == KIND_CHAIN
    assert span.is_llm_call is False
    assert span.model == "openai/gpt-4o-mini"
    assert span.request_model == "openai/gpt-4o-mini"
    assert span.provider == "openai"
    assert (span.input_tokens, span.output_tokens, span.cached_tokens) == (10, 25, 0)
    assert span.cost == 1.65e-5
    assert span.cost_source == "provided"
    assert span.title == "Find flights to Paris"
    assert span.label == "flight_search"
    assert span.ttft_us is None
    assert span.rules == {
        "run_id": "vllora.run_id",
        "thread_id": "vllora.thread_id",
        "label": "vllora.label",
        "kind": "operation_name",
        "is_llm_call": "operation_name",
        "request_model": "request.model",
        "model": "request.model",
        "provider": "request.model",
        "title": "title",
        "input_tokens": "usage.input_tokens",
        "output_tokens": "usage.output_tokens",
        "cached_tokens": "usage.prompt_tokens_details.cached_tokens",
        "cost": "cost",
    }


def test_vllora_model_call_cost_is_a_json_object_string() -> None:
    span = norm("model_call", dict(MODEL_CALL_ATTRS))
    assert span.convention == "vllora"
    assert span.kind == KIND_LLM
    assert span.is_llm_call is True
    assert span.model == "openai/gpt-4o-mini"
    assert span.request_model is None
    assert span.provider == "openai"
    assert (span.input_tokens, span.output_tokens, span.cached_tokens) == (10, 25, None)
    assert span.cost == 1.65e-5
    assert span.rules["cost"] == "cost.cost"
    assert span.cost_source == "provided"
    assert span.ttft_us == 412345
    assert span.rules["model"] == "model_name"
    assert span.rules["provider"] == "provider_name"


def test_vllora_stored_row_label_wins_over_vllora_label() -> None:
    # As stored by vLLora (§2.3): `label` present; it wins over a `vllora.label` too.
    span = norm("model_call", {**MODEL_CALL_ATTRS, "label": "from_header", "vllora.label": "ignored"})
    assert span.label == "from_header"
    assert span.rules["label"] == "label"


def test_vllora_provider_span_is_llm_kind_but_not_an_llm_call() -> None:
    attrs = {
        **GATEWAY_BAGGAGE,
        "retries_left": 2,
        "request": '{"model":"gpt-4o-mini","messages":[]}',
        "output": '{"id":"chatcmpl-1"}',
        # Provider `usage` is a structured value, not a JSON string.
        "usage": {"input_tokens": 10, "output_tokens": 25, "total_tokens": 35},
        "ttft": "398000",
        "cost": "0.0000165",
    }
    span = norm("openai", attrs)
    assert span.convention == "vllora"
    assert span.kind == KIND_LLM
    assert span.is_llm_call is False
    assert span.provider == "openai"
    assert span.rules["provider"] == "operation_name"
    assert span.model is None
    assert (span.input_tokens, span.output_tokens) == (10, 25)
    assert span.cost == 1.65e-5
    assert span.ttft_us == 398000


def test_vllora_cache_span_has_no_provider() -> None:
    span = norm("cache", {**GATEWAY_BAGGAGE, "cache_state": "HIT", "cost": "0"})
    assert span.kind == KIND_LLM
    assert span.provider is None
    assert span.cost == 0.0
    assert span.cost_source == "provided"


def test_vllora_tools_span() -> None:
    attrs = {
        **GATEWAY_BAGGAGE,
        "tool_calls": '[{"id":"call_1","type":"function","function":{"name":"search_flights"}}]',
        "tool.name": "search_flights,book_flight",
    }
    span = norm("tools", attrs)
    assert span.kind == KIND_TOOL
    assert span.is_llm_call is False
    assert span.tool_name == "search_flights,book_flight"
    assert span.rules["tool_name"] == "tool.name"
    assert span.cost is None
    assert span.cost_source is None


def test_vllora_bedrock_tools_span_names_tools_in_label() -> None:
    span = norm("tools", {"vllora.run_id": RUN_ID, "tool_calls": "[]", "label": "get_weather"})
    assert span.tool_name == "get_weather"
    assert span.rules["tool_name"] == "label"
    assert span.label == "get_weather"


def test_vllora_cloud_api_invoke_and_run() -> None:
    http = norm(
        "cloud_api_invoke",
        {
            **GATEWAY_BAGGAGE,
            "http.request.method": "POST",
            "http.request.path": "/v1/chat/completions",
            "http.response.status_code": 200,
            "status": 200,
        },
    )
    assert (http.kind, http.is_llm_call, http.convention) == (KIND_OTHER, False, "vllora")
    assert http.rules["kind"] == "operation_name"
    root = norm("run", dict(GATEWAY_BAGGAGE), parent=None)
    assert (root.kind, root.convention, root.run_id) == (KIND_CHAIN, "vllora", RUN_ID)


def test_vllora_sdk_spans() -> None:
    sdk = {"vllora.run_id": RUN_ID, "vllora.thread_id": THREAD_ID, "vllora.client_name": "adk"}
    agent = norm("agent", {**sdk, "vllora.agent_name": "flight_agent"}, project_header="proj-1")
    assert (agent.kind, agent.is_llm_call, agent.convention) == (KIND_AGENT, False, "vllora")
    assert agent.project_id == "proj-1"

    tool = norm("tool", {**sdk, "vllora.tool_name": "search_flights", "openinference.span.kind": "TOOL"})
    assert tool.kind == KIND_TOOL
    assert tool.tool_name == "search_flights"
    assert tool.rules["tool_name"] == "vllora.tool_name"

    # An LLM span renamed by the SDK: kind tells the truth, but only model_call counts as a call.
    task = norm(
        "task",
        {
            **sdk,
            "vllora.task_name": "call_llm",
            "gen_ai.system": "gcp.vertex.agent",
            "gen_ai.request.model": "gemini-2.0-flash",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 30,
        },
    )
    assert task.kind == KIND_LLM
    assert task.is_llm_call is False
    assert task.rules["is_llm_call"] == "operation_name"
    assert task.model == "gemini-2.0-flash"
    assert (task.input_tokens, task.output_tokens) == (120, 30)

    plain_task = norm("task", {**sdk, "vllora.task_name": "plan"})
    assert plain_task.kind == KIND_CHAIN


def test_generic_names_without_vllora_markers_are_not_vllora() -> None:
    # LangGraph's prebuilt agent has nodes named "agent" and "tools".
    span = norm("tools", {"openinference.span.kind": "CHAIN", "input.value": "{}"})
    assert span.convention == "openinference"
    assert span.kind == KIND_CHAIN
    assert span.tool_name is None
    plain = norm("agent", {"service.component": "x"})
    assert plain.convention is None
    assert plain.kind == KIND_OTHER
    assert plain.rules == {"run_id": "trace_id"}


def test_vllora_non_string_run_id_is_dropped() -> None:
    span = norm("model_call", {**MODEL_CALL_ATTRS, "vllora.run_id": 42, "vllora.thread_id": 7})
    assert span.run_id == TRACE_ID
    assert span.rules["run_id"] == "trace_id"
    assert span.thread_id is None


def test_vllora_numbers_as_strings() -> None:
    attrs = {
        **MODEL_CALL_ATTRS,
        "usage": '{"input_tokens":"10","output_tokens":"25","prompt_tokens_details":{"cached_tokens":"4"}}',
        "ttft": "412345",
        "cost": '{"cost":"0.0000165"}',
    }
    span = norm("model_call", attrs)
    assert (span.input_tokens, span.output_tokens, span.cached_tokens) == (10, 25, 4)
    assert span.ttft_us == 412345
    assert span.cost == 1.65e-5


def test_vllora_usage_null_and_error_without_usage() -> None:
    attrs = {
        **GATEWAY_BAGGAGE,
        "request": '{"model":"openai/gpt-4o-mini","messages":[]}',
        "usage": "null",
        "error": "Rate limit exceeded",
    }
    span = norm("api_invoke", attrs)
    assert (span.input_tokens, span.output_tokens) == (None, None)
    assert span.cost is None
    assert span.cost_source is None
    assert span.is_error is True
    assert span.error_message == "Rate limit exceeded"


def test_vllora_malformed_values_are_skipped() -> None:
    attrs = {
        **GATEWAY_BAGGAGE,
        "model_name": 12,
        "provider_name": "",
        "usage": '{"input_tokens": 10, "output_tok',
        "cost": '{"cost": "lots"}',
        "ttft": "soon",
        "label": ["not", "a", "string"],
    }
    span = norm("model_call", attrs)
    assert span.kind == KIND_LLM
    assert span.is_llm_call is True
    assert span.model is None
    assert span.provider is None
    assert (span.input_tokens, span.output_tokens, span.cached_tokens) == (None, None, None)
    assert span.cost is None
    assert span.ttft_us is None
    assert span.label == "flight_search"  # falls back to vllora.label
    assert span.cost_source == "unpriced"  # an LLM call we could not price
    for field in ("model", "provider", "input_tokens", "cost", "ttft_us"):
        assert field not in span.rules


def test_vllora_negative_and_non_finite_values_are_skipped() -> None:
    attrs = {
        **GATEWAY_BAGGAGE,
        "request": "not json at all",
        "usage": '{"input_tokens":-3,"output_tokens":2.5}',
        "cost": "NaN",
    }
    span = norm("api_invoke", attrs)
    assert span.model is None
    assert (span.input_tokens, span.output_tokens) == (None, None)
    assert span.cost is None
    attrs["cost"] = "-0.5"
    assert norm("api_invoke", attrs).cost is None
    attrs["cost"] = "inf"
    assert norm("api_invoke", attrs).cost is None


# ---------------------------------------------------------------------------- OpenInference


def openinference_llm(**extra: Any) -> dict[str, Any]:
    return {
        "openinference.span.kind": "LLM",
        "llm.system": "openai",
        "llm.provider": "openai",
        "llm.model_name": "gpt-4o-mini-2024-07-18",
        "llm.invocation_parameters": '{"temperature": 0.2}',
        "input.mime_type": "application/json",
        "input.value": '{"messages": [{"role": "user", "content": "hi"}]}',
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "hi",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "hello",
        "llm.token_count.prompt": 1200,
        "llm.token_count.completion": 85,
        "llm.token_count.total": 1285,
        "llm.token_count.prompt_details.cache_read": 1024,
        "session.id": "sess-42",
        **extra,
    }


def test_openinference_llm_span_computed_cost() -> None:
    span = norm("ChatOpenAI", openinference_llm())
    assert span.convention == "openinference"
    assert span.kind == KIND_LLM
    assert span.is_llm_call is True
    assert span.model == "gpt-4o-mini-2024-07-18"
    assert span.provider == "openai"
    assert span.rules["provider"] == "llm.provider"
    assert (span.input_tokens, span.output_tokens, span.cached_tokens) == (1200, 85, 1024)
    assert span.thread_id == "sess-42"
    assert span.rules["thread_id"] == "session.id"
    assert span.run_id == TRACE_ID
    # gpt-4o-mini: $0.15 input, $0.075 cached input, $0.6 output per MTok.
    # 176 * 0.15 + 1024 * 0.075 + 85 * 0.6 = 154.2 per million tokens.
    assert span.cost == 0.0001542
    assert span.cost == genai_prices_total("gpt-4o-mini-2024-07-18", "openai", 1200, 1024, 85)
    assert span.cost_source == "computed"
    assert span.rules["cost"] == "genai-prices"


def test_openinference_provided_cost_and_string_counts() -> None:
    span = norm(
        "ChatOpenAI",
        openinference_llm(**{"llm.cost.total": "0.0066", "llm.token_count.prompt": "1200"}),
    )
    assert span.cost == 0.0066
    assert span.cost_source == "provided"
    assert span.rules["cost"] == "llm.cost.total"
    assert span.input_tokens == 1200


def test_openinference_other_kinds() -> None:
    tool = norm("search", {"openinference.span.kind": "TOOL", "tool.name": "web_search"})
    assert (tool.kind, tool.is_llm_call, tool.tool_name) == (KIND_TOOL, False, "web_search")
    agent = norm("research_agent", {"openinference.span.kind": "AGENT", "agent.name": "researcher"})
    assert (agent.kind, agent.label) == (KIND_AGENT, "researcher")
    assert agent.rules["label"] == "agent.name"
    retriever = norm("retrieve", {"openinference.span.kind": "RETRIEVER"})
    assert retriever.kind == KIND_RETRIEVER
    reranker = norm("rerank", {"openinference.span.kind": "RERANKER", "reranker.model_name": "ms-marco"})
    assert (reranker.kind, reranker.model) == (KIND_RETRIEVER, "ms-marco")
    embedding = norm(
        "OpenAIEmbeddings",
        {"openinference.span.kind": "EMBEDDING", "embedding.model_name": "text-embedding-3-small"},
    )
    assert (embedding.kind, embedding.model, embedding.is_llm_call) == (
        KIND_EMBEDDING,
        "text-embedding-3-small",
        False,
    )
    assert embedding.cost_source is None  # no tokens, not an LLM call
    guard = norm("guard", {"openinference.span.kind": "GUARDRAIL"})
    assert guard.kind == KIND_OTHER
    assert guard.rules["kind"] == "openinference.span.kind"
    chain = norm("RunnableSequence", {"openinference.span.kind": "chain"})
    assert chain.kind == KIND_CHAIN


def test_openinference_malformed_values() -> None:
    span = norm(
        "ChatOpenAI",
        openinference_llm(
            **{
                "llm.token_count.prompt": "many",
                "llm.token_count.completion": 12.5,
                "llm.token_count.prompt_details.cache_read": None,
                "llm.cost.total": "free",
                "llm.provider": 3,
            }
        ),
    )
    assert (span.input_tokens, span.output_tokens, span.cached_tokens) == (None, None, None)
    assert span.provider == "openai"
    assert span.rules["provider"] == "llm.system"
    assert span.cost is None
    assert span.cost_source == "unpriced"


def test_session_id_alone_fills_thread_without_claiming_the_span() -> None:
    span = norm("handler", {"session.id": "s-1"})
    assert span.thread_id == "s-1"
    assert span.convention is None


# ------------------------------------------------------------------------ OTel GenAI


def genai_chat(**extra: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.request.temperature": 0.3,
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.id": "chatcmpl-9",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 2000,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.cache_read.input_tokens": 1500,
        "gen_ai.conversation.id": "conv_5j66UpCpwteGg4YSxUnt7lPY",
        "server.address": "api.openai.com",
        **extra,
    }


def test_genai_chat_span() -> None:
    span = norm("chat gpt-4o", genai_chat(), parent=None)
    assert span.convention == "genai"
    assert span.kind == KIND_LLM
    assert span.is_llm_call is True
    assert span.rules["is_llm_call"] == "gen_ai.operation.name"
    assert span.model == "gpt-4o-2024-08-06"
    assert span.rules["model"] == "gen_ai.response.model"
    assert span.request_model == "gpt-4o"
    assert span.provider == "openai"
    assert (span.input_tokens, span.output_tokens, span.cached_tokens) == (2000, 300, 1500)
    assert span.thread_id == "conv_5j66UpCpwteGg4YSxUnt7lPY"
    assert span.rules["thread_id"] == "gen_ai.conversation.id"
    # gpt-4o: 500 * 2.5 + 1500 * 1.25 + 300 * 10 = 6125 per million tokens.
    assert span.cost == 0.006125
    assert span.cost == genai_prices_total("gpt-4o-2024-08-06", "openai", 2000, 1500, 300)
    assert span.cost_source == "computed"


def test_genai_deprecated_names_and_ttft_in_seconds() -> None:
    attrs = {
        "gen_ai.operation.name": "text_completion",
        "gen_ai.system": "OpenAI",
        "gen_ai.request.model": "gpt-3.5-turbo-0125",
        "gen_ai.usage.prompt_tokens": "15",
        "gen_ai.usage.completion_tokens": 30,
        "gen_ai.response.time_to_first_chunk": 0.25,
    }
    span = norm("text_completion gpt-3.5-turbo", attrs)
    assert span.provider == "openai"
    assert span.rules["provider"] == "gen_ai.system"
    assert span.model == "gpt-3.5-turbo-0125"
    assert span.rules["model"] == "gen_ai.request.model"
    assert (span.input_tokens, span.output_tokens) == (15, 30)
    assert span.rules["input_tokens"] == "gen_ai.usage.prompt_tokens"
    assert span.ttft_us == 250_000
    assert span.cost == 0.0000525  # 15 * 0.5 + 30 * 1.5 per million tokens


def test_genai_agent_tool_embedding_spans() -> None:
    agent = norm(
        "invoke_agent Math Tutor",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "Math Tutor"},
    )
    assert (agent.kind, agent.is_llm_call, agent.label) == (KIND_AGENT, False, "Math Tutor")
    assert agent.rules["label"] == "gen_ai.agent.name"
    tool = norm(
        "execute_tool get_weather",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "c1",
        },
    )
    assert (tool.kind, tool.tool_name) == (KIND_TOOL, "get_weather")
    emb = norm(
        "embeddings text-embedding-3-small",
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.usage.input_tokens": 1000,
        },
    )
    assert (emb.kind, emb.is_llm_call) == (KIND_EMBEDDING, False)
    assert emb.cost == genai_prices_total("text-embedding-3-small", "openai", 1000, 0, 0)
    assert emb.cost == 0.00002
    assert emb.cost_source == "computed"


def test_genai_unknown_model_is_unpriced() -> None:
    span = norm("chat my-finetune", genai_chat(**{"gen_ai.response.model": "acme-finetune-v3"}))
    assert span.model == "acme-finetune-v3"
    assert span.input_tokens == 2000
    assert span.cost is None
    assert span.cost_source == "unpriced"


def test_genai_malformed_values() -> None:
    attrs = genai_chat(
        **{
            "gen_ai.usage.input_tokens": "2k",
            "gen_ai.usage.output_tokens": [300],
            "gen_ai.usage.cache_read.input_tokens": -1,
            "gen_ai.response.time_to_first_chunk": "fast",
            "gen_ai.usage.cost": "n/a",
        }
    )
    span = norm("chat gpt-4o", attrs)
    assert (span.input_tokens, span.output_tokens, span.cached_tokens) == (None, None, None)
    assert span.ttft_us is None
    assert span.cost is None
    assert span.cost_source == "unpriced"


def test_genai_usage_cost_is_provided() -> None:
    span = norm("chat gpt-4o", genai_chat(**{"gen_ai.usage.cost": 0.0042}))
    assert span.cost == 0.0042
    assert span.cost_source == "provided"
    assert span.rules["cost"] == "gen_ai.usage.cost"


# ------------------------------------------------------------------------ OpenLLMetry


def test_openllmetry_chat_span() -> None:
    attrs = {
        "llm.request.type": "chat",
        "gen_ai.system": "OpenAI",
        "gen_ai.request.model": "gpt-3.5-turbo",
        "gen_ai.response.model": "gpt-3.5-turbo-0125",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "Tell me a joke about OpenTelemetry",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "…",
        "gen_ai.usage.prompt_tokens": 15,
        "gen_ai.usage.completion_tokens": 30,
        "llm.usage.total_tokens": 45,
        "llm.is_streaming": False,
        "traceloop.workflow.name": "joke_generator",
        "traceloop.association.properties.user_id": "u-1",
    }
    span = norm("openai.chat", attrs)
    assert span.convention == "openllmetry"
    assert span.kind == KIND_LLM
    assert span.is_llm_call is True
    assert span.rules["is_llm_call"] == "llm.request.type"
    assert span.model == "gpt-3.5-turbo-0125"
    assert span.request_model == "gpt-3.5-turbo"
    assert span.provider == "openai"
    assert (span.input_tokens, span.output_tokens) == (15, 30)
    assert span.label == "joke_generator"
    assert span.rules["label"] == "traceloop.workflow.name"
    assert span.cost == 0.0000525
    assert span.cost_source == "computed"


def test_openllmetry_decorator_spans() -> None:
    workflow = norm(
        "joke_generator.workflow",
        {
            "traceloop.span.kind": "workflow",
            "traceloop.entity.name": "joke_generator",
            "traceloop.workflow.name": "joke_generator",
        },
    )
    assert (workflow.kind, workflow.is_llm_call, workflow.convention) == (KIND_CHAIN, False, "openllmetry")
    assert workflow.cost_source is None
    tool = norm(
        "get_weather.tool",
        {
            "traceloop.span.kind": "tool",
            "traceloop.entity.name": "get_weather",
            "traceloop.workflow.name": "w",
        },
    )
    assert (tool.kind, tool.tool_name) == (KIND_TOOL, "get_weather")
    assert tool.rules["tool_name"] == "traceloop.entity.name"
    agent = norm("planner.agent", {"traceloop.span.kind": "agent", "traceloop.entity.name": "planner"})
    assert agent.kind == KIND_AGENT


def test_openllmetry_anthropic_cache_tokens() -> None:
    # Anthropic reports input tokens without the cache reads; the price counts both.
    attrs = {
        "llm.request.type": "chat",
        "gen_ai.system": "Anthropic",
        "gen_ai.request.model": "claude-3-5-sonnet-20241022",
        "gen_ai.usage.prompt_tokens": 20,
        "gen_ai.usage.completion_tokens": 50,
        "gen_ai.usage.cache_read_input_tokens": 1000,
    }
    span = norm("anthropic.chat", attrs)
    assert span.provider == "anthropic"
    assert (span.input_tokens, span.output_tokens, span.cached_tokens) == (20, 50, 1000)
    assert span.rules["cached_tokens"] == "gen_ai.usage.cache_read_input_tokens"
    # 20 * 3 + 1000 * 0.3 + 50 * 15 = 1110 per million tokens.
    assert span.cost == 0.00111
    assert span.cost == genai_prices_total("claude-3-5-sonnet-20241022", "anthropic", 1020, 1000, 50)


def test_openllmetry_llm_usage_cache_name() -> None:
    attrs = {
        "llm.request.type": "completion",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 10,
        "llm.usage.cache_read_input_tokens": "400",
    }
    span = norm("openai.completion", attrs)
    assert span.cached_tokens == 400
    assert span.rules["cached_tokens"] == "llm.usage.cache_read_input_tokens"
    assert span.cost == 0.000126  # 600 * 0.15 + 400 * 0.075 + 10 * 0.6 per million tokens


# -------------------------------------------------------------------------- precedence


def test_vllora_sdk_span_with_genai_attributes_keeps_vllora_fields() -> None:
    attrs = {
        "vllora.run_id": RUN_ID,
        "vllora.thread_id": THREAD_ID,
        "vllora.label": "travel",
        "vllora.agent_name": "flight_agent",
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "flight_agent",
        "gen_ai.conversation.id": "other-thread",
    }
    span = norm("agent", attrs)
    assert span.convention == "vllora"
    assert span.kind == KIND_AGENT
    assert span.rules["kind"] == "operation_name"
    assert span.thread_id == THREAD_ID
    assert span.label == "travel"


# ------------------------------------------------------------------------ cost provenance


def test_cost_provenance_provided_computed_unpriced_none() -> None:
    provided = norm("model_call", dict(MODEL_CALL_ATTRS))
    assert (provided.cost, provided.cost_source) == (1.65e-5, "provided")

    without_cost = {k: v for k, v in MODEL_CALL_ATTRS.items() if k != "cost"}
    computed = norm("model_call", without_cost)
    assert computed.cost == 1.65e-5  # 10 * 0.15 + 25 * 0.6 per million tokens
    assert computed.cost_source == "computed"
    assert computed.rules["cost"] == "genai-prices"

    unknown = norm("model_call", {**without_cost, "model_name": "acme/secret-model"})
    assert (unknown.cost, unknown.cost_source) == (None, "unpriced")
    assert "cost" not in unknown.rules

    no_model = norm("ChatModel", {"openinference.span.kind": "LLM"})
    assert no_model.is_llm_call is True
    assert (no_model.cost, no_model.cost_source) == (None, "unpriced")

    plain = norm("GET /health", {"http.route": "/health"})
    assert (plain.cost, plain.cost_source) == (None, None)


@pytest.mark.parametrize(
    ("model", "provider", "inp", "cached", "out"),
    [
        ("gpt-4o-mini", "openai", 123_457, 100_000, 9_876),
        ("gpt-3.5-turbo", "openai", 5_000, 2_000, 100),  # no cache price: cached billed as input
        ("claude-3-5-sonnet", "anthropic", 70_000, 60_000, 1_234),
        ("gemini-2.5-pro", "google", 150_000, 10_000, 2_000),  # tiered, below the tier
        ("gemini-2.5-pro", "google", 250_000, 10_000, 2_000),  # tiered, above it
        ("sonar", "perplexity", 1_000, 0, 500),  # per-request fee
    ],
)
def test_compute_cost_matches_genai_prices(
    model: str, provider: str, inp: int, cached: int, out: int
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = genai_prices_total(model, provider, inp, cached, out)
    assert expected > 0
    assert compute_cost(model, provider, inp, cached, out, START_US) == expected
    # Twice: the second call goes through the cached lookup and rates.
    assert compute_cost(model, provider, inp, cached, out, START_US) == expected


def test_compute_cost_provider_prefix_and_unknown_provider() -> None:
    expected = genai_prices_total("gpt-4o-mini", "openai", 10, 0, 25)
    assert compute_cost("openai/gpt-4o-mini", None, 10, 0, 25, START_US) == expected
    assert compute_cost("openai/gpt-4o-mini", "openai", 10, 0, 25, START_US) == expected
    assert compute_cost("gpt-4o-mini", "no-such-cloud", 10, 0, 25, START_US) == expected
    assert compute_cost("no-such-model", "openai", 10, 0, 25, START_US) is None
    assert compute_cost("", None, 10, 0, 25, START_US) is None


# ------------------------------------------------------------------------------- errors


def test_error_status_uses_status_message() -> None:
    span = norm("chat gpt-4o", genai_chat(), status_code=STATUS_ERROR, status_message="upstream 502")
    assert span.is_error is True
    assert span.error_message == "upstream 502"
    assert span.rules["error_message"] == "status.message"


def test_error_attribute_wins_over_status_and_exception() -> None:
    event = SpanEvent(
        "exception", START_US + 10, {"exception.type": "HTTPError", "exception.message": "boom"}
    )
    span = norm(
        "model_call",
        {**MODEL_CALL_ATTRS, "error": "Provider returned 429"},
        status_code=STATUS_ERROR,
        status_message="failed",
        events=[event],
    )
    assert span.is_error is True
    assert span.error_message == "Provider returned 429"
    assert span.rules["error_message"] == "error"


def test_exception_event_message_when_status_has_none() -> None:
    event = SpanEvent(
        "exception",
        START_US + 10,
        {"exception.type": "ValueError", "exception.message": "bad tool input", "exception.stacktrace": "…"},
    )
    span = norm("search", {"openinference.span.kind": "TOOL"}, status_code=STATUS_ERROR, events=[event])
    assert span.is_error is True
    assert span.error_message == "bad tool input"
    assert span.rules["error_message"] == "exception.message"


def test_exception_event_alone_is_an_error() -> None:
    event = SpanEvent("exception", START_US + 10, {"exception.type": "TimeoutError"})
    span = norm("work", {}, events=[event])
    assert span.is_error is True
    assert span.error_message == "TimeoutError"


def test_no_error() -> None:
    event = SpanEvent("log", START_US + 10, {"message": "fine"})
    span = norm("work", {"error": ""}, status_code=STATUS_OK, events=[event])
    assert span.is_error is False
    assert span.error_message is None
    assert "error_message" not in span.rules


# -------------------------------------------------------------------------- run, project


def test_run_id_falls_back_to_trace_id() -> None:
    span = norm("chat gpt-4o", genai_chat())
    assert span.run_id == TRACE_ID
    assert span.rules["run_id"] == "trace_id"


def test_project_resolution() -> None:
    attrs = {**MODEL_CALL_ATTRS, "vllora.project_id": "from-attribute"}
    assert norm("model_call", attrs, project_header="from-header").project_id == "from-header"
    assert norm("model_call", attrs).project_id == "from-attribute"
    assert norm("chat gpt-4o", genai_chat()).project_id == "default"
    assert norm("chat gpt-4o", genai_chat(**{"vllora.project_id": 5})).project_id == "default"


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("gen_ai.usage.input_tokens", "9" * 30, "input_tokens"),
        ("gen_ai.usage.output_tokens", 2**63 - 1, "output_tokens"),
        ("llm.token_count.prompt", "1e300", "input_tokens"),
        ("gen_ai.usage.cost", 1e308, "cost"),
        ("llm.cost.total", "1e300", "cost"),
    ],
)
def test_huge_counts_and_costs_are_not_taken(key: str, value: Any, field: str) -> None:
    # Found by tests/test_fuzz_decode.py: a 30-digit count cannot be stored in SQLite, and sums
    # of counts near 2**63, or of costs near 1e308, overflow (SUM fails, TOTAL gives infinity).
    llm = {"gen_ai.operation.name": "chat", "openinference.span.kind": "LLM"}
    span = norm("chat", {**llm, key: value})
    assert getattr(span, field) is None
    assert span.attributes[key] == value  # kept as sent
    largest = norm("chat", {**llm, key: 10**12 if "token" in key else 1e9})
    assert getattr(largest, field) is not None
