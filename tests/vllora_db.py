"""A vLLora database as vLLora's gateway and SDK leave it (reference §1.2, §1.6, §2), built for
the import tests, with the runs vLLora's `GET /runs` rules (§3.3) give for it worked out by hand.

Rows are encoded as vLLora stores them: UUID trace ids, decimal u64 span ids, µs times, the
attributes as JSON text without the promoted `vllora.*` keys, and `request`, `usage`, `output`,
`model` and the model_call `cost` as JSON inside strings.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracehound.importers import vllora_schema

T0 = 1_737_100_800_000_000  # 2025-01-17 08:00 UTC, in µs
MS = 1_000
S = 1_000_000

DEFAULT = "default-project"  # vLLora's default project slug
LUCY = "lucy"

Row = tuple[Any, ...]


def trace_uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"vllora-import/{name}"))


def span_dec(name: str) -> str:
    """A decimal u64 span id with the top bit set: above 2**63, as half of real ids are."""
    n = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")
    return str(n | 1 << 63)


def hex_of_trace(name: str) -> str:
    return uuid.UUID(trace_uuid(name)).hex


def hex_of_span(name: str) -> str:
    return f"{int(span_dec(name)):016x}"


def usage(i: int, o: int) -> str:
    return json.dumps(
        {
            "input_tokens": i,
            "output_tokens": o,
            "total_tokens": i + o,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_creation_tokens": 0, "audio_tokens": 0},
            "is_cache_used": False,
        }
    )


@dataclass
class Db:
    rows: list[Row] = field(default_factory=list)
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def row(
        self,
        trace: str,
        span: str,
        parent: str | None,
        op: str,
        start_ms: int,
        finish_ms: int,
        attrs: dict[str, Any],
        *,
        run: str | None,
        thread: str | None,
        project: str | None = DEFAULT,
    ) -> str:
        self.attributes[span] = attrs
        self.rows.append(
            (
                trace_uuid(trace),
                span_dec(span),
                thread,
                None if parent is None else span_dec(parent),
                op,
                T0 + start_ms * MS,
                T0 + finish_ms * MS,
                json.dumps(attrs),
                run,
                project,
            )
        )
        return span

    def gateway_call(
        self,
        trace: str,
        prefix: str,
        parent: str | None,
        start_ms: int,
        finish_ms: int,
        calls: list[tuple[str, str | None, int, int]],
        *,
        request_model: str,
        cost: str | None,
        tokens: tuple[int, int] | None,
        error: str | None = None,
        label: str | None = None,
        **ids: Any,
    ) -> None:
        """`cloud_api_invoke → api_invoke → model_call → provider` per entry of `calls`, each
        (model, error, start_ms, finish_ms); cost and usage on api_invoke as the gateway puts them,
        and on the model_call and provider span of the call that succeeded."""
        common = {"label": label} if label else {}
        http = {"http.request.method": "POST", "http.request.path": "/v1/chat/completions"}
        status = 400 if error else 200
        http |= {"http.response.status_code": status, "status": status, **common}
        cloud = self.row(
            trace, f"{prefix}.cloud", parent, "cloud_api_invoke", start_ms, finish_ms,
            {**http, **({"error": error} if error else {})}, **ids,
        )  # fmt: skip
        api: dict[str, Any] = {
            "request": json.dumps({"model": request_model, "messages": [{"role": "user", "content": "hi"}]}),
            "title": "hi",
            **common,
        }
        if error:
            api["error"] = error
        else:
            api["response"] = "hello"
        if cost is not None:
            api["cost"] = cost
        if tokens is not None:
            api["usage"] = usage(*tokens)
        invoke = self.row(
            trace, f"{prefix}.api", cloud, "api_invoke", start_ms + 1, finish_ms - 1, api, **ids
        )
        for n, (model, call_error, t0, t1) in enumerate(calls):
            provider = model.split("/")[0]
            mc: dict[str, Any] = {
                "input": "{}",
                "model": json.dumps({"name": model, "provider_name": provider, "model_type": "completions"}),
                "provider_name": provider,
                "model_name": model,
                "inference_model_name": model.split("/")[1],
                "credentials_identifier": "own",
                **common,
            }
            prov: dict[str, Any] = {"retries_left": 0, "request": "{}", **common}
            if call_error:
                mc["error"] = prov["error"] = call_error
            else:
                assert cost is not None and tokens is not None
                mc |= {
                    "output": json.dumps({"role": "assistant", "content": "hello"}),
                    "cost": json.dumps(
                        {"cost": float(cost), "per_input_token": 0.15, "is_cache_used": False}
                    ),
                    "usage": usage(*tokens),
                    "ttft": 150_000,
                }
                prov |= {"output": "{}", "cost": cost, "usage": usage(*tokens), "ttft": 150_000}
            call = self.row(trace, f"{prefix}.mc{n}", invoke, "model_call", t0, t1, mc, **ids)
            self.row(trace, f"{prefix}.p{n}", call, provider, t0 + 1, t1 - 1, prov, **ids)

    def write(self, path: Path, *, indexes: bool = True) -> None:
        """As vLLora's migrations create the file, in WAL mode like vLLora's connections.
        Without `indexes`, as a file from before vLLora's JSON expression indexes."""
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(vllora_schema.TABLE)
        if indexes:
            conn.executescript(vllora_schema.INDEXES)
        with conn:
            conn.executemany(vllora_schema.INSERT, self.rows)
        conn.close()


RUN_A, RUN_B, RUN_C, RUN_D, RUN_E, RUN_G, RUN_H, RUN_BAD = (
    str(uuid.uuid5(uuid.NAMESPACE_URL, f"vllora-import/run-{x}")) for x in "ABCDEGHX"
)
TH1, TH2, TH3, TH4 = (str(uuid.uuid5(uuid.NAMESPACE_URL, f"vllora-import/thread-{x}")) for x in "1234")
GPT_MINI, GPT_4O = "openai/gpt-4o-mini", "openai/gpt-4o"
SONNET, HAIKU, FLASH = "anthropic/claude-3-5-sonnet", "anthropic/claude-3-5-haiku", "gemini/gemini-1.5-flash"
EMBEDDING = "openai/text-embedding-3-small"

# Rows the import must skip, one per reason, each with an id or attribute vLLora could not
# have written. (Malformed JSON cannot even be stored: vLLora's json_extract indexes reject it.)
BAD_ROWS: list[Row] = [
    ("not-a-uuid", "17", None, None, "run", T0, T0 + S, "{}", RUN_BAD, DEFAULT),
    (trace_uuid("X"), "12ab", None, None, "run", T0, T0 + S, "{}", RUN_BAD, DEFAULT),
    (trace_uuid("X"), "18", None, "-5", "run", T0, T0 + S, "{}", RUN_BAD, DEFAULT),
    (trace_uuid("X"), "20", None, None, "run", T0, T0 + S, "[1, 2]", RUN_BAD, DEFAULT),
]
SKIPPED = {
    "trace_id is not a non-zero UUID": 1,
    "span_id is not a non-zero decimal 64-bit id": 1,
    "parent_span_id is not a decimal 64-bit id": 1,
    "attribute is not a JSON object": 1,
}


def build() -> Db:
    db = Db()
    # A: one chat completion, the gateway's full tree under its own `run` root.
    a = {"run": RUN_A, "thread": TH1}
    db.row("A", "A.run", None, "run", 0, 2000, {"label": "flight_search"}, **a)
    db.gateway_call(
        "A", "A", "A.run", 10, 1990, [(GPT_MINI, None, 20, 1980)],
        request_model=GPT_MINI, cost="0.0000165", tokens=(10, 25), label="flight_search", **a,
    )  # fmt: skip
    # B: a vLLora SDK agent (run → agent) calling the gateway twice (its traceparent makes the
    # gateway's spans children of the agent) and running a tool between the calls.
    b = {"run": RUN_B, "thread": TH1}
    sdk = {"vllora.client_name": "openai"}
    db.row("B", "B.run", None, "run", 10_000, 20_000, sdk, **b)
    db.row("B", "B.agent", "B.run", "agent", 10_100, 19_900, {**sdk, "vllora.agent_name": "planner"}, **b)
    db.gateway_call(
        "B", "B1", "B.agent", 10_200, 13_000, [(SONNET, None, 10_400, 12_800)],
        request_model=SONNET, cost="0.00042", tokens=(100, 8), **b,
    )  # fmt: skip
    tool_calls = json.dumps([{"id": "c1", "function": {"name": "search_flights", "arguments": "{}"}}])
    tools = {"tool_calls": tool_calls, "tool.name": "search_flights"}
    db.row("B", "B1.tools", "B1.p0", "tools", 12_600, 12_700, tools, **b)
    tool = {**sdk, "vllora.tool_name": "search_flights"}
    db.row("B", "B.tool", "B.agent", "tool", 13_100, 14_000, tool, **b)
    db.gateway_call(
        "B", "B2", "B.agent", 14_100, 19_800, [(SONNET, None, 14_300, 19_600)],
        request_model=SONNET, cost="0.00105", tokens=(300, 10), **b,
    )  # fmt: skip
    # C: the first model is rate limited, the router falls back to a second one that answers.
    c = {"run": RUN_C, "thread": TH2}
    db.row("C", "C.run", None, "run", 30_000, 35_000, {"label": "support"}, **c)
    db.gateway_call(
        "C", "C", "C.run", 30_010, 34_990,
        [(GPT_4O, "rate limited: 429", 30_030, 31_000), (HAIKU, None, 31_100, 34_900)],
        request_model=GPT_4O, cost="0.000226", tokens=(52, 12), label="support", **c,
    )  # fmt: skip
    # D: every model fails: no cost, no usage, an error on every span below the root.
    d = {"run": RUN_D, "thread": TH2}
    db.row("D", "D.run", None, "run", 40_000, 41_000, {}, **d)
    db.gateway_call(
        "D", "D", "D.run", 40_010, 40_990, [(GPT_4O, "invalid api key", 40_100, 40_800)],
        request_model=GPT_4O, cost=None, tokens=None, error="All models failed", **d,
    )  # fmt: skip
    # E: the SDK's own spans never reached vLLora: the gateway's spans hang under a missing parent.
    e = {"run": RUN_E, "thread": TH3}
    db.gateway_call(
        "E", "E", "E.missing", 50_000, 52_000, [(FLASH, None, 50_100, 51_900)],
        request_model=FLASH, cost="0.0000075", tokens=(40, 5), **e,
    )  # fmt: skip
    # F: an embeddings request: vLLora gives /embeddings spans no run and no thread (§1.6).
    f = {"run": None, "thread": None}
    db.row("F", "F.run", None, "run", 60_000, 61_000, {}, **f)
    http = {"http.request.method": "POST", "http.request.path": "/v1/embeddings"}
    db.row("F", "F.cloud", "F.run", "cloud_api_invoke", 60_010, 60_990, http, **f)
    embed = {"request": json.dumps({"model": EMBEDDING, "input": "hi"}), "response": "[]"}
    db.row("F", "F.api", "F.cloud", "api_invoke", 60_020, 60_980, embed, **f)
    # G: a call in vLLora's second seeded project.
    g = {"run": RUN_G, "thread": TH4, "project": LUCY}
    db.row("G", "G.run", None, "run", 70_000, 71_000, {}, **g)
    db.gateway_call(
        "G", "G", "G.run", 70_010, 70_990, [(GPT_MINI, None, 70_100, 70_900)],
        request_model=GPT_MINI, cost="0.00001", tokens=(5, 5), **g,
    )  # fmt: skip
    # H: no project recorded, and the all-zero parent vLLora writes as "0" (§7.10).
    h = {"run": RUN_H, "thread": None, "project": None}
    db.row("H", "H.run", None, "run", 80_000, 81_000, {"label": "nightly"}, **h)
    db.rows[-1] = (*db.rows[-1][:3], "0", *db.rows[-1][4:])
    db.rows.extend(BAD_ROWS)
    return db
