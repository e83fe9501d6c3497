"""What every convention mapper shares: the protocol, and helpers that read attribute values
the way instrumentations actually send them (numbers as strings, JSON inside strings)."""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from tracehound.model import RawSpan, Span

# Larger values are corrupt, not counts or prices: a trillion tokens or a billion dollars for
# one call. The bounds keep every sum over spans finite and inside SQLite's 64-bit integers.
MAX_COUNT = 10**12
MAX_COST = 1e9


class Mapper(Protocol):
    """Turns one convention's attributes into typed `Span` fields.

    A mapper sets a field only when it is still unset (earlier mappers win) and records in
    `span.rules` which attribute produced it. `apply` returns True when it recognised the span.
    """

    name: str

    def apply(self, raw: RawSpan, span: Span) -> bool: ...


def set_field(span: Span, name: str, value: Any, rule: str) -> bool:
    """Set `span.<name>` unless it already has a value; record the rule that fired."""
    if value is None or getattr(span, name) is not None:
        return False
    setattr(span, name, value)
    span.rules[name] = rule
    return True


def as_str(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    return None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                f = float(value)
            except ValueError:
                return None
            return int(f) if f.is_integer() else None
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def as_json(value: Any) -> Any:
    """Attributes such as vLLora's `usage` and `request` arrive as JSON text; decode them,
    and pass through values that are already structured."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value


def decide(span: Span, name: str, value: Any, rule: str) -> bool:
    """Like `set_field`, for fields whose default is a real value (`kind` is "other",
    `is_llm_call` is False): the first mapper that decides wins, even when it decides the
    default, so a later convention cannot relabel a span an earlier one understood."""
    if name in span.rules:
        return False
    setattr(span, name, value)
    span.rules[name] = rule
    return True


def as_count(value: Any) -> int | None:
    """A token count: an integer from 0 to MAX_COUNT, possibly sent as a string."""
    n = as_int(value)
    return n if n is not None and 0 <= n <= MAX_COUNT else None


def as_money(value: Any) -> float | None:
    """A cost in USD: from 0 to MAX_COST, possibly sent as a string."""
    f = as_float(value)
    if f is None or not (0.0 <= f <= MAX_COST):
        return None
    return f
