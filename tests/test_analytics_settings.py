"""The analytics bounds are settings: a server started with other values (flags and environment
variables) answers within them, on each backend."""

from __future__ import annotations

import time

from tests.conftest import get_json, start_server
from tests.db import Database
from tests.spans import SpanFactory

H = 3_600_000_000


def test_serve_takes_the_analytics_bounds(db: Database) -> None:
    server = start_server(
        db.data_dir,
        "--timeseries-max-buckets",
        "24",
        "--stats-top-errors",
        "1",
        "--outlier-min-sample",
        "3",
        env={
            "TRACEHOUND_OUTLIER_MAX_SAMPLE": "50",
            "TRACEHOUND_OUTLIER_MAX_SCAN": "500",
            "TRACEHOUND_OUTLIER_CACHE_TTL": "5",
            "TRACEHOUND_TIMESERIES_MAX_SERIES": "2",
            "TRACEHOUND_STATS_CACHE_MB": "0",
        },
        database_url=db.url,
    )
    try:
        factory = SpanFactory(server.otlp_grpc, server.otlp_http, None)
        t = factory.trace(time.time_ns() - 600_000_000_000)
        root = t.span("run", 0, 100)
        t.span("a", 1, 10, parent=root, error="first")
        t.span("b", 11, 20, parent=root, error="second")
        t.span("c", 21, 30, parent=root, error="second")
        factory.send(t)
        with server.client() as api:
            assert get_json(api, "/stats")["top_errors"] == [
                {"message": "second", "count": 2, "runs": 1, "last_run_id": t.trace_hex}
            ]
            day = {"metric": "runs", "interval": "1h", "start": 480_000 * H}
            assert len(get_json(api, "/metrics/timeseries", {**day, "end": 480_024 * H})["buckets"]) == 24
            r = api.get("/metrics/timeseries", params={**day, "end": 480_024 * H + 1})
            assert r.status_code == 400
            assert "that range holds 25 buckets of 1h; at most 24 are allowed" in r.json()["message"]
            r = api.get(
                "/metrics/timeseries",
                params={
                    **day,
                    "end": 480_001 * H,
                    "group_by": "model",
                    "metric": "llm_calls",
                    "max_series": 3,
                },
            )
            assert r.status_code == 400 and "max_series must be between 1 and 2, got 3" in r.json()["message"]
            body = get_json(api, f"/runs/{t.trace_hex}/bottlenecks")
            assert body["outlier_reference"] == {
                "window_days": 7,
                "min_sample": 3,
                "max_sample": 50,
                "max_scan": 500,
                "cache_ttl_s": 5.0,
            }
    finally:
        server.stop()
