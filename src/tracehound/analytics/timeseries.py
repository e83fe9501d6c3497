"""Metric time series: UTC-aligned buckets with the empty ones filled, a trend, and anomalies
against a robust baseline (median and MAD). The definitions are in docs/analytics.md.

Trend and anomaly detection are pure functions over a list of bucket values (None for a bucket
without data); `timeseries` fetches the per-bucket aggregates from the store and puts it together."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from tracehound.analytics.percentiles import nearest_rank
from tracehound.config import AnalyticsSettings
from tracehound.storage.protocols import TraceStore
from tracehound.storage.types import BY_MODEL_METRICS, SeriesMetric, SeriesQuery

Metric = Literal[
    "runs",
    "failed_runs",
    "error_rate",
    "cost",
    "llm_calls",
    "input_tokens",
    "output_tokens",
    "duration_p50",
    "duration_p95",
]
Interval = Literal["1m", "5m", "15m", "1h", "6h", "1d"]

# Each metric and what it asks the store for: both percentiles read the same raw durations.
_SERIES_METRIC: dict[str, SeriesMetric] = {
    "runs": "runs",
    "failed_runs": "failed_runs",
    "error_rate": "error_rate",
    "cost": "cost",
    "llm_calls": "llm_calls",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "duration_p50": "duration",
    "duration_p95": "duration",
}
METRICS: tuple[str, ...] = get_args(Metric)
INTERVALS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "6h": 21_600, "1d": 86_400}
GROUP_BYS = ("model",)
DEFAULT_TREND_THRESHOLD = 0.1
DEFAULT_ANOMALY_THRESHOLD = 3.5
DEFAULT_MAX_SERIES = 10
_DEFAULTS = AnalyticsSettings()

# Scale factors that make each deviation estimate consistent with the standard deviation of
# normally distributed data, so that a score reads like a z-score.
MAD_SCALE = 1.4826
MEAN_AD_SCALE = 1.253314

_PERCENTILES = {"duration_p50": 50.0, "duration_p95": 95.0}
_INTEGER_METRICS = frozenset({"runs", "failed_runs", "llm_calls", "input_tokens", "output_tokens"})
_RATE_METRICS = frozenset({"error_rate"})

Direction = Literal["increasing", "decreasing", "flat"]
Value = float | None


class TimeseriesError(ValueError):
    """A request that cannot be answered as asked; the message says why and what is allowed."""


# -- buckets ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BucketRange:
    """Whole buckets [start_us, end_us) of `interval_us`, aligned to the epoch (UTC)."""

    start_us: int
    end_us: int
    interval_us: int

    @property
    def count(self) -> int:
        return (self.end_us - self.start_us) // self.interval_us

    def starts(self) -> range:
        return range(self.start_us, self.end_us, self.interval_us)


def bucket_range(
    start_us: int, end_us: int, interval: str, max_buckets: int = _DEFAULTS.timeseries_max_buckets
) -> BucketRange:
    """From the bucket holding `start_us` to the one holding the last µs before `end_us`: an end
    on a boundary opens no bucket. Refuses more than `max_buckets` buckets before any query."""
    if interval not in INTERVALS:
        raise TimeseriesError(f"unknown interval {interval!r}; use one of: {', '.join(INTERVALS)}")
    if end_us <= start_us:
        raise TimeseriesError(f"end ({end_us} µs) must be after start ({start_us} µs)")
    step = INTERVALS[interval] * 1_000_000
    first = start_us // step * step
    last_end = -(-end_us // step) * step
    count = (last_end - first) // step
    if count > max_buckets:
        raise TimeseriesError(
            f"that range holds {count} buckets of {interval}; at most {max_buckets} are allowed: "
            "use a longer interval or a shorter range"
        )
    return BucketRange(first, last_end, step)


# -- trend --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trend:
    slope_per_interval: float | None
    relative_change: float | None
    direction: Direction


def _mean(values: Sequence[Value]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def slope(values: Sequence[Value]) -> float | None:
    """Least-squares slope of value against bucket index, over the buckets with a value."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < 2:
        return None
    mean_x = sum(i for i, _ in points) / len(points)
    mean_y = sum(v for _, v in points) / len(points)
    sxx = sum((i - mean_x) ** 2 for i, _ in points)
    sxy = sum((i - mean_x) * (v - mean_y) for i, v in points)
    return sxy / sxx


def trend(values: Sequence[Value], threshold: float = DEFAULT_TREND_THRESHOLD) -> Trend:
    """`relative_change` = (b - a) / a, a and b the means of the first and second halves (the
    middle bucket of an odd count belongs to neither). `direction` is increasing when the change
    is at least +threshold and the slope positive, decreasing when it is at most -threshold and
    the slope negative, else flat. A rise from a zero first half (b > 0 = a, change undefined)
    is increasing when the slope is positive."""
    half = len(values) // 2
    a = _mean(values[:half])
    b = _mean(values[len(values) - half :]) if half else None
    s = slope(values)
    change = (b - a) / a if a is not None and b is not None and a != 0 else None
    direction: Direction = "flat"
    if s is not None:
        if change is not None:
            if change >= threshold and s > 0:
                direction = "increasing"
            elif change <= -threshold and s < 0:
                direction = "decreasing"
        elif a == 0 and b is not None and b > 0 and s > 0:
            direction = "increasing"
    return Trend(s, change, direction)


# -- anomalies ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Baseline:
    """The median of the values, their median absolute deviation, and the scale a deviation is
    divided by (None when the values do not vary, and nothing can be an anomaly)."""

    median: float
    mad: float
    scale: float | None


@dataclass(frozen=True, slots=True)
class Anomaly:
    index: int
    value: float
    score: float


def baseline(values: Sequence[Value]) -> Baseline | None:
    """Median and MAD (both nearest-rank p50, like every percentile). When more than half the
    values equal the median, MAD is 0: the scale falls back to 1.253314 * the mean absolute
    deviation from the median (the usual modified z-score fallback), so a lone spike on a flat
    series still stands out; when that is 0 too, every value is the median."""
    present = sorted(v for v in values if v is not None)
    median = nearest_rank(present, 50)
    if median is None:
        return None
    deviations = sorted(abs(v - median) for v in present)
    mad = nearest_rank(deviations, 50) or 0.0
    if mad > 0:
        return Baseline(median, mad, MAD_SCALE * mad)
    mean_deviation = sum(deviations) / len(deviations)
    return Baseline(median, 0.0, MEAN_AD_SCALE * mean_deviation if mean_deviation > 0 else None)


def anomalies(
    values: Sequence[Value], threshold: float = DEFAULT_ANOMALY_THRESHOLD
) -> tuple[list[Anomaly], Baseline | None]:
    """Buckets whose score |x - median| / scale is at least `threshold`."""
    base = baseline(values)
    if base is None or base.scale is None:
        return [], base
    out = []
    for i, v in enumerate(values):
        if v is None:
            continue
        score = abs(v - base.median) / base.scale
        if score >= threshold:
            out.append(Anomaly(i, v, score))
    return out, base


# -- the series ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeseriesRequest:
    project_id: str
    metric: str
    interval: str
    start_us: int
    end_us: int
    group_by: str | None = None
    thread_ids: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    model_name: str | None = None
    trend_threshold: float = DEFAULT_TREND_THRESHOLD
    anomaly_threshold: float = DEFAULT_ANOMALY_THRESHOLD
    # None: DEFAULT_MAX_SERIES, or the server's bound when that is lower.
    max_series: int | None = None


def _check(req: TimeseriesRequest, limits: AnalyticsSettings) -> BucketRange:
    if req.metric not in METRICS:
        raise TimeseriesError(f"unknown metric {req.metric!r}; use one of: {', '.join(METRICS)}")
    if req.group_by is not None and req.group_by not in GROUP_BYS:
        raise TimeseriesError(f"unknown group_by {req.group_by!r}; use: {', '.join(GROUP_BYS)}")
    if req.group_by == "model" and _SERIES_METRIC[req.metric] not in BY_MODEL_METRICS:
        allowed = [m for m in METRICS if _SERIES_METRIC[m] in BY_MODEL_METRICS]
        raise TimeseriesError(
            f"metric {req.metric} is not defined per model (a run may use several models); "
            f"with group_by=model use one of: {', '.join(allowed)}"
        )
    if not (math.isfinite(req.trend_threshold) and req.trend_threshold >= 0):
        raise TimeseriesError(f"trend_threshold must be a finite number ≥ 0, got {req.trend_threshold}")
    if not (math.isfinite(req.anomaly_threshold) and req.anomaly_threshold > 0):
        raise TimeseriesError(f"anomaly_threshold must be a finite number > 0, got {req.anomaly_threshold}")
    most = limits.timeseries_max_series
    if req.max_series is not None and not 1 <= req.max_series <= most:
        raise TimeseriesError(f"max_series must be between 1 and {most}, got {req.max_series}")
    return bucket_range(req.start_us, req.end_us, req.interval, limits.timeseries_max_buckets)


def _empty(metric: str) -> Value:
    """An empty bucket: nothing happened (0), or a rate or latency of nothing (None)."""
    if metric in _PERCENTILES or metric in _RATE_METRICS:
        return None
    return 0 if metric in _INTEGER_METRICS else 0.0


def _cells(
    req: TimeseriesRequest, store: TraceStore, query: SeriesQuery, span: BucketRange
) -> tuple[dict[str | None, list[Value]], dict[str | None, float]]:
    """Per series key, the value of every bucket in order (empty ones filled), and the series'
    weight for ranking: its total for sums and counts, its calls or runs for rates and latencies."""
    index = {start: i for i, start in enumerate(span.starts())}
    series: dict[str | None, list[Value]] = {}
    weights: dict[str | None, float] = defaultdict(float)

    def row(key: str | None) -> list[Value]:
        if key not in series:
            series[key] = [_empty(req.metric)] * span.count
        return series[key]

    if req.metric in _PERCENTILES:
        for bucket in store.timeseries_values(query):
            durations = sorted(bucket.values)
            p = nearest_rank(durations, _PERCENTILES[req.metric])
            row(bucket.key)[index[bucket.bucket_start_us]] = None if p is None else p / 1000
            weights[bucket.key] += len(durations)
        return series, weights
    for cell in store.timeseries_aggregates(query):
        if req.metric in _RATE_METRICS:
            value: Value = cell.total / cell.count if cell.count else None
            weights[cell.key] += cell.count or 0
        else:
            value = int(cell.total) if req.metric in _INTEGER_METRICS else float(cell.total)
            weights[cell.key] += cell.total
        row(cell.key)[index[cell.bucket_start_us]] = value
    return series, weights


def _series_json(starts: range, values: list[Value], req: TimeseriesRequest, over: int) -> dict[str, Any]:
    """`over`: how many leading buckets have ended. A bucket still in progress holds only part
    of its interval, so it would read as a drop: the trend and the anomalies leave it out."""
    t = trend(values[:over], req.trend_threshold)
    found, base = anomalies(values[:over], req.anomaly_threshold)
    return {
        "buckets": [{"start_time_us": s, "value": v} for s, v in zip(starts, values, strict=True)],
        "trend": {
            "slope_per_interval": t.slope_per_interval,
            "relative_change": t.relative_change,
            "direction": t.direction,
        },
        "anomalies": [{"start_time_us": starts[a.index], "value": a.value, "score": a.score} for a in found],
        "baseline": None if base is None else {"median": base.median, "mad": base.mad, "scale": base.scale},
    }


def timeseries(store: TraceStore, req: TimeseriesRequest, limits: AnalyticsSettings) -> dict[str, Any]:
    """The API/MCP/CLI answer for one metric over a range. Raises TimeseriesError on bad input
    (or beyond `limits`), before reading anything."""
    span = _check(req, limits)
    query = SeriesQuery(
        project_id=req.project_id,
        metric=_SERIES_METRIC[req.metric],
        start_us=span.start_us,
        end_us=span.end_us,
        interval_us=span.interval_us,
        by_model=req.group_by == "model",
        thread_ids=req.thread_ids,
        labels=req.labels,
        model_name=req.model_name,
    )
    series, weights = _cells(req, store, query, span)
    head: dict[str, Any] = {
        "metric": req.metric,
        "interval": req.interval,
        "interval_us": span.interval_us,
        # The request's range, echoed; the buckets cover it widened to whole buckets.
        "start_us": req.start_us,
        "end_us": req.end_us,
        "group_by": req.group_by,
    }
    starts = span.starts()
    now_us = store.now_us()
    over = sum(1 for start in starts if start + span.interval_us <= now_us)
    head["partial_from_us"] = starts[over] if over < len(starts) else None
    if req.group_by is None:
        values = series.get(None, [_empty(req.metric)] * span.count)
        return {**head, **_series_json(starts, values, req, over)}
    ranked = sorted(series, key=lambda k: (-weights[k], k is None, k or ""))
    shown = req.max_series or min(DEFAULT_MAX_SERIES, limits.timeseries_max_series)
    return {
        **head,
        "truncated": len(ranked) > shown,
        "series_count": len(ranked),
        "series": [{"key": k, **_series_json(starts, series[k], req, over)} for k in ranked[:shown]],
    }
