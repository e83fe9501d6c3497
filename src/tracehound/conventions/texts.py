"""Where each convention keeps the text a span produced: a model's answer, a tool's result.

Nothing here runs at ingest: the text is not a typed column. The span summary's semantic scan
reads it at query time, for LLM calls, tool spans and vLLora's `api_invoke` only
(docs/analytics.md says what is scanned)."""

from __future__ import annotations

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

    index: int  # its place in the request's messages
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


def new_tool_results(attrs: dict[str, Any]) -> list[ToolResult]:
    """The tool results a vLLora `api_invoke` hands to the model for the first time: the
    `role: tool` messages after the last assistant message of its `request`. Every later request
    of the conversation repeats them; taking only the new ones counts each result once. The tool
    is named by the assistant's tool call the message answers, else by the message's `name`."""
    request = as_json(attrs.get("request"))
    if not isinstance(request, dict):
        return []
    messages = request.get("messages")
    if not isinstance(messages, list):
        return []
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
        out.append(ToolResult(index=i, tool_name=name or as_str(m.get("name")), text=text))
    return out
