"""The one percentile method every figure uses: nearest rank on the exact values."""

from __future__ import annotations

import math
from collections.abc import Sequence


def nearest_rank(sorted_values: Sequence[float], p: float) -> float | None:
    """The smallest value with at least p% of the values at or below it (the nearest-rank
    method: rank = ceil(p/100 * n), 1-based). `sorted_values` must be ascending; None when empty."""
    n = len(sorted_values)
    if n == 0:
        return None
    rank = max(1, math.ceil(p / 100 * n))
    return float(sorted_values[min(rank, n) - 1])


def percentiles(values: Sequence[float], ps: Sequence[float]) -> list[float | None]:
    ordered = sorted(values)
    return [nearest_rank(ordered, p) for p in ps]


def to_ms(us: float | None) -> float | None:
    """µs as stored, in ms as every answer reports durations."""
    return None if us is None else us / 1000


def nearest_rank_ms(sorted_us: Sequence[int], p: float) -> float | None:
    """`nearest_rank` of µs values, in ms: how every latency percentile is reported."""
    return to_ms(nearest_rank(sorted_us, p))
