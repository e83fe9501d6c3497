"""What a usage breakdown reads: LLM calls and billed spans per key (model, provider, label or
thread), the same records whichever read produced them (the spans or the per-hour aggregates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

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
