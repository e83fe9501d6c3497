"""Id forms: tracehound stores and returns W3C hex; filters also accept vLLora's forms (a
hyphenated UUID for a trace, a decimal u64 for a span)."""

from __future__ import annotations

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
    if v.isdigit() and len(v) <= 20:
        n = int(v)
        if n < 2**64:
            out.append(f"{n:016x}")
    if not out and v:
        out.append(v)
    return list(dict.fromkeys(out))
