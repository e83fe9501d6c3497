"""The per-hour aggregates kept at ingest for the analytics: usage of the counted spans by hour,
model and provider (`usage_hours`), and one narrow row per LLM call (`llm_durations`). The writer
accumulates an `HourUsage` delta per key over a transaction and applies it with one upsert."""

from __future__ import annotations

from dataclasses import dataclass

HOUR_US = 3_600 * 1_000_000

# The hour a µs instant falls in, as SQL; floored like Python's // for any sign.
HOUR_SQL = f"start_time_us - ((start_time_us % {HOUR_US}) + {HOUR_US}) % {HOUR_US}"

# usage_hours and llm_durations key a missing model or provider as '' (primary key columns
# cannot be NULL; conventions never give an empty name).
NONE_KEY = ""


def hour_of(t_us: int) -> int:
    return t_us - t_us % HOUR_US


def name_key(name: str | None) -> str:
    return name or NONE_KEY


def key_name(key: str) -> str | None:
    return key or None


# (project, hour, model key, provider key)
HourKey = tuple[str, int, str, str]


@dataclass(slots=True)
class HourUsage:
    """Counted spans of one (project, hour, model, provider): the sums /stats reads."""

    spans: int = 0
    cost: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    unpriced: int = 0

    def add(
        self,
        cost: float | None,
        input_tokens: int | None,
        output_tokens: int | None,
        cached_tokens: int | None,
        unpriced: bool,
        sign: int = 1,
    ) -> None:
        self.spans += sign
        self.cost += sign * (cost or 0.0)
        self.input_tokens += sign * (input_tokens or 0)
        self.output_tokens += sign * (output_tokens or 0)
        self.cached_tokens += sign * (cached_tokens or 0)
        self.unpriced += sign * unpriced

    def row(self, key: HourKey) -> tuple[object, ...]:
        return (
            *key,
            self.spans,
            self.cost,
            self.input_tokens,
            self.output_tokens,
            self.cached_tokens,
            self.unpriced,
        )


USAGE_UPSERT = """
    INSERT INTO usage_hours (project_id, hour_us, model, provider, spans, cost, input_tokens,
        output_tokens, cached_tokens, unpriced)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (project_id, hour_us, model, provider) DO UPDATE SET
        spans = spans + excluded.spans,
        cost = cost + excluded.cost,
        input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens,
        cached_tokens = cached_tokens + excluded.cached_tokens,
        unpriced = unpriced + excluded.unpriced
"""

DURATION_INSERT = """
    INSERT INTO llm_durations (project_id, hour_us, model, provider, duration_us, trace_key,
        span_key, start_time_us, is_error)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
