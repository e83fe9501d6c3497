"""What a usage breakdown reads: LLM calls and billed spans per key (model, provider, label or
thread), the same records whichever read produced them (the spans or the per-hour aggregates)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

UsageKey = Literal["model", "provider", "label", "thread"]


@dataclass(slots=True)
class Calls:
    """The LLM-call spans of one (key, provider)."""

    key: str | None
    provider: str | None
    errors: int
    durations_us: list[int]  # ascending, one per call


@dataclass(frozen=True, slots=True)
class Billed:
    """The spans whose usage counts, summed per (key, provider)."""

    key: str | None
    provider: str | None
    spans: int
    cost: float
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    unpriced: int  # of them, spans with `cost_source` = 'unpriced'


@dataclass(slots=True)
class Usage:
    calls: list[Calls] = field(default_factory=list)
    billed: list[Billed] = field(default_factory=list)


def usage_of(
    calls: Iterable[tuple[str | None, str | None, int, Iterable[int]]], billed: Iterable[Sequence[Any]]
) -> Usage:
    """A usage from its aggregate rows: (key, provider, errors, durations) per group of LLM calls;
    (key, provider, spans, cost, input, output and cached tokens, unpriced spans) per group of
    billed spans."""
    return Usage(
        calls=[Calls(key=k, provider=p, errors=int(e), durations_us=sorted(d)) for k, p, e, d in calls],
        billed=[
            Billed(k, p, int(n), float(c), int(i), int(o), int(ca), int(u))
            for k, p, n, c, i, o, ca, u in billed
        ],
    )
