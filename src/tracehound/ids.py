"""Id forms: tracehound stores and returns W3C hex; filters also accept vLLora's forms (a
hyphenated UUID for a trace, a decimal u64 for a span)."""

from __future__ import annotations

import hashlib
import uuid

_HEX = frozenset("0123456789abcdef")


def trace_id_candidates(value: str) -> list[str]:
    """Hex forms a trace id filter value may stand for."""
    v = value.strip().lower()
    compact = v.replace("-", "") if len(v) == 36 else v
    return [compact] if compact else []


def span_id_candidates(value: str) -> list[str]:
    """A 16-character all-digit value is both valid hex and a valid decimal: match either."""
    v = value.strip().lower()
    out: list[str] = []
    if len(v) == 16 and set(v) <= _HEX:
        out.append(v)
    decimal = decimal_span_hex(v)
    if decimal is not None:
        out.append(decimal)
    if not out and v:
        out.append(v)
    return list(dict.fromkeys(out))


def uuid_trace_hex(value: str) -> str | None:
    """vLLora's stored trace id (a hyphenated UUID) as W3C hex; None if it is not a UUID."""
    try:
        return uuid.UUID(value).hex
    except ValueError:
        return None


def decimal_span_hex(value: str) -> str | None:
    """vLLora's stored span id (a u64 in decimal) as W3C hex; None if it is not one."""
    # isascii and isdigit, not just int(): int() also takes signs, spaces, underscores and
    # non-ASCII digits.
    if not (value.isascii() and value.isdigit()) or len(value) > 20:
        return None
    n = int(value)
    return f"{n:016x}" if n < 2**64 else None


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def hex_key(hex_id: str) -> int:
    """A 64-bit index key from a random hex id (trace or span): its first 8 bytes. Small integer
    keys keep the random-order indexes compact enough to stay in cache."""
    try:
        return _signed(int(hex_id[:16], 16))
    except ValueError:
        return text_key(hex_id)


def text_key(value: str) -> int:
    """A 64-bit index key for an arbitrary string id (thread ids)."""
    return _signed(int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big"))
