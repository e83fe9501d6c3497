"""A span's input and output as a person or an agent reads them (prompts, completions, tool
arguments and results), raw as stored, for `get_span_content` and `get_llm_call`. Read only for
the few spans a caller asks to see: these values are the largest attributes a span carries.
texts.py extracts the output *text* for the summary's semantic scan from the same keys."""

from __future__ import annotations

from typing import Any

from tracehound.conventions.texts import OUTPUT_KEYS as TEXT_OUTPUT_KEYS
from tracehound.model import to_json

# First present wins, in the order the mappers run (docs/conventions.md).
INPUT_KEYS = (
    "input",  # vLLora: the messages sent
    "request",  # vLLora: the whole provider request
    "input.value",  # OpenInference
    "gen_ai.input.messages",  # GenAI, 1.37+
    "gen_ai.prompt",  # GenAI before 1.37, OpenLLMetry
    "traceloop.entity.input",  # OpenLLMetry decorators
    "gen_ai.tool.call.arguments",
)
# The keys a span's output may be under: the semantic scan's list (texts.OUTPUT_KEYS), and
# vLLora's `response`, the whole answer on an `api_invoke`.
OUTPUT_KEYS = (*TEXT_OUTPUT_KEYS, "response")


def _first(attributes: dict[str, Any], keys: tuple[str, ...], indexed: str) -> tuple[str, str] | None:
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return key, value if isinstance(value, str) else to_json(value)
    # OpenLLMetry's indexed form: gen_ai.prompt.0.content, gen_ai.completion.0.content ...
    prefix = f"{indexed}."
    parts = [f"{k}: {v}" for k, v in sorted(attributes.items()) if k.startswith(prefix)]
    return (f"{prefix}*", "\n".join(parts)) if parts else None


def span_input(attributes: dict[str, Any]) -> tuple[str, str] | None:
    """(attribute key, text) of the span's input, or None."""
    return _first(attributes, INPUT_KEYS, "gen_ai.prompt")


def span_output(attributes: dict[str, Any]) -> tuple[str, str] | None:
    """(attribute key, text) of the span's output, or None."""
    return _first(attributes, OUTPUT_KEYS, "gen_ai.completion")
