"""GET /metrics/timeseries against the real server, on runs placed at known µs in known buckets.

The data set (`build`) is sent once for the module, under its own project. `B` is an hour
boundary four days ago; the main range is the eight hours [B, B+8h):

| run    | start         | ms       | status    | LLM calls: model ms cost in/out          | thread | label |
| r0     | B - 1 µs      | 100      | completed | -                                        | t4     | -     |
| r1     | B             | 1000     | completed | gpt 400 0.001 100/10                     | t1     | alpha |
| r2     | B + 10 min    | 3000     | failed    | claude 2000 0.002 200/20 (error)         | t1     | beta  |
| r3     | B + 2h - 1 µs | 2000     | completed | gpt 800 0.004 400/40                     | t2     | alpha |
| r4     | B + 2h        | 4000     | completed | gpt 200 0.001 100/10;                    | t2     | alpha |
|        |               |          |           | claude (gateway) 1996 0.003 300/30       |        |       |
| r5     | B + 2h30      | 500      | running   | gpt 100 0.0005 50/5 (error)              | t3     | -     |
| r6     | B + 4h + 1 s  | 500      | failed    | no model, 50 ms, no usage                | t3     | beta  |
| r7-r11 | B + 5h + k min| 100..500 | completed | -                                        | t4     | gamma |
| r12    | B + 8h        | 100      | completed | gpt 10 0.01 1000/100                     | t4     | -     |

Further ranges hold root-only runs, one series each: RISING (1..6 runs an hour), NOISY (a
spike of 20 among 3-5), SPIKE (12 among a flat 2, so MAD is 0) and FLAT (2 an hour).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry.trace import Span

from tests.conftest import Server, get_json
from tests.shapes import gateway_call
from tests.spans import SpanFactory, TraceBuilder
from tracehound.api.schemas import ErrorBody, Timeseries, TimeseriesByModel

GPT = "openai/gpt-4o-mini"
CLAUDE = "anthropic/claude-3-5-sonnet"
S = 1_000_000  # µs per second
H = 3600 * S
MIN = 60 * S
DAY = 24 * H
NOISY = [3, 4, 5, 4, 3, 5, 4, 20, 4, 3, 5, 4]
SPIKE = [2, 2, 2, 2, 2, 2, 2, 12, 2, 2, 2, 2]


@dataclass
class TsWorld:
    project: str
    b: int  # µs, an hour boundary

    @property
    def rising(self) -> int:
        return self.b - DAY

    @property
    def noisy(self) -> int:
        return self.b - 2 * DAY

    @property
    def spike(self) -> int:
        return self.b - 3 * DAY

    @property
    def flat(self) -> int:
        return self.b - 3 * DAY + 12 * H


def llm_call(
    t: TraceBuilder,
    parent: Span,
    start: float,
    end: float,
    run_id: str,
    model: str | None,
    cost: float | None = None,
    tokens: tuple[int, int] | None = None,
    error: str | None = None,
) -> None:
    """One OTel GenAI chat span: an LLM call that carries its own usage."""
    attrs: dict[str, Any] = {"vllora.run_id": run_id, "gen_ai.operation.name": "chat"}
    if model:
        attrs["gen_ai.request.model"] = model
    if cost is not None:
        attrs["gen_ai.usage.cost"] = cost
    if tokens:
        attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"] = tokens
    t.span("chat", start, end, parent=parent, attrs=attrs, error=error)


def build(server: Server) -> TsWorld:
    project = f"ts-{uuid.uuid4().hex[:12]}"
    factory = SpanFactory(server.otlp_grpc, server.otlp_http, project)
    b = (int(time.time()) // 3600 - 4 * 24) * 3600 * S
    w = TsWorld(project, b)
    traces: list[TraceBuilder] = []

    def run(
        run_id: str, at_us: int, ms: float, thread: str, label: str | None = None
    ) -> tuple[TraceBuilder, Span]:
        t = factory.trace(at_us * 1000)
        traces.append(t)
        attrs = {"vllora.run_id": run_id, "vllora.thread_id": thread}
        if label:
            attrs["vllora.label"] = label
        return t, t.span("run", 0, ms, attrs=attrs)

    run("r0", b - 1, 100, "t4")
    t, root = run("r1", b, 1000, "t1", "alpha")
    llm_call(t, root, 10, 410, "r1", GPT, 0.001, (100, 10))
    t, root = run("r2", b + 10 * MIN, 3000, "t1", "beta")
    llm_call(t, root, 100, 2100, "r2", CLAUDE, 0.002, (200, 20), error="rate limited")
    t, root = run("r3", b + 2 * H - 1, 2000, "t2", "alpha")
    llm_call(t, root, 0, 800, "r3", GPT, 0.004, (400, 40))
    t, root = run("r4", b + 2 * H, 4000, "t2", "alpha")
    llm_call(t, root, 100, 300, "r4", GPT, 0.001, (100, 10))
    gateway_call(
        t, root, 1000, 3000, run_id="r4", thread_id="t2", model=CLAUDE, cost=0.003, input_tokens=300,
        output_tokens=30, label="alpha",
    )  # fmt: skip
    t = factory.trace((b + 2 * H + 30 * MIN) * 1000)  # no root arrives: running
    traces.append(t)
    agent = t.span(
        "agent", 0, 500, remote_parent=0x77, attrs={"vllora.run_id": "r5", "vllora.thread_id": "t3"}
    )
    llm_call(t, agent, 0, 100, "r5", GPT, 0.0005, (50, 5), error="timeout")
    t, root = run("r6", b + 4 * H + S, 500, "t3", "beta")
    t.span("lookup", 10, 50, parent=root, attrs={"vllora.run_id": "r6"}, exception="boom")
    llm_call(t, root, 100, 150, "r6", None)
    for k in range(5):
        run(f"r{7 + k}", b + 5 * H + k * MIN, 100 * (k + 1), "t4", "gamma")
    t, root = run("r12", b + 8 * H, 100, "t4")
    llm_call(t, root, 0, 10, "r12", GPT, 0.01, (1000, 100))

    for start, counts in (
        (w.rising, [1, 2, 3, 4, 5, 6]),
        (w.noisy, NOISY),
        (w.spike, SPIKE),
        (w.flat, [2] * 6),
    ):
        for hour, n in enumerate(counts):
            for k in range(n):
                run(f"s{start}-{hour}-{k}", start + hour * H + k * MIN, 100, "series")
    factory.send(*traces)
    return w


@pytest.fixture(scope="module")
def tsw(server: Server) -> TsWorld:
    return build(server)


@pytest.fixture(scope="module")
def tapi(server: Server, tsw: TsWorld) -> Iterator[httpx.Client]:
    with server.client(tsw.project) as client:
        yield client


def series(c: httpx.Client, params: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = get_json(c, "/metrics/timeseries", params)
    if body["group_by"] is None:
        Timeseries.model_validate(body)
    else:
        TimeseriesByModel.model_validate(body)
    return body


def main(w: TsWorld, metric: str, **extra: Any) -> dict[str, Any]:
    return {"metric": metric, "interval": "1h", "start": w.b, "end": w.b + 8 * H, **extra}


def values(body: dict[str, Any]) -> list[Any]:
    return [bucket["value"] for bucket in body["buckets"]]


def approx(xs: list[float | None]) -> list[Any]:
    return [None if x is None else pytest.approx(x, rel=1e-12, abs=1e-18) for x in xs]


def bad(c: httpx.Client, params: dict[str, Any]) -> str:
    response = c.get("/metrics/timeseries", params=params)
    assert response.status_code == 400, response.text
    body = ErrorBody.model_validate(response.json())
    return body.message


# -- run metrics ----------------------------------------------------------------------------------


def test_envelope_and_buckets(tsw: TsWorld, tapi: httpx.Client) -> None:
    body = series(tapi, main(tsw, "runs"))
    assert {k: body[k] for k in ("metric", "interval", "interval_us", "start_us", "end_us", "group_by")} == {
        "metric": "runs",
        "interval": "1h",
        "interval_us": H,
        "start_us": tsw.b,
        "end_us": tsw.b + 8 * H,
        "group_by": None,
    }
    assert [x["start_time_us"] for x in body["buckets"]] == [tsw.b + i * H for i in range(8)]
    assert values(body) == [2, 1, 2, 0, 1, 5, 0, 0]  # empty hours filled with 0


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("runs", [2, 1, 2, 0, 1, 5, 0, 0]),
        # r5 is running: counted in runs, but neither failed nor finished.
        ("failed_runs", [1, 0, 0, 0, 1, 0, 0, 0]),
        ("error_rate", [0.5, 0.0, 0.0, None, 1.0, 0.0, None, None]),
        ("cost", [0.003, 0.004, 0.0045, 0.0, 0.0, 0.0, 0.0, 0.0]),
        ("llm_calls", [2, 1, 3, 0, 1, 0, 0, 0]),
        ("input_tokens", [300, 400, 450, 0, 0, 0, 0, 0]),
        ("output_tokens", [30, 40, 45, 0, 0, 0, 0, 0]),
        # Finished runs only; nearest rank: p50 of [1000, 3000] is 1000, of 100..500 is 300.
        ("duration_p50", [1000.0, 2000.0, 4000.0, None, 500.0, 300.0, None, None]),
        ("duration_p95", [3000.0, 2000.0, 4000.0, None, 500.0, 500.0, None, None]),
    ],
)
def test_run_metrics_exact(tsw: TsWorld, tapi: httpx.Client, metric: str, expected: list[Any]) -> None:
    got = values(series(tapi, main(tsw, metric)))
    assert got == approx(expected)
    if metric in ("runs", "failed_runs", "llm_calls", "input_tokens", "output_tokens"):
        assert all(type(v) is int for v in got)


def test_straddle_at_a_bucket_boundary(tsw: TsWorld, tapi: httpx.Client) -> None:
    """r3 starts 1 µs before B+2h, r4 exactly on it: one minute bucket each."""
    body = series(
        tapi, {"metric": "runs", "interval": "1m", "start": tsw.b + 2 * H - MIN, "end": tsw.b + 2 * H + MIN}
    )
    assert [(x["start_time_us"], x["value"]) for x in body["buckets"]] == [
        (tsw.b + 2 * H - MIN, 1),
        (tsw.b + 2 * H, 1),
    ]


def test_range_is_widened_to_whole_buckets(tsw: TsWorld, tapi: httpx.Client) -> None:
    # A start inside B's hour covers all of it, r1 at B included; the echo keeps the request.
    body = series(tapi, main(tsw, "runs", start=tsw.b + 30 * MIN))
    assert body["start_us"] == tsw.b + 30 * MIN
    assert body["buckets"][0] == {"start_time_us": tsw.b, "value": 2}
    assert len(body["buckets"]) == 8
    # One µs earlier than B opens the hour before, which holds r0.
    body = series(tapi, main(tsw, "runs", start=tsw.b - 1))
    assert values(body) == [1, 2, 1, 2, 0, 1, 5, 0, 0]


def test_end_on_a_boundary_is_exclusive(tsw: TsWorld, tapi: httpx.Client) -> None:
    assert len(series(tapi, main(tsw, "runs"))["buckets"]) == 8  # r12 at B+8h is not counted
    body = series(tapi, main(tsw, "runs", end=tsw.b + 8 * H + 1))
    assert body["buckets"][-1] == {"start_time_us": tsw.b + 8 * H, "value": 1}
    assert len(body["buckets"]) == 9


def test_iso_times(tsw: TsWorld, tapi: httpx.Client) -> None:
    from datetime import UTC, datetime

    iso = datetime.fromtimestamp(tsw.b / S, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = series(tapi, {"metric": "runs", "interval": "1h", "start": iso, "end": tsw.b + 3 * H})
    assert body["start_us"] == tsw.b
    assert values(body) == [2, 1, 2]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"labels": "alpha"}, [1, 1, 1, 0, 0, 0, 0, 0]),
        ({"labels": "beta,gamma"}, [1, 0, 0, 0, 1, 5, 0, 0]),
        ({"thread_ids": "t1,t3"}, [2, 0, 1, 0, 1, 0, 0, 0]),
        ({"model_name": CLAUDE}, [1, 0, 1, 0, 0, 0, 0, 0]),
        ({"labels": "alpha", "model_name": GPT}, [1, 1, 1, 0, 0, 0, 0, 0]),
        ({"labels": "nobody"}, [0] * 8),
    ],
)
def test_filters_select_runs_as_runs_does(
    tsw: TsWorld, tapi: httpx.Client, filters: dict[str, str], expected: list[int]
) -> None:
    assert values(series(tapi, main(tsw, "runs", **filters))) == expected
    listed = get_json(
        tapi, "/runs", {**filters, "start_time_min": tsw.b, "start_time_max": tsw.b + 8 * H - 1, "limit": 1}
    )
    assert listed["pagination"]["total"] == sum(expected)


# -- trend and anomalies --------------------------------------------------------------------------


def test_trend_of_a_rising_series(tsw: TsWorld, tapi: httpx.Client) -> None:
    body = series(tapi, {"metric": "runs", "interval": "1h", "start": tsw.rising, "end": tsw.rising + 6 * H})
    assert values(body) == [1, 2, 3, 4, 5, 6]
    # Slope 1 run per hour; halves 2 and 5: (5 - 2) / 2 = 1.5.
    assert body["trend"] == {
        "slope_per_interval": pytest.approx(1.0, rel=1e-12),
        "relative_change": pytest.approx(1.5, rel=1e-12),
        "direction": "increasing",
    }
    assert body["anomalies"] == []
    # Nearest-rank median of 1..6 is 3; deviations 0,1,1,2,2,3 give MAD 1.
    assert body["baseline"] == {"median": 3.0, "mad": 1.0, "scale": pytest.approx(1.4826)}
    # A threshold above the change keeps it flat.
    high = series(
        tapi, {"metric": "runs", "start": tsw.rising, "end": tsw.rising + 6 * H, "trend_threshold": 1.6}
    )
    assert high["trend"]["direction"] == "flat"


def test_anomaly_injected_at_a_known_bucket(tsw: TsWorld, tapi: httpx.Client) -> None:
    body = series(tapi, {"metric": "runs", "interval": "1h", "start": tsw.noisy, "end": tsw.noisy + 12 * H})
    assert values(body) == NOISY
    # Median 4 (nearest rank 6 of 12), MAD 1: the spike of 20 scores 16 / 1.4826.
    assert body["baseline"] == {"median": 4.0, "mad": 1.0, "scale": pytest.approx(1.4826)}
    assert body["anomalies"] == [
        {"start_time_us": tsw.noisy + 7 * H, "value": 20, "score": pytest.approx(16 / 1.4826, rel=1e-12)}
    ]
    # A threshold above the spike's score flags nothing.
    assert series(tapi, {"metric": "runs", "start": tsw.noisy, "end": tsw.noisy + 12 * H,
                         "anomaly_threshold": 11})["anomalies"] == []  # fmt: skip


def test_anomaly_when_mad_is_zero(tsw: TsWorld, tapi: httpx.Client) -> None:
    """Most hours hold exactly 2 runs, so MAD is 0: the scale falls back to 1.253314 * the mean
    absolute deviation (10 / 12), and the spike still stands out."""
    body = series(tapi, {"metric": "runs", "interval": "1h", "start": tsw.spike, "end": tsw.spike + 12 * H})
    assert values(body) == SPIKE
    scale = 1.253314 * 10 / 12
    assert body["baseline"] == {"median": 2.0, "mad": 0.0, "scale": pytest.approx(scale, rel=1e-12)}
    assert body["anomalies"] == [
        {"start_time_us": tsw.spike + 7 * H, "value": 12, "score": pytest.approx(10 / scale, rel=1e-12)}
    ]


def test_flat_series_has_no_anomalies_and_no_trend(tsw: TsWorld, tapi: httpx.Client) -> None:
    body = series(tapi, {"metric": "runs", "interval": "1h", "start": tsw.flat, "end": tsw.flat + 6 * H})
    assert values(body) == [2] * 6
    assert body["anomalies"] == []
    assert body["baseline"] == {"median": 2.0, "mad": 0.0, "scale": None}
    assert body["trend"] == {"slope_per_interval": 0.0, "relative_change": 0.0, "direction": "flat"}


def test_trend_and_anomalies_skip_null_buckets(tsw: TsWorld, tapi: httpx.Client) -> None:
    body = series(tapi, main(tsw, "duration_p50"))
    # Non-null buckets at 0, 1, 2, 4, 5: values 1000, 2000, 4000, 500, 300.
    xs, ys = [0, 1, 2, 4, 5], [1000.0, 2000.0, 4000.0, 500.0, 300.0]
    mx, my = sum(xs) / 5, sum(ys) / 5
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    # Halves: buckets 0-3 (1000, 2000, 4000) and 4-7 (500, 300).
    change = (400.0 - 7000 / 3) / (7000 / 3)
    assert body["trend"] == {
        "slope_per_interval": pytest.approx(slope, rel=1e-12),
        "relative_change": pytest.approx(change, rel=1e-12),
        "direction": "decreasing",
    }
    # Median 1000 (rank 3 of 5); deviations 0, 500, 700, 1000, 3000: MAD 700. 3000 / (1.4826 * 700) < 3.5.
    assert body["baseline"] == {"median": 1000.0, "mad": 700.0, "scale": pytest.approx(1.4826 * 700)}
    assert body["anomalies"] == []


# -- group_by=model -------------------------------------------------------------------------------


def keyed(body: dict[str, Any]) -> dict[Any, list[Any]]:
    return {s["key"]: [b["value"] for b in s["buckets"]] for s in body["series"]}


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        # LLM-call spans by model: r6's model-less call is the null series, ranked last.
        ("llm_calls", {GPT: [1, 1, 2, 0, 0, 0, 0, 0], CLAUDE: [1, 0, 1, 0, 0, 0, 0, 0],
                       None: [0, 0, 0, 0, 1, 0, 0, 0]}),
        ("error_rate", {GPT: [0.0, 0.0, 0.5, None, None, None, None, None],
                        CLAUDE: [1.0, None, 0.0, None, None, None, None, None],
                        None: [None, None, None, None, 0.0, None, None, None]}),
        ("duration_p50", {GPT: [400.0, 800.0, 100.0, None, None, None, None, None],
                          CLAUDE: [2000.0, None, 1996.0, None, None, None, None, None],
                          None: [None, None, None, None, 50.0, None, None, None]}),
        ("duration_p95", {GPT: [400.0, 800.0, 200.0, None, None, None, None, None],
                          CLAUDE: [2000.0, None, 1996.0, None, None, None, None, None],
                          None: [None, None, None, None, 50.0, None, None, None]}),
        # Counted usage spans by model: the gateway call counts on api_invoke only, once.
        ("cost", {GPT: [0.001, 0.004, 0.0015, 0.0, 0.0, 0.0, 0.0, 0.0],
                  CLAUDE: [0.002, 0.0, 0.003, 0.0, 0.0, 0.0, 0.0, 0.0]}),
        ("input_tokens", {GPT: [100, 400, 150, 0, 0, 0, 0, 0], CLAUDE: [200, 0, 300, 0, 0, 0, 0, 0]}),
        ("output_tokens", {GPT: [10, 40, 15, 0, 0, 0, 0, 0], CLAUDE: [20, 0, 30, 0, 0, 0, 0, 0]}),
    ],
)  # fmt: skip
def test_group_by_model(
    tsw: TsWorld, tapi: httpx.Client, metric: str, expected: dict[Any, list[Any]]
) -> None:
    body = series(tapi, main(tsw, metric, group_by="model"))
    assert body["truncated"] is False
    assert body["series_count"] == len(expected)
    assert [s["key"] for s in body["series"]] == list(expected)  # largest first
    assert keyed(body) == {k: approx(v) for k, v in expected.items()}
    for s in body["series"]:
        assert set(s) == {"key", "buckets", "trend", "anomalies", "baseline"}


def test_group_by_model_trend_is_per_series(tsw: TsWorld, tapi: httpx.Client) -> None:
    body = series(tapi, main(tsw, "llm_calls", group_by="model"))
    gpt = body["series"][0]["trend"]
    # GPT [1, 1, 2, 0, 0, 0, 0, 0]: halves 1 and 0.
    assert gpt["relative_change"] == -1.0
    assert gpt["direction"] == "decreasing"


def test_group_by_model_caps_the_series(tsw: TsWorld, tapi: httpx.Client) -> None:
    body = series(tapi, main(tsw, "cost", group_by="model", max_series=1))
    assert body["truncated"] is True
    assert body["series_count"] == 2
    assert [s["key"] for s in body["series"]] == [GPT]  # 0.0065 against 0.005


def test_group_by_model_with_run_filters(tsw: TsWorld, tapi: httpx.Client) -> None:
    body = series(tapi, main(tsw, "llm_calls", group_by="model", labels="alpha"))
    assert keyed(body) == {GPT: [1, 1, 1, 0, 0, 0, 0, 0], CLAUDE: [0, 0, 1, 0, 0, 0, 0, 0]}


def test_the_bucket_in_progress_is_left_out_of_trend_and_anomalies(
    api: httpx.Client, spans: SpanFactory
) -> None:
    """Today holds no run yet: as a finished day its 0 would be an anomaly and pull the trend
    down; as the bucket in progress it is shown but neither scored nor trended."""
    day = 24 * H
    today = int(time.time()) * S // day * day
    traces = []
    for back, n in zip(range(6, 0, -1), [10, 9, 11, 10, 12, 10], strict=True):
        for k in range(n):
            t = spans.trace((today - back * day + H + k * MIN) * 1000)
            t.span("run", 0, 100, attrs={"vllora.run_id": f"d{back}-{k}"})
            traces.append(t)
    spans.send(*traces)
    body = series(api, {"metric": "runs", "interval": "1d", "start": today - 6 * day})
    assert values(body) == [10, 9, 11, 10, 12, 10, 0]
    assert body["partial_from_us"] == today
    assert body["anomalies"] == []
    assert body["trend"]["direction"] == "flat"
    # A range ending tomorrow still has today in progress; one ending today has no partial bucket.
    later = series(api, {"metric": "runs", "interval": "1d", "start": today - 6 * day, "end": today + day})
    assert later["partial_from_us"] == today and later["anomalies"] == []
    closed = series(api, {"metric": "runs", "interval": "1d", "start": today - 6 * day, "end": today})
    assert closed["partial_from_us"] is None and values(closed) == [10, 9, 11, 10, 12, 10]
