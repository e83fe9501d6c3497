"""GET /metrics/timeseries: defaults, a project without data, the bucket cap and bad input
(each a 400 with a clear message, never a 500)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.test_timeseries import DAY, MIN, H, bad, series, values


def test_defaults_last_day_by_hour(api: httpx.Client) -> None:
    before = time.time_ns() // 1000
    body = series(api, {"metric": "cost"})
    assert body["interval"] == "1h"
    assert body["end_us"] - body["start_us"] == DAY
    assert before <= body["end_us"] <= time.time_ns() // 1000
    first, last = body["start_us"] // H * H, -(-body["end_us"] // H) * H
    assert [b["start_time_us"] for b in body["buckets"]] == list(range(first, last, H))
    assert values(body) == [0.0] * len(body["buckets"])  # a project without data
    assert body["trend"] == {"slope_per_interval": 0.0, "relative_change": None, "direction": "flat"}
    assert body["anomalies"] == []


def test_empty_rates_are_null(api: httpx.Client) -> None:
    body = series(api, {"metric": "error_rate", "period": "last_hour", "interval": "15m"})
    assert set(values(body)) == {None}
    assert body["trend"] == {"slope_per_interval": None, "relative_change": None, "direction": "flat"}
    assert body["baseline"] is None
    by_model = series(api, {"metric": "duration_p95", "period": "last_hour", "group_by": "model"})
    assert by_model["series"] == []
    assert by_model["truncated"] is False


def test_ten_thousand_buckets_at_most(api: httpx.Client) -> None:
    assert (
        len(series(api, {"metric": "runs", "interval": "1m", "start": 0, "end": 10_000 * MIN})["buckets"])
        == 10_000
    )
    message = bad(api, {"metric": "runs", "interval": "1m", "start": 0, "end": 10_000 * MIN + 1})
    assert message == (
        "that range holds 10001 buckets of 1m; at most 10000 are allowed: "
        "use a longer interval or a shorter range"
    )
    assert "at most 10000" in bad(api, {"metric": "runs", "interval": "1m", "period": "last_week"})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "metric is required; use one of: runs, failed_runs, error_rate, cost, llm_calls, "
             "input_tokens, output_tokens, duration_p50, duration_p95"),
        ({"metric": "latency"}, "unknown metric 'latency'; use one of: runs, failed_runs, error_rate, cost, "
                                "llm_calls, input_tokens, output_tokens, duration_p50, duration_p95"),
        ({"metric": "runs", "interval": "2h"}, "unknown interval '2h'; use one of: 1m, 5m, 15m, 1h, 6h, 1d"),
        ({"metric": "runs", "group_by": "model"}, "metric runs is not defined per model (a run may use "
            "several models); with group_by=model use one of: error_rate, cost, llm_calls, input_tokens, "
            "output_tokens, duration_p50, duration_p95"),
        ({"metric": "failed_runs", "group_by": "model"}, "metric failed_runs is not defined per model"),
        ({"metric": "runs", "group_by": "thread"}, "unknown group_by 'thread'; use: model"),
        ({"metric": "runs", "period": "yesterday"}, "unknown period 'yesterday'"),
        ({"metric": "runs", "period": "all"}, "period=all has no start"),
        ({"metric": "runs", "period": "last_day", "start": 0}, "give either period or start"),
        ({"metric": "runs", "start": "tuesday"}, "start: cannot read 'tuesday' as a time"),
        ({"metric": "runs", "end": "2026-13-01"}, "end: cannot read '2026-13-01' as a time"),
        ({"metric": "runs", "start": -5}, "start must lie between 1970 and the end of 9999"),
        ({"metric": "runs", "start": "1969-12-31T00:00:00Z"}, "start must lie between 1970"),
        ({"metric": "runs", "start": 10**20}, "start must lie between 1970 and the end of 9999"),
        ({"metric": "runs", "start": 2 * H, "end": H}, "start (7200000000 µs) must be before end"),
        ({"metric": "runs", "start": H, "end": H}, "start (3600000000 µs) must be before end"),
        ({"metric": "runs", "trend_threshold": -0.1}, "trend_threshold must be a finite number ≥ 0"),
        ({"metric": "runs", "anomaly_threshold": 0}, "anomaly_threshold must be a finite number > 0"),
        ({"metric": "runs", "anomaly_threshold": "nan"}, "anomaly_threshold must be a finite number > 0"),
        ({"metric": "runs", "anomaly_threshold": "high"}, "anomaly_threshold"),
        ({"metric": "cost", "group_by": "model", "max_series": 0}, "max_series must be between 1 and 100"),
        ({"metric": "cost", "group_by": "model", "max_series": 101}, "max_series must be between 1 and 100"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400(api: httpx.Client, params: dict[str, Any], message: str) -> None:
    assert bad(api, params).startswith(message)
