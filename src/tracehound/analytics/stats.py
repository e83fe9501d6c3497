"""Project stats over a time window, usage broken down by model (provider, label, thread), and a
run's cost by model: plain functions over what `tracehound.storage` reads. docs/analytics.md
defines every figure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tracehound.analytics.percentiles import nearest_rank_ms
from tracehound.storage.types import ErrorTally, RunFigures, StatsData
from tracehound.storage.usage import Usage, UsageKey
from tracehound.timeparse import Window

# The name of the key field in a usage row.
_KEY_FIELDS: dict[UsageKey, str] = {
    "model": "model",
    "provider": "provider",
    "label": "label",
    "thread": "thread_id",
}


def _headline(r: RunFigures, full: bool) -> dict[str, Any]:
    decided = r.completed + r.failed
    durations = r.durations_us
    out: dict[str, Any] = {
        "total_runs": r.total,
        "completed_runs": r.completed,
        "failed_runs": r.failed,
        "running_runs": r.running,
        "success_rate": r.completed / decided if decided else None,
        "total_cost": r.cost,
        "avg_duration_ms": sum(durations) / len(durations) / 1000 if durations else None,
        "p50_duration_ms": nearest_rank_ms(durations, 50),
    }
    if full:
        out["p90_duration_ms"] = nearest_rank_ms(durations, 90)
    out["p95_duration_ms"] = nearest_rank_ms(durations, 95)
    if full:
        out["p99_duration_ms"] = nearest_rank_ms(durations, 99)
    out.update(
        llm_calls=r.llm_calls,
        input_tokens=r.input_tokens,
        output_tokens=r.output_tokens,
        cached_tokens=r.cached_tokens,
    )
    return out


def top_errors(tallies: Mapping[str, ErrorTally], limit: int) -> list[dict[str, Any]]:
    """Messages by the number of error spans carrying them; the last run is the latest-starting
    one (ties: the greatest run id)."""
    ordered = sorted(tallies, key=lambda m: (-tallies[m].count, m))[:limit]
    return [
        {"message": m, "count": tallies[m].count, "runs": tallies[m].runs, "last_run_id": tallies[m].last[1]}
        for m in ordered
    ]


@dataclass(slots=True)
class _Row:
    calls: int = 0
    errors: int = 0
    cost: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    durations: list[list[int]] = field(default_factory=list)
    providers: Counter[str | None] = field(default_factory=Counter)

    def latencies(self) -> list[int]:
        if len(self.durations) == 1:
            return self.durations[0]
        return sorted(d for part in self.durations for d in part)


def _provider(providers: Counter[str | None]) -> str | None:
    """The provider most of the model's spans name (ties: alphabetical); null only when none
    names one."""
    if not providers:
        return None
    return min(providers.items(), key=lambda kv: (kv[0] is None, -kv[1], kv[0] or ""))[0]


def usage_rows(usage: Usage, key: UsageKey) -> list[dict[str, Any]]:
    """One row per key value, most expensive first: calls, errors and latencies from the LLM-call
    spans; cost and tokens from the spans whose usage counts, so that the costs add up to the
    total. A null key (no model, no label, ...) is a row of its own."""
    rows: dict[str | None, _Row] = {}
    for c in usage.calls:
        row = rows.setdefault(c.key, _Row())
        row.calls += len(c.durations_us)
        row.errors += c.errors
        row.durations.append(c.durations_us)
        row.providers[c.provider] += len(c.durations_us)
    for b in usage.billed:
        row = rows.setdefault(b.key, _Row())
        row.cost += b.cost
        row.input_tokens += b.input_tokens
        row.output_tokens += b.output_tokens
        row.cached_tokens += b.cached_tokens
        row.providers[b.provider] += b.spans
    order = sorted(rows, key=lambda k: (-rows[k].cost, -rows[k].calls, k is None, k or ""))
    out = []
    for k in order:
        row = rows[k]
        latencies = row.latencies()
        obj: dict[str, Any] = {_KEY_FIELDS[key]: k}
        if key == "model":
            obj["provider"] = _provider(row.providers)
        obj.update(
            calls=row.calls,
            cost=row.cost,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            cached_tokens=row.cached_tokens,
            errors=row.errors,
            p50_latency_ms=nearest_rank_ms(latencies, 50),
            p95_latency_ms=nearest_rank_ms(latencies, 95),
        )
        out.append(obj)
    return out


def unpriced_models(usage: Usage) -> list[dict[str, Any]]:
    """Models of billed calls that carry tokens but no price (`cost_source` unpriced): the
    answer to "why is my cost 0?". `usage` must be keyed by model."""
    calls: Counter[str | None] = Counter()
    for b in usage.billed:
        if b.unpriced:
            calls[b.key] += b.unpriced
    order = sorted(calls, key=lambda m: (-calls[m], m is None, m or ""))
    return [{"model": m, "calls": calls[m]} for m in order]


def summarize(window: Window, data: StatsData, top_errors_limit: int) -> dict[str, Any]:
    """The /stats object, with at most `top_errors_limit` error messages."""
    previous = None
    if window.previous is not None and data.previous is not None:
        start, end = window.previous
        previous = {"start_us": start, "end_us": end, **_headline(data.previous, full=False)}
    return {
        "start_us": window.start_us,
        "end_us": window.end_us,
        **_headline(data.current, full=True),
        "top_errors": top_errors(data.errors, top_errors_limit),
        "by_model": usage_rows(data.usage, "model"),
        "unpriced_models": unpriced_models(data.usage),
        "previous_period": previous,
    }


def breakdown(window: Window, key: UsageKey, usage: Usage, limit: int) -> dict[str, Any]:
    """The /stats/breakdown object: the first `limit` rows, and how many there are."""
    rows = usage_rows(usage, key)
    return {
        "by": key,
        "start_us": window.start_us,
        "end_us": window.end_us,
        "total": len(rows),
        "data": rows[:limit],
    }
