"""Where each convention keeps the text a span produced: a model's answer, a tool's result.

The semantic scan (`tracehound.conventions.semantic`) reads these texts at ingest, for LLM calls,
tool spans and vLLora's `api_invoke` only (docs/analytics.md says what is scanned)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tracehound.conventions.base import as_json, as_str

# The first of these a span carries is its output. vLLora: `output` (model_call, SDK tool spans);
# OpenInference: `output.value`; GenAI: `gen_ai.tool.call.result` and `gen_ai.output.messages`;
# OpenLLMetry: `traceloop.entity.output` and `gen_ai.completion.0.content`.
OUTPUT_KEYS = (
    "output",
    "output.value",
    "gen_ai.tool.call.result",
    "traceloop.entity.output",
    "gen_ai.completion.0.content",
    "gen_ai.output.messages",
)


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool's result as it was handed back to a model: a `role: tool` message."""

    index: int  # its place among the request's messages after the last assistant message
    tool_name: str | None
    text: str


def content_text(value: Any) -> str | None:
    """The text of a message content: a string, or the text parts of a list of parts."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, list):
        parts = [p.get("text") for p in value if isinstance(p, dict)]
        text = "\n".join(p for p in parts if isinstance(p, str))
        return text or None
    return None


def output_text(attrs: dict[str, Any]) -> str | None:
    """A span's output text. A message object (vLLora's model_call `output` is
    `{"role": "assistant", "content": ...}`) gives its content, and none when it only calls
    tools; any other value is scanned as sent."""
    for key in OUTPUT_KEYS:
        value = attrs.get(key)
        if value is None:
            continue
        decoded = as_json(value)
        if isinstance(decoded, dict) and "content" in decoded:
            return content_text(decoded.get("content"))
        if isinstance(value, str):
            return value or None
        return None
    return None


# A role key as it reads in the stored attribute JSON: `request` is a JSON string there, so its
# own quotes are escaped once (an object would leave them bare). A quote inside a message's text
# is escaped once more, so no text that quotes a role reads like these.
_ROLE_KEY = b'"role'
_ROLE_SEPARATORS = (b'\\":\\"', b'\\": \\"', b'":"', b'": "')


def _roles_backwards(raw: bytes) -> Iterator[bytes]:
    """The first bytes of each message role in `raw`, last message first."""
    end = len(raw)
    while (i := raw.rfind(_ROLE_KEY, 0, end)) >= 0:
        after = i + len(_ROLE_KEY)
        for sep in _ROLE_SEPARATORS:
            if raw.startswith(sep, after):
                yield raw[after + len(sep) : after + len(sep) + 9]
                break
        end = i


def may_hand_tool_results(raw_attributes: bytes) -> bool:
    """False when the stored attributes of an `api_invoke` surely hand no new tool result to the
    model (no tool message after the last assistant message), found without parsing them: a
    conversation's requests repeat all of it, and parsing every one is most of a summary's cost.
    Only the end of the text is read, back to the last assistant or tool message. True when in
    doubt (no role written in a known way)."""
    seen = False
    for role in _roles_backwards(raw_attributes):
        if role.startswith(b"tool"):
            return True
        if role.startswith(b"assistant"):
            return False
        seen = True
    return not seen


_DECODER = json.JSONDecoder()
_ASSISTANT_ROLE = ('"role":"assistant"', '"role": "assistant"')


def _tail(request: str) -> list[Any] | None:
    """The messages of a request's JSON text from its last assistant message on, parsed without
    parsing the conversation before it; None when the text is not laid out as expected (the
    caller then parses it all). A quote inside a string is escaped, so the role marker found is
    a key of a message; its object starts at the nearest `{` before it that parses into an
    assistant message spanning the marker."""
    marker = max(request.rfind(m) for m in _ASSISTANT_ROLE)
    if marker < 0:
        return None
    start = marker
    while True:
        start = request.rfind("{", 0, start)
        if start < 0:
            return None
        try:
            message, end = _DECODER.raw_decode(request, start)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("role") == "assistant" and end > marker:
            break
    out = [message]
    while True:  # the rest of the array: `, value` until `]`
        while end < len(request) and request[end].isspace():
            end += 1
        if end >= len(request) or request[end] not in ",]":
            return None
        if request[end] == "]":
            return out
        end += 1
        while end < len(request) and request[end].isspace():
            end += 1
        try:
            value, end = _DECODER.raw_decode(request, end)
        except ValueError:
            return None
        out.append(value)


def _messages(value: Any) -> list[Any]:
    if isinstance(value, str):
        tail = _tail(value)
        if tail is not None:
            return tail
    request = as_json(value)
    messages = request.get("messages") if isinstance(request, dict) else None
    return messages if isinstance(messages, list) else []


def new_tool_results(attrs: dict[str, Any]) -> list[ToolResult]:
    """The tool results a vLLora `api_invoke` hands to the model for the first time: the
    `role: tool` messages after the last assistant message of its `request`. Every later request
    of the conversation repeats them; taking only the new ones counts each result once. The tool
    is named by the assistant's tool call the message answers, else by the message's `name`.
    `index` counts from the last assistant message (0)."""
    request = attrs.get("request")
    # No tool message without a "tool" string (JSON writers do not escape letters): an agent's
    # first request, or one without tools, is not decoded at all. Every api_invoke is scanned at
    # ingest.
    if isinstance(request, str) and '"tool"' not in request:
        return []
    messages = _messages(request)
    last_assistant = -1
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if isinstance(m, dict) and m.get("role") == "assistant":
            last_assistant = i
            break
    names: dict[str, str] = {}
    if last_assistant >= 0:
        calls = messages[last_assistant].get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                call_id, name = as_str(call.get("id")), as_str(call["function"].get("name"))
                if call_id is not None and name is not None:
                    names[call_id] = name
    out = []
    for i in range(last_assistant + 1, len(messages)):
        m = messages[i]
        if not isinstance(m, dict) or m.get("role") != "tool":
            continue
        text = content_text(m.get("content"))
        if text is None:
            continue
        call_id = as_str(m.get("tool_call_id"))
        name = names.get(call_id) if call_id is not None else None
        out.append(ToolResult(index=i - last_assistant, tool_name=name or as_str(m.get("name")), text=text))
    return out
