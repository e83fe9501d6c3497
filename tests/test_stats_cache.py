"""/stats without filters is added up from per-hour parts, the whole past hours kept in the
store's cache and forgotten when the writer stamps their hour (stats_hours.py of each backend).
Random batches of spans, on a real store of each backend with a fake clock: late spans for old
hours, runs whose start moves to an earlier hour, parents arriving after their children (which
takes back the children's cost, in the same run or in another run of the trace), errors, runs
without a root going from running to completed or failed as the clock moves. After each batch,
for several windows, the cached answer must equal, to the last bit, the answer of a read-only
store on the same database (no cache: every hour read), and the query-time path over the whole
window (a thread filter that selects every run) up to the rounding of float sums. The run
durations of the percentile time series, read from the same hours' parts, must equal the query
over the runs."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.db import Database
from tracehound.analytics import stats
from tracehound.model import KIND_LLM, Span
from tracehound.storage import TraceStore
from tracehound.storage.hour_cache import HourVersions
from tracehound.storage.types import SeriesQuery, StatsFilter
from tracehound.timeparse import Window, resolve_window

M = 60_000_000  # µs per minute
H = 60 * M
B = 480_000 * H  # an hour boundary, in 2024
ALL = StatsFilter(project_id="p")
THREAD = StatsFilter(project_id="p", thread_ids=("t",))
MODELS = [("m-a", "pa"), ("m-b", "pb"), (None, None), ("m-a", "pz")]
ERRORS = [None, None, None, "boom", "timeout"]


class World:
    """Runs being sent, some spans held back to arrive in a later batch."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.now_us = B + 60 * H
        self.ids = 0
        self.runs: dict[str, tuple[str, int]] = {}  # run id: trace id, first start
        self.held: list[Span] = []

    def _id(self) -> str:
        self.ids += 1
        return f"{self.ids:016x}"

    def span(self, run: str, trace: str, parent: str | None, start: int, *, usage: bool = False) -> Span:
        rng = self.rng
        llm = rng.random() < 0.6
        model, provider = rng.choice(MODELS)
        error = rng.choice(ERRORS)
        has_cost = usage or (llm and rng.random() < 0.7)
        unpriced = has_cost and rng.random() < 0.15
        return Span(
            project_id="p",
            trace_id=trace,
            span_id=self._id(),
            parent_span_id=parent,
            run_id=run,
            thread_id="t",
            operation_name="llm" if llm else "step",
            start_time_us=start,
            finish_time_us=start + rng.randrange(0, 40 * M),
            kind=KIND_LLM if llm else "other",
            is_llm_call=llm,
            model=model,
            provider=provider,
            cost=None if not has_cost or unpriced else rng.choice([0.1, 0.25, 1 / 3, 0.7]),
            cost_source=None if not has_cost else ("unpriced" if unpriced else "provided"),
            input_tokens=rng.randrange(1, 500) if has_cost else None,
            output_tokens=rng.randrange(1, 50) if has_cost else None,
            cached_tokens=rng.randrange(0, 5) if has_cost else None,
            is_error=error is not None,
            error_message=error,
            received_us=self.now_us,
        )

    def new_run(self) -> list[Span]:
        rng = self.rng
        run = f"r{self._id()}"
        trace = (run * 3)[:32]
        start = self.now_us - rng.randrange(M, 40 * H)
        self.runs[run] = (trace, start)
        root_id = self._id()
        # The children arrive first; the root, sometimes with a cost that takes theirs back,
        # now or later (until then the run has no root).
        out = [
            self.span(run, trace, root_id, start + rng.randrange(0, 90 * M))
            for _ in range(rng.randrange(1, 5))
        ]
        root = self.span(run, trace, None, start, usage=rng.random() < 0.3)
        root = _with_id(root, root_id)
        if rng.random() < 0.6:
            out.append(root)
        else:
            self.held.append(root)
        if rng.random() < 0.2:
            # Another run in the same trace, under a span of this one that arrives later and
            # carries a cost: that run's usage moves without it gaining a span.
            other = f"o{self._id()}"
            self.runs[other] = (trace, start)
            middle = _with_id(self.span(run, trace, root_id, start + M, usage=True), self._id())
            out.append(self.span(other, trace, middle.span_id, start + 2 * M, usage=True))
            # ... and whose start (the hour its figures count in) is hours before that span's.
            out.append(self.span(other, trace, self._id(), start - rng.randrange(H, 3 * H)))
            self.held.append(middle)
        return out

    def late_span(self, earlier: bool) -> list[Span]:
        rng = self.rng
        run = rng.choice(sorted(self.runs))
        trace, start = self.runs[run]
        # Before the run's start (its start moves, maybe to another hour), or hours after it.
        at = start - rng.randrange(1, 3 * H) if earlier else start + rng.randrange(0, 20 * H)
        if earlier:
            self.runs[run] = (trace, at)
        return [self.span(run, trace, self._id(), at)]

    def batch(self) -> list[Span]:
        rng = self.rng
        out: list[Span] = []
        for _ in range(rng.randrange(1, 6)):
            out += self.new_run()
        if self.runs:
            for _ in range(rng.randrange(0, 3)):
                out += self.late_span(earlier=rng.random() < 0.4)
        if self.held and rng.random() < 0.5:
            k = rng.randrange(1, len(self.held) + 1)
            out += [_received(s, self.now_us) for s in self.held[:k]]
            del self.held[:k]
        return out

    def tick(self) -> None:
        self.now_us += self.rng.choice([0, 30_000_000, 4 * M, 7 * M, 50 * M, 2 * H])


def _with_id(span: Span, span_id: str) -> Span:
    span.span_id = span_id
    return span


def _received(span: Span, now_us: int) -> Span:
    span.received_us = now_us
    return span


def windows(now_us: int) -> list[Window]:
    return [
        resolve_window("last_day", None, None, now_us),
        resolve_window("last_hour", None, None, now_us),
        resolve_window("last_week", None, None, now_us),
        resolve_window(None, B + 7 * M, now_us - 13 * M, now_us),  # both edges mid-hour
        resolve_window(None, B + 10 * H, B + 40 * H, now_us),  # whole hours
        resolve_window(None, B + 20 * H + M, B + 20 * H + 50 * M, now_us),  # inside one hour
    ]


def answer(store: TraceStore, f: StatsFilter, w: Window) -> dict[str, Any]:
    return stats.summarize(w, store.stats(f, (w.start_us, w.end_us), w.previous), 10)


def breakdowns(store: TraceStore, f: StatsFilter, w: Window) -> list[Any]:
    return [
        stats.usage_rows(store.usage_breakdown(f, w.start_us, w.end_us, key), key)
        for key in ("model", "provider")
    ]


def durations(store: TraceStore, w: Window, interval_us: int) -> list[tuple[int, list[int]]]:
    """Run durations per bucket, as the percentile time series reads them."""
    start = w.start_us - w.start_us % interval_us
    end = -(-w.end_us // interval_us) * interval_us
    q = SeriesQuery("p", "duration", start, end, interval_us)
    return [(b.bucket_start_us, sorted(b.values)) for b in store.timeseries_values(q)]


def _near(value: Any) -> Any:
    return pytest.approx(value, rel=1e-12, abs=1e-12)


def rounded(answer: dict[str, Any]) -> dict[str, Any]:
    """Float sums to 1e-12: the whole-window path sums in SQL, the hourly one hour by hour."""
    out = {**answer, "total_cost": _near(answer["total_cost"])}
    out["by_model"] = [{**r, "cost": _near(r["cost"])} for r in answer["by_model"]]
    if answer["previous_period"] is not None:
        out["previous_period"] = {
            **answer["previous_period"],
            "total_cost": _near(answer["previous_period"]["total_cost"]),
        }
    return out


@pytest.mark.parametrize("cache_bytes", [64 << 20, 4_000])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cached_hours_answer_as_the_uncached_path(db: Database, seed: int, cache_bytes: int) -> None:
    world = World(seed)

    def clock() -> float:
        return world.now_us / 1e6

    store = db.open(clock=clock, idle_timeout_s=300, stats_cache_bytes=cache_bytes)
    uncached = db.open(readonly=True, clock=clock, idle_timeout_s=300, stats_cache_bytes=0)
    cache = getattr(store, "stats_cache", None)
    assert cache is not None and getattr(uncached, "stats_cache", None) is None
    try:
        for _ in range(14):
            store.write(world.batch())
            world.tick()
            for w in windows(world.now_us):
                got = answer(store, ALL, w)
                assert got == answer(store, ALL, w)  # served from the cache the second time
                assert got == answer(uncached, ALL, w)
                assert got == rounded(answer(store, THREAD, w))
                for interval in (H, 3 * H):
                    # The hours' parts against the query over the runs.
                    assert durations(store, w, interval) == durations(uncached, w, interval)
                rows = breakdowns(store, ALL, w)
                assert rows == breakdowns(uncached, ALL, w)
                for mine, theirs in zip(rows, breakdowns(store, THREAD, w), strict=True):
                    assert mine == [{**r, "cost": _near(r["cost"])} for r in theirs]
        day = answer(store, ALL, windows(world.now_us)[0])
        assert day["total_runs"] > 10 and day["previous_period"]["total_runs"] > 0
        assert day["top_errors"] and day["by_model"]
        parts = cache.parts
        assert parts.hits > 0 and parts.size_bytes <= cache_bytes
    finally:
        uncached.close()
        store.close()


def test_an_hour_is_usable_only_when_no_write_to_it_is_in_flight_or_newer() -> None:
    versions = HourVersions()
    hour = ("p", B)
    since = versions.stamp()
    assert versions.usable([hour], since) == {hour: 0}
    versions.begin([hour])  # before COMMIT: a snapshot may or may not see the write
    assert versions.usable([hour], versions.stamp()) == {}
    versions.end([hour])
    # Stamped after the reader's snapshot began: the reader may not have seen the write.
    assert versions.usable([hour], since) == {}
    now = versions.stamp()
    assert versions.usable([hour, ("p", B + H)], now) == {hour: now, ("p", B + H): 0}
