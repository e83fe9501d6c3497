"""The MCP server through the official `mcp` client SDK: streamable HTTP at /mcp on the running
server, and stdio through `tracehound mcp` (on the database file, and against --url). Answers are
checked against the REST endpoints on the shared world dataset (tests/world.py) and exact facts."""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from tests.conftest import Server, get_json
from tests.world import CLAUDE, GPT, RUN_B, World
from tracehound import __version__
from tracehound.mcp_server.prompts import playbook_texts

T = TypeVar("T")

TRACEHOUND_TOOLS = {
    "list_runs",
    "get_run",
    "run_bottlenecks",
    "project_stats",
    "cost_breakdown",
    "timeseries",
    "search_spans",
    "spans_summary",
    "get_span_content",
    "list_labels",
}
VLLORA_TOOLS = {"get_version", "search_traces", "get_llm_call", "get_run_overview", "get_recent_stats"}


def session(target: Any, work: Callable[[Client], Awaitable[T]]) -> T:
    async def go() -> T:
        async with Client(target) as client:
            return await work(client)

    return anyio.run(go)


def call(server: Server, tool: str, args: dict[str, Any]) -> CallToolResult:
    async def one(client: Client) -> CallToolResult:
        return await client.call_tool(tool, args)

    return session(f"{server.api}/mcp", one)


def data(result: CallToolResult) -> Any:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error
    return " ".join(getattr(c, "text", "") for c in result.content)


def test_tools_and_prompts_listed(server: Server) -> None:
    async def listing(client: Client) -> tuple[Any, Any]:
        return await client.list_tools(), await client.list_prompts()

    tools, prompts = session(f"{server.api}/mcp", listing)
    names = {t.name for t in tools.tools}
    assert names == TRACEHOUND_TOOLS | VLLORA_TOOLS
    assert all(t.description for t in tools.tools)
    assert {p.name for p in prompts.prompts} == {
        "debug_errors",
        "analyze_performance",
        "analyze_costs",
        "monitor_system_health",
    }


def test_playbooks_name_only_real_tools_and_arguments(server: Server) -> None:
    tools = session(f"{server.api}/mcp", lambda c: c.list_tools()).tools
    schemas = {t.name: set(t.input_schema.get("properties", {})) for t in tools}
    for name, text in playbook_texts().items():
        mentioned = set(re.findall(r"`([a-z_]+)`", text))
        called = {m for m in mentioned if m in schemas}
        assert called, name
        # `tool` with arg=..., on the same line: each argument exists on that tool.
        for tool, args in re.findall(r"`([a-z_]+)` with ([^:.\n]+)", text):
            for arg in re.findall(r"([a-z_]+)=", args):
                assert arg in schemas[tool], f"{name}: {tool} has no argument {arg}"


def test_list_runs_applies_every_filter_like_rest(server: Server, world: World, wapi: httpx.Client) -> None:
    got = data(
        call(
            server,
            "list_runs",
            {"project_id": world.project, "status": ["failed"], "sort_by": "duration", "order": "desc"},
        )
    )
    rest = get_json(wapi, "/runs", {"status": "failed", "sort_by": "duration", "order": "desc"})
    assert [r["run_id"] for r in got["runs"]] == [r["run_id"] for r in rest["data"]] == [RUN_B, world.run_d]
    assert got["runs"] == rest["data"]
    assert got["total"] == 2 and got["truncated"] is False and got["next_cursor"] is None

    by_model = data(call(server, "list_runs", {"project_id": world.project, "model_name": CLAUDE}))
    assert {r["run_id"] for r in by_model["runs"]} == {"run-a", "run-c"}


def test_list_runs_pages_with_cursor(server: Server, world: World, wapi: httpx.Client) -> None:
    everything = [r["run_id"] for r in get_json(wapi, "/runs", {"period": "all"})["data"]]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        args: dict[str, Any] = {"project_id": world.project, "period": "all", "limit": 2}
        if cursor:
            args["cursor"] = cursor
        page = data(call(server, "list_runs", args))
        seen += [r["run_id"] for r in page["runs"]]
        pages += 1
        if not page["truncated"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
        assert cursor == str(len(seen))
    assert seen == everything and len(everything) == 6 and pages == 3


def test_get_run_bounds_its_span_tree(server: Server, world: World, wapi: httpx.Client) -> None:
    first = data(call(server, "get_run", {"project_id": world.project, "run_id": "run-a", "span_limit": 4}))
    assert first["run"] == get_json(wapi, "/runs/run-a/details")
    assert first["total"] == 10 and len(first["span_tree"]) == 4
    assert first["truncated"] is True and first["next_cursor"] == "4"
    assert "attribute" not in first["span_tree"][0]
    rest = data(
        call(
            server,
            "get_run",
            {"project_id": world.project, "run_id": "run-a", "span_limit": 100, "cursor": "4"},
        )
    )
    assert len(rest["span_tree"]) == 6 and rest["truncated"] is False
    ids = [s["span_id"] for s in first["span_tree"] + rest["span_tree"]]
    assert ids == [s["span_id"] for s in get_json(wapi, "/runs/run-a", {"limit": 100})["data"]]


def unpaged(answer: dict[str, Any], key: str) -> dict[str, Any]:
    """The answer without the paging the tool added around its list `key`."""
    assert answer.pop(f"{key}_truncated") is False and answer.pop("next_cursor") is None
    assert answer.pop(f"{key}_total") == len(answer[key])
    if key != "critical_path":  # a bottleneck report has a `truncated` of its own
        assert answer.pop("truncated") is False
    return answer


def test_analytics_tools_equal_rest(server: Server, world: World, wapi: httpx.Client) -> None:
    p = world.project
    bottlenecks = data(call(server, "run_bottlenecks", {"project_id": p, "run_id": "run-a", "limit": 3}))
    assert unpaged(bottlenecks, "critical_path") == get_json(wapi, "/runs/run-a/bottlenecks", {"limit": 3})
    start, end = str(world.us(-OLD)), str(world.us(100))
    stats = data(call(server, "project_stats", {"project_id": p, "start": start, "end": end}))
    assert unpaged(stats, "by_model") == get_json(wapi, "/stats", {"start": start, "end": end})
    assert stats["total_runs"] == 5 and stats["failed_runs"] == 2
    args = {"metric": "cost", "interval": "1m", "start": start, "end": end}
    series = data(call(server, "timeseries", {"project_id": p, **args}))
    assert unpaged(series, "buckets") == get_json(wapi, "/metrics/timeseries", args)
    breakdown = data(
        call(server, "cost_breakdown", {"project_id": p, "by": "model", "start": start, "end": end})
    )
    assert [r["model"] for r in breakdown["data"]] == [CLAUDE, GPT]
    assert breakdown["total"] == 2 and breakdown["truncated"] is False


def test_long_answers_come_in_pages(server: Server, world: World, wapi: httpx.Client) -> None:
    """Three days of 1-minute buckets are 4,321 buckets: the tool answers 100 at a time, with the
    trend and anomalies of the whole range in every page."""
    p = world.project
    args = {"metric": "runs", "interval": "1m", "period": "last_3_days"}
    first = data(call(server, "timeseries", {"project_id": p, **args}))
    assert len(first["buckets"]) == 100 and first["buckets_total"] == 4321
    assert first["truncated"] is True and first["next_cursor"] == "100"
    assert len(str(first)) < 20_000
    second = data(call(server, "timeseries", {"project_id": p, **args, "cursor": "100", "bucket_limit": 3}))
    rest = get_json(wapi, "/metrics/timeseries", args)
    assert second["buckets"] == rest["buckets"][100:103] and second["next_cursor"] == "103"
    assert second["trend"] == first["trend"] == rest["trend"]
    start, end = str(world.us(-OLD)), str(world.us(100))
    models = data(
        call(
            server,
            "cost_breakdown",
            {"project_id": p, "by": "model", "start": start, "end": end, "limit": 1},
        )
    )
    assert [r["model"] for r in models["data"]] == [CLAUDE] and models["next_cursor"] == "1"
    more = data(
        call(
            server,
            "cost_breakdown",
            {"project_id": p, "by": "model", "start": start, "end": end, "limit": 1, "cursor": "1"},
        )
    )
    assert [r["model"] for r in more["data"]] == [GPT] and more["truncated"] is False
    path = data(call(server, "run_bottlenecks", {"project_id": p, "run_id": "run-a", "path_limit": 2}))
    assert len(path["critical_path"]) == 2 and path["critical_path_total"] > 2


OLD = 60  # seconds before the world's base: the window holds runs A-E, not the two-day-old F


def test_search_spans_filters_and_sorts(server: Server, world: World) -> None:
    p = world.project
    failed = data(call(server, "search_spans", {"project_id": p, "status": "error", "limit": 50}))
    assert failed["total"] > 0 and all(s["status"] == "error" for s in failed["spans"])
    claude = data(call(server, "search_spans", {"project_id": p, "model_name": CLAUDE, "limit": 50}))
    assert claude["total"] > 0 and all(s["model"] == CLAUDE for s in claude["spans"])
    slow = data(call(server, "search_spans", {"project_id": p, "sort_by": "duration", "limit": 5}))
    durations = [s["duration_ms"] for s in slow["spans"]]
    assert durations == sorted(durations, reverse=True) and durations[0] == 2000.0  # run F's root
    found = data(call(server, "search_spans", {"project_id": p, "text": "rate LIMITED", "limit": 50}))
    assert found["total"] >= 1 and all(s["run_id"] == RUN_B for s in found["spans"])
    nothing = data(call(server, "search_spans", {"project_id": p, "text": "100%_not_there"}))
    assert nothing["total"] == 0 and nothing["spans"] == []


def test_get_span_content_is_bounded_and_marked_untrusted(server: Server, world: World) -> None:
    span = world.span_ids["A.api_invoke"]
    got = data(
        call(
            server,
            "get_span_content",
            {"project_id": world.project, "span_ids": [span, "0000000000000bad"], "max_chars": 100},
        )
    )
    assert got["untrusted_content"] is True and "untrusted" in got["note"]
    assert got["not_found"] == ["0000000000000bad"]
    (item,) = got["spans"]
    assert item["input"]["attribute"] == "request" and "Find flights" in item["input"]["text"]
    assert item["output"] == {
        "attribute": "response",
        "text": "Here are three options",
        "chars": 22,
        "truncated": False,
        "next_offset": None,
    }
    cut = data(
        call(
            server,
            "get_span_content",
            {"project_id": world.project, "span_ids": [span], "max_chars": 20, "offset": 9},
        )
    )["spans"][0]["output"]
    assert cut == {
        "attribute": "response",
        "text": "three options",
        "chars": 22,
        "truncated": False,
        "next_offset": None,
    }
    head = data(
        call(server, "get_span_content", {"project_id": world.project, "span_ids": [span], "max_chars": 20})
    )["spans"][0]["output"]
    assert head["text"] == "Here are three optio" and head["truncated"] is True and head["next_offset"] == 20
    too_many = call(server, "get_span_content", {"span_ids": ["a", "b", "c", "d", "e", "f"]})
    assert too_many.is_error


def test_tool_errors_are_readable(server: Server, world: World) -> None:
    assert "not found" in error_text(call(server, "get_run", {"project_id": world.project, "run_id": "nope"}))
    assert "cursor" in error_text(call(server, "list_runs", {"project_id": world.project, "cursor": "x"}))
    # Arguments the schema refuses: the tool's own sentence, not pydantic's report.
    refused = {
        ("list_runs", "limit"): (
            {"limit": 0},
            "Error executing tool list_runs: invalid arguments: limit must be at least 1, got 0",
        ),
        ("get_span_content", "span_ids"): (
            {"span_ids": ["a", "b", "c", "d", "e", "f"]},
            "Error executing tool get_span_content: invalid arguments: span_ids takes at most 5 items, got 6",
        ),
        ("search_traces", "page"): (
            {"page": {"limit": 0}},
            "Error executing tool search_traces: invalid arguments: page.limit must be at least 1, got 0",
        ),
        ("list_runs", "status"): (
            {"status": "broken"},
            "Error executing tool list_runs: invalid arguments: status.0 must be one of "
            "'running', 'completed' or 'failed', got 'broken'",
        ),
    }
    for (tool, _), (args, message) in refused.items():
        text = error_text(call(server, tool, args))
        assert text == message
        assert "pydantic" not in text and "validation error" not in text
    assert "at least one" in error_text(call(server, "spans_summary", {"project_id": world.project}))
    bad = error_text(call(server, "project_stats", {"project_id": world.project, "period": "fortnight"}))
    assert "unknown period" in bad


def test_every_list_argument_takes_one_value_too(server: Server) -> None:
    """LLMs send "failed" where the schema says ["failed"]: each list argument of each tool takes
    both, and its schema says so."""
    tools = session(f"{server.api}/mcp", lambda c: c.list_tools()).tools
    lists = []
    for tool in tools:
        for name, prop in tool.input_schema.get("properties", {}).items():
            choices = prop.get("anyOf", [prop])
            arrays = [c for c in choices if c.get("type") == "array"]
            if arrays:
                lists.append((tool.name, name))
                assert arrays[0]["items"] in choices, (tool.name, name)
    assert ("list_runs", "status") in lists and ("get_span_content", "span_ids") in lists
    assert len(lists) >= 15


def test_one_value_for_a_list(server: Server, world: World) -> None:
    p = world.project
    window = {"start": str(world.us(-3600)), "end": str(world.us(3600))}
    for tool, arg, one in [
        ("list_runs", "status", "failed"),
        ("list_runs", "run_ids", "run-a"),
        ("search_spans", "run_ids", "run-a"),
        ("search_spans", "labels", "hotel_search"),
        ("spans_summary", "thread_ids", "thread-1"),
        ("project_stats", "labels", "flight_search"),
        ("timeseries", "thread_ids", "thread-1"),
    ]:
        bounds = window if tool in ("project_stats", "timeseries") else {}
        alone = data(call(server, tool, {"project_id": p, arg: one, **bounds}))
        assert alone == data(call(server, tool, {"project_id": p, arg: [one], **bounds})), (tool, arg)
    failed = data(call(server, "list_runs", {"project_id": p, "status": "failed"}))
    assert {r["run_id"] for r in failed["runs"]} == {RUN_B, world.run_d}
    span = data(call(server, "search_spans", {"project_id": p, "run_ids": "run-a", "limit": 1}))["spans"][0]
    content = data(call(server, "get_span_content", {"project_id": p, "span_ids": span["span_id"]}))
    assert [s["span_id"] for s in content["spans"]] == [span["span_id"]]
    assert content["not_found"] == []


def test_project_from_the_http_header(server: Server, world: World) -> None:
    async def listing(client: Client) -> CallToolResult:
        return await client.call_tool("list_runs", {"period": "all"})

    async def go() -> CallToolResult:
        async with httpx2.AsyncClient(headers={"x-project-id": world.project}) as http:
            return await session_over(streamable_http_client(f"{server.api}/mcp", http_client=http), listing)

    got = data(anyio.run(go))
    assert got["total"] == 6


async def session_over(transport: Any, work: Callable[[Client], Awaitable[T]]) -> T:
    async with Client(transport) as client:
        return await work(client)


def test_vllora_search_traces_honours_what_vllora_ignores(server: Server, world: World) -> None:
    def search(**args: Any) -> dict[str, Any]:
        filters = {"project_id": world.project, **args.pop("filters", {})}
        return data(call(server, "search_traces", {"filters": filters, **args}))  # type: ignore[no-any-return]

    errors = search(filters={"status": "error"}, page={"limit": 50})
    assert errors["items"] and all(i["status"] == "error" for i in errors["items"])
    claude = search(filters={"model": CLAUDE}, page={"limit": 50}, include={"costs": True})
    assert claude["items"] and all(i["labels"]["model_name"] == CLAUDE for i in claude["items"])
    by_duration = search(sort={"by": "duration_ms", "order": "desc"}, page={"limit": 3})
    assert next(i["duration_ms"] for i in by_duration["items"]) == 2000.0
    hotel = search(filters={"labels": {"label": "hotel_search"}}, page={"limit": 50})
    assert hotel["items"] and {i["run_id"] for i in hotel["items"]} == {RUN_B}
    window = search(time_range={"since": str(world.us(35)), "until": str(world.us(45))}, page={"limit": 50})
    assert window["items"] and {i["run_id"] for i in window["items"]} == {"run-e"}
    llm = search(filters={"operation_name": "llm_call", "run_id": "run-a"}, page={"limit": 1})
    assert llm["items"][0]["root_operation_name"] == "model_call"
    assert llm["truncated"] is True and llm["next_cursor"] == "1"


def test_vllora_llm_call_run_overview_and_version(server: Server, world: World) -> None:
    span = world.span_ids["A.model_call"]

    async def calls(client: Client) -> list[CallToolResult]:
        return [
            await client.call_tool("get_version", {}),
            await client.call_tool("get_llm_call", {"span_id": span, "allow_unsafe_text": False}),
            await client.call_tool(
                "get_llm_call",
                {
                    "span_id": world.span_ids["A.api_invoke"],
                    "allow_unsafe_text": True,
                    "include": {"llm_payload": True},
                },
            ),
            await client.call_tool(
                "get_llm_call", {"span_id": "00000000000000aa", "allow_unsafe_text": False}
            ),
            await client.call_tool("get_run_overview", {"run_id": "run-a"}),
        ]

    # vLLora's tools take no project: they use the session's (the header), like vLLora's default.
    async def go() -> list[CallToolResult]:
        async with httpx2.AsyncClient(headers={"x-project-id": world.project}) as http:
            return await session_over(streamable_http_client(f"{server.api}/mcp", http_client=http), calls)

    version, safe, unsafe, missing, overview = anyio.run(go)
    assert data(version) == {"result": __version__}
    plain = data(safe)
    assert plain["model"] == GPT and plain["tokens"]["input_tokens"] == 100 and "response" not in plain
    payload = data(unsafe)
    assert payload["response"]["unsafe_text"]["text"] == "Here are three options"
    assert "Find flights" in payload["request"]["messages"]["unsafe_text"]["text"]
    assert "Span not found: span_id=00000000000000aa" in error_text(missing)
    o = data(overview)
    assert o["run"]["run_id"] == "run-a" and o["run"]["root_span_id"] == world.roots["A"]
    assert o["run"]["total_llm_calls"] == 2 and o["run"]["total_cost"] == pytest.approx(0.003)
    assert len(o["span_tree"]) == 10 and {n["kind"] for n in o["span_tree"]} >= {"llm", "internal"}


@pytest.mark.parametrize("how", ["in-process", "url"])
def test_stdio_transport(server: Server, world: World, wapi: httpx.Client, how: str) -> None:
    source = server.store_args if how == "in-process" else ["--url", server.api]
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "tracehound", "mcp", *source, "--project", world.project]
    )

    async def work(client: Client) -> tuple[Any, CallToolResult, CallToolResult]:
        tools = await client.list_tools()
        runs = await client.call_tool("list_runs", {"period": "all", "limit": 10})
        missing = await client.call_tool("run_bottlenecks", {"run_id": "nope"})
        return tools, runs, missing

    tools, runs, missing = session(params, work)
    assert {t.name for t in tools.tools} == TRACEHOUND_TOOLS | VLLORA_TOOLS
    assert data(runs)["runs"] == get_json(wapi, "/runs", {"period": "all", "limit": 10})["data"]
    assert "not found" in error_text(missing)
