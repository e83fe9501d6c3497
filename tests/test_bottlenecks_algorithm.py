"""The bottleneck analysis on hand-built span lists: self time, the critical path walk, time by
kind, parallelism, the lists and the outlier rule, with exact numbers. Times are in ms here and
µs in the records."""

from __future__ import annotations

from typing import Any

import pytest

from tests.db import Database
from tracehound.analytics.bottlenecks import (
    GAP,
    ReferenceCache,
    analyze,
    build_tree,
    critical_path,
    reference,
    reference_pairs,
    run_bottlenecks,
    self_times,
)
from tracehound.config import AnalyticsSettings
from tracehound.model import Span
from tracehound.storage.types import RunTimings, SpanTiming

MS = 1000


def sp(
    span_id: str,
    parent: str | None,
    start: float,
    end: float,
    kind: str = "other",
    op: str | None = None,
    model: str | None = None,
    cost: float | None = None,
    counted: int = 0,
) -> SpanTiming:
    return SpanTiming(
        span_id, parent, op or span_id, kind, model, int(start * MS), int(end * MS), cost, counted
    )


def path_of(spans: list[SpanTiming], start: float, end: float) -> list[tuple[str, float]]:
    """The critical path as (span id or "gap", ms)."""
    tree = build_tree(spans)
    path = critical_path(tree, int(start * MS), int(end * MS), [s.span_id for s in spans])
    return [("gap" if i == GAP else spans[i].span_id, us / MS) for i, us in path]


def selfs(spans: list[SpanTiming]) -> dict[str, float]:
    return {s.span_id: us / MS for s, us in zip(spans, self_times(build_tree(spans)), strict=True)}


def run_of(spans: list[SpanTiming], cost: float = 0.0, status: str = "completed") -> RunTimings:
    return RunTimings(
        run_id="r",
        status=status,  # type: ignore[arg-type]
        span_count=len(spans),
        start_us=min(s.start_us for s in spans),
        finish_us=max(s.finish_us for s in spans),
        cost=cost,
        spans=spans,
        truncated=False,
    )


SEQUENTIAL = [
    sp("root", None, 0, 1000, "chain"),
    sp("a", "root", 100, 400, "llm"),
    sp("b", "root", 400, 700, "tool"),
    sp("c", "root", 700, 950, "llm"),
]


def test_sequential_chain() -> None:
    assert path_of(SEQUENTIAL, 0, 1000) == [("root", 150), ("a", 300), ("b", 300), ("c", 250)]
    assert selfs(SEQUENTIAL) == {"root": 150, "a": 300, "b": 300, "c": 250}
    report = analyze(run_of(SEQUENTIAL), {}, limit=5)
    assert report["wall_time_ms"] == 1000
    assert report["time_by_kind"] == {"llm_ms": 550, "tool_ms": 300, "other_ms": 150}
    assert report["parallelism"] == 1.0


def test_overlapping_children_only_the_later_ending_is_on_the_path() -> None:
    spans = [
        sp("agent", None, 0, 100, "agent"),
        sp("t1", "agent", 10, 50, "tool"),
        sp("t2", "agent", 20, 60, "tool"),
    ]
    # t2 ends last: the agent owns 60..100, t2 20..60, and t1 (which ends after t2 starts) is
    # off the path; the agent owns 0..20.
    assert path_of(spans, 0, 100) == [("agent", 60), ("t2", 40)]
    # The agent's self time subtracts the union 10..60 once.
    assert selfs(spans) == {"agent": 50, "t1": 40, "t2": 40}
    report = analyze(run_of(spans), {}, limit=5)
    assert report["time_by_kind"] == {"llm_ms": 0, "tool_ms": 40, "other_ms": 60}
    assert report["parallelism"] == 1.3  # 130 ms of work in 100 ms


def test_time_between_children_is_the_parents_and_counts_as_other() -> None:
    spans = [sp("p", None, 0, 100, "agent"), sp("a", "p", 0, 30, "llm"), sp("b", "p", 70, 100, "llm")]
    assert path_of(spans, 0, 100) == [("p", 40), ("a", 30), ("b", 30)]
    report = analyze(run_of(spans), {}, limit=5)
    assert report["time_by_kind"] == {"llm_ms": 60, "tool_ms": 0, "other_ms": 40}


def test_gap_between_roots_is_other() -> None:
    spans = [sp("x", None, 0, 300, "llm"), sp("y", None, 500, 1000, "tool")]
    assert path_of(spans, 0, 1000) == [("x", 300), ("gap", 200), ("y", 500)]
    report = analyze(run_of(spans), {}, limit=5)
    assert report["critical_path"][1] == {
        "span_id": None,
        "operation_name": "other",
        "kind": "other",
        "path_ms": 200,
    }
    assert report["time_by_kind"] == {"llm_ms": 300, "tool_ms": 500, "other_ms": 200}
    assert report["parallelism"] == 0.8  # nothing runs for 200 of 1000 ms


def test_self_time_of_nested_and_overflowing_children() -> None:
    spans = [
        sp("root", None, 0, 1000),
        sp("a", "root", 100, 600),
        sp("a1", "a", 150, 300),
        sp("a2", "a", 250, 400),  # overlaps a1: the union 150..400 is subtracted once
        sp("a3", "a", 550, 700),  # outlives a: only 550..600 is subtracted from a
        sp("b", "root", 500, 900),
    ]
    assert selfs(spans) == {"root": 200, "a": 200, "a1": 150, "a2": 150, "a3": 150, "b": 400}
    # b ends last; a (its subtree reaching 700) overlaps b, so it is off the path.
    assert path_of(spans, 0, 1000) == [("root", 600), ("b", 400)]


def test_async_child_outliving_its_parents_carries_the_path() -> None:
    spans = [
        sp("r", None, 0, 100),
        sp("a", "r", 0, 40, "llm"),
        sp("b", "r", 40, 80, "tool"),
        sp("b1", "b", 60, 150, "llm"),  # ends after b and after r
    ]
    # r is on the path (its subtree sets the end) but b1 covers r's last 20 ms.
    assert path_of(spans, 0, 150) == [("r", 0), ("a", 40), ("b", 20), ("b1", 90)]


def test_child_starting_after_its_parent_ended_leaves_a_gap() -> None:
    spans = [sp("p", None, 0, 100), sp("c", "p", 150, 200)]
    assert path_of(spans, 0, 200) == [("p", 100), ("gap", 50), ("c", 50)]


def test_child_starting_before_its_parent_clock_skew() -> None:
    spans = [sp("p", None, 100, 200), sp("c", "p", 50, 150)]
    assert path_of(spans, 50, 200) == [("p", 50), ("c", 100)]
    assert selfs(spans) == {"p": 50, "c": 100}


def test_running_run_orphans_are_tops() -> None:
    # The root never arrived: "agent" names a parent that is not in the run.
    spans = [
        sp("agent", "missing", 0, 300, "agent"),
        sp("call", "agent", 10, 290, "llm"),
        sp("late", "gone", 320, 400, "tool"),
    ]
    assert path_of(spans, 0, 400) == [("agent", 20), ("call", 280), ("gap", 20), ("late", 80)]
    report = analyze(run_of(spans, status="running"), {}, limit=5)
    assert report["status"] == "running"
    assert report["time_by_kind"] == {"llm_ms": 280, "tool_ms": 80, "other_ms": 40}


def test_zero_length_spans_cycles_and_self_parents_do_not_break_the_walk() -> None:
    spans = [
        sp("p", None, 0, 50),
        sp("z", "p", 50, 50),  # zero length: carries no time, not on the path
        sp("me", "me", 50, 60),  # its own parent: a top
        sp("c1", "c2", 60, 100),  # a parent cycle, unreachable from any top
        sp("c2", "c1", 70, 80),
    ]
    assert path_of(spans, 0, 100) == [("p", 50), ("me", 10), ("gap", 40)]


def test_ties_pick_the_longer_child() -> None:
    spans = [sp("p", None, 0, 100), sp("short", "p", 50, 100), sp("long", "p", 20, 100)]
    assert path_of(spans, 0, 100) == [("p", 20), ("long", 80)]


def test_deep_chain_is_walked_without_recursion() -> None:
    depth = 5000
    spans = [sp("s0", None, 0, 2 * depth)]
    spans += [sp(f"s{i}", f"s{i - 1}", i, 2 * depth - i) for i in range(1, depth)]
    path = path_of(spans, 0, 2 * depth)
    assert len(path) == depth
    assert sum(ms for _, ms in path) == 2 * depth
    assert path[0] == ("s0", 2) and path[-1] == (f"s{depth - 1}", 2)


def test_lists_percentages_and_counted_costs() -> None:
    spans = [
        sp("run", None, 0, 1000, "chain"),
        # One call's cost on three levels: only the counted (outermost) one is listed.
        sp("api", "run", 0, 600, "chain", op="api_invoke", model="gpt", cost=0.003, counted=1),
        sp("mc", "api", 10, 590, "llm", op="model_call", model="gpt", cost=0.003),
        sp("prov", "mc", 20, 580, "llm", op="openai", cost=0.003),
        sp("api2", "run", 600, 800, "chain", op="api_invoke", model="claude", cost=0.001, counted=1),
        sp("free", "run", 800, 900, "tool", cost=0.0, counted=1),  # zero cost: not listed
    ]
    report = analyze(run_of(spans, cost=0.004), {}, limit=3)
    assert report["slowest_spans"] == [
        {
            "span_id": "run",
            "operation_name": "run",
            "kind": "chain",
            "duration_ms": 1000,
            "percent_of_total": 100.0,
            "self_time_ms": 100,
        },
        {
            "span_id": "api",
            "operation_name": "api_invoke",
            "kind": "chain",
            "duration_ms": 600,
            "percent_of_total": 60.0,
            "self_time_ms": 20,
        },
        {
            "span_id": "mc",
            "operation_name": "model_call",
            "kind": "llm",
            "duration_ms": 580,
            "percent_of_total": 58.0,
            "self_time_ms": 20,
        },
    ]
    assert report["expensive_spans"] == [
        {
            "span_id": "api",
            "operation_name": "api_invoke",
            "model": "gpt",
            "cost": 0.003,
            "percent_of_cost": 75.0,
        },
        {
            "span_id": "api2",
            "operation_name": "api_invoke",
            "model": "claude",
            "cost": 0.001,
            "percent_of_cost": 25.0,
        },
    ]
    assert analyze(run_of(spans, cost=0.004), {}, limit=1)["expensive_spans"][0]["span_id"] == "api"


def _population(n: int) -> list[int]:
    return [i * 10 * MS for i in range(1, n + 1)]  # 10, 20, ..., n*10 ms


@pytest.mark.parametrize(
    ("sample", "duration", "expected"),
    [
        # 30 spans: p95 is the ceil(0.95 * 30) = 29th value, 290 ms.
        (30, 291, (290.0, 30)),
        (30, 290, None),  # at p95 is not above it
        # 20 spans: the minimum sample; p95 is the 19th value, 190 ms.
        (20, 195, (190.0, 20)),
        (19, 5000, None),  # below the minimum sample: never an outlier
    ],
)
def test_outlier_rule(sample: int, duration: float, expected: tuple[float, int] | None) -> None:
    spans = [sp("run", None, 0, 10_000), sp("x", "run", 0, duration, op="X", model="m")]
    references = {("X", "m"): reference(_population(sample)), ("run", None): reference(_population(sample))}
    outliers = analyze(run_of(spans), references, limit=5)["outliers"]
    if expected is None:
        assert [o for o in outliers if o["span_id"] == "x"] == []
    else:
        p95, n = expected
        assert {
            "span_id": "x",
            "operation_name": "X",
            "model": "m",
            "duration_ms": duration,
            "p95_ms": p95,
            "sample_size": n,
        } in outliers


def test_outliers_match_model_and_rank_by_excess() -> None:
    spans = [
        sp("a", None, 0, 500, op="X", model="m"),
        sp("b", None, 0, 400, op="X", model=None),
        sp("c", None, 0, 300, op="X", model="m"),
    ]
    references = {
        ("X", "m"): reference(_population(20)),  # p95 190 ms
        ("X", None): reference([i * MS for i in range(1, 21)]),  # p95 19 ms
    }
    got = [(o["span_id"], o["p95_ms"]) for o in analyze(run_of(spans), references, limit=5)["outliers"]]
    assert got == [("b", 19.0), ("a", 190.0), ("c", 190.0)]  # excess 381, 310, 110 ms
    assert len(analyze(run_of(spans), references, limit=2)["outliers"]) == 2


def test_reference_pairs_favour_the_longest_operations() -> None:
    spans = [
        sp("a", None, 0, 10, op="A"),
        sp("b", None, 0, 30, op="B", model="m"),
        sp("c", None, 0, 20, op="C"),
    ]
    assert reference_pairs(spans, max_pairs=2) == [("B", "m"), ("C", None)]


def test_empty_and_instant_runs() -> None:
    report = analyze(run_of([sp("x", None, 5, 5)]), {}, limit=5)
    assert report["wall_time_ms"] == 0
    assert report["critical_path"] == []
    assert report["parallelism"] is None
    assert report["slowest_spans"][0]["percent_of_total"] is None


def _span(span_id: str, start_us: int, run_id: str = "run-1", model: str | None = None, ms: int = 0) -> Span:
    return Span(
        project_id="p",
        trace_id="ab" * 16,
        span_id=span_id,
        parent_span_id=None,
        run_id=run_id,
        thread_id=None,
        operation_name="op",
        start_time_us=start_us,
        finish_time_us=start_us + (ms * MS or 10),
        model=model,
        received_us=start_us,
    )


def test_storage_caps_the_spans_read(db: Database) -> None:
    store = db.open()
    try:
        store.write([_span(f"{i:016x}", 1_000_000 + i) for i in range(5)] + [_span("f" * 16, 5, "run-2")])
        capped = store.run_timings("p", "run-1", max_spans=3)
        assert capped is not None and capped.truncated and capped.span_count == 5
        assert [s.span_id for s in capped.spans] == [f"{i:016x}" for i in range(3)]  # earliest first
        whole = store.run_timings("p", "run-1", max_spans=5)
        assert whole is not None and not whole.truncated and len(whole.spans) == 5
        assert store.run_timings("p", "nope", max_spans=5) is None
        assert store.run_timings("other", "run-1", max_spans=5) is None
    finally:
        store.close()


def test_storage_reference_durations(db: Database) -> None:
    """Of the `scan` most recent spans of the operation in the window, the `sample` most recent
    of the model; one model alone, or several read in one walk, give the same answer."""
    store = db.open()
    try:
        # Spans i = 1..10 start at i seconds and last i ms; odd ones have model "m".
        store.write(
            [_span(f"{i:016x}", i * 1_000_000, model="m" if i % 2 else None, ms=i) for i in range(1, 11)]
        )
        second = 1_000_000

        def get(pairs: list[tuple[str, str | None]], lo: int, hi: int, sample: int, scan: int) -> Any:
            return store.recent_durations("p", pairs, lo * second, hi * second, sample, scan)

        assert get([("op", "m")], 1, 10, 100, 100) == {("op", "m"): [1000, 3000, 5000, 7000, 9000]}
        assert get([("op", None)], 3, 8, 100, 100) == {("op", None): [4000, 6000, 8000]}
        # The 5 most recent (6..10), of which those with "m": 7 and 9; and at most 1 of them.
        assert get([("op", "m")], 1, 10, 100, 5) == {("op", "m"): [7000, 9000]}
        assert get([("op", "m")], 1, 10, 1, 5) == {("op", "m"): [9000]}
        both = get([("op", "m"), ("op", None)], 1, 10, 2, 5)
        assert both == {("op", "m"): [7000, 9000], ("op", None): [8000, 10000]}
        assert get([("op", "x"), ("nope", None)], 1, 10, 5, 5) == {("op", "x"): [], ("nope", None): []}
    finally:
        store.close()


class FakeStore:
    """Just what run_bottlenecks reads, counting reference reads; the clock is settable."""

    def __init__(self, run: RunTimings) -> None:
        self.run = run
        self.now = 10 * 86_400 * 1_000_000
        self.reads: list[tuple[list[tuple[str, str | None]], int, int, int, int]] = []

    def run_timings(self, project_id: str, run_id: str, max_spans: int) -> RunTimings | None:
        return self.run if run_id == self.run.run_id else None

    def now_us(self) -> int:
        return self.now

    def recent_durations(
        self,
        project_id: str,
        pairs: list[tuple[str, str | None]],
        since_us: int,
        until_us: int,
        max_sample: int,
        max_scan: int,
    ) -> dict[tuple[str, str | None], list[int]]:
        self.reads.append((list(pairs), since_us, until_us, max_sample, max_scan))
        return {p: _population(20) for p in pairs}


def test_references_are_read_once_per_ttl_and_per_store() -> None:
    spans = [sp("run", None, 0, 1000), sp("x", "run", 0, 500, op="X", model="m")]
    store, other = FakeStore(run_of(spans)), FakeStore(run_of(spans))
    cache = ReferenceCache(max_entries=10)
    limits = AnalyticsSettings(outlier_cache_ttl_s=60)

    def outliers(s: FakeStore) -> list[str]:
        got = run_bottlenecks(s, "p", "r", 5, limits, cache)  # type: ignore[arg-type]
        assert got is not None
        return [o["span_id"] for o in got["outliers"]]

    assert outliers(store) == ["run", "x"]  # 1000 and 500 ms against a p95 of 190 ms
    day = 86_400 * 1_000_000
    # The window is the 7 days before now; pairs longest first; 200 of at most 2000 spans.
    assert store.reads == [([("run", None), ("X", "m")], store.now - 7 * day, store.now, 200, 2000)]
    store.now += 59_000_000
    outliers(store)
    assert len(store.reads) == 1  # within the TTL: reused
    outliers(other)
    assert len(other.reads) == 1  # another store has its own
    store.now += 1_000_000
    outliers(store)
    assert len(store.reads) == 2  # 60 s later: read again
    assert run_bottlenecks(store, "p", "nope", 5, limits, cache) is None  # type: ignore[arg-type]
