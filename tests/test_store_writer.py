"""The ingest transaction on a real store of each backend: the cost ancestor rule in every
arrival order, de-duplication, and rollups that always agree with the spans."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.db import Database
from tracehound.model import KIND_LLM, Span
from tracehound.storage import TraceStore
from tracehound.storage.queries import GroupQuery, RunQuery
from tracehound.storage.rows import RollupRow


def span(
    trace: str,
    span_id: str,
    parent: str | None = None,
    *,
    run_id: str = "run",
    thread_id: str | None = None,
    cost: float | None = None,
    tokens: int | None = None,
    start: int = 1_000,
    finish: int = 2_000,
    llm: bool = False,
    error: str | None = None,
    project: str = "default",
) -> Span:
    return Span(
        project_id=project,
        trace_id=trace.ljust(32, "0"),
        span_id=span_id.ljust(16, "0"),
        parent_span_id=None if parent is None else parent.ljust(16, "0"),
        run_id=run_id,
        thread_id=thread_id,
        operation_name="op",
        start_time_us=start,
        finish_time_us=finish,
        kind=KIND_LLM if llm else "other",
        is_llm_call=llm,
        cost=cost,
        input_tokens=tokens,
        output_tokens=None if tokens is None else tokens // 2,
        is_error=error is not None,
        error_message=error,
        received_us=5_000,
    )


@pytest.fixture
def store(db: Database) -> Iterator[TraceStore]:
    s = db.open(clock=lambda: 1.0)
    yield s
    s.close()


def _run(store: TraceStore, run_id: str = "run") -> RollupRow:
    return _run_of(store, "default", run_id)


def _run_of(store: TraceStore, project: str, run_id: str = "run") -> RollupRow:
    run = store.get_run(project, run_id)
    assert run is not None
    return run


def _tree() -> list[Span]:
    """root → a(cost 4) → b(cost 4) → c(cost 4); root → d → e(cost 1) ‖ f(cost 2): a call
    repeated on three levels, and two parallel calls under one parent."""
    return [
        span("t", "root"),
        span("t", "a", "root", cost=4.0, tokens=100),
        span("t", "b", "a", cost=4.0, tokens=100, llm=True),
        span("t", "c", "b", cost=4.0, tokens=100),
        span("t", "d", "root"),
        span("t", "e", "d", cost=1.0, tokens=10, llm=True),
        span("t", "f", "d", cost=2.0, tokens=20, llm=True),
    ]


@pytest.mark.parametrize("order", list(itertools.islice(itertools.permutations(range(7)), 0, 5040, 251)))
def test_ancestor_rule_in_any_order_one_span_per_batch(store: TraceStore, order: tuple[int, ...]) -> None:
    spans = _tree()
    for i in order:
        store.write([spans[i]])
    run = _run(store)
    assert run.cost == pytest.approx(7.0)
    assert run.input_tokens == 130 and run.output_tokens == 65
    assert run.llm_calls == 3 and run.span_count == 7


def test_ancestor_rule_across_mixed_batches(store: TraceStore, db: Database) -> None:
    spans = _tree()
    store.write([spans[3], spans[5]])  # c and e
    assert _run(store).cost == pytest.approx(5.0)
    store.write([spans[2], spans[6]])  # b covers c; f is new
    assert _run(store).cost == pytest.approx(7.0)
    store.write([spans[1], spans[0], spans[4]])  # a covers b
    assert _run(store).cost == pytest.approx(7.0)
    counted = db.rows("SELECT span_id FROM spans WHERE usage_counted = 1 ORDER BY span_id")
    assert [c[0][:1] for c in counted] == ["a", "e", "f"]


def test_usage_moves_between_runs_and_threads(store: TraceStore) -> None:
    """A child in another run and thread, covered later by a parent: both rollups move."""
    store.write([span("t", "child", "parent", run_id="r2", thread_id="th2", cost=3.0, tokens=30)])
    assert _run(store, "r2").cost == pytest.approx(3.0)
    store.write([span("t", "parent", run_id="r1", thread_id="th1", cost=3.0, tokens=30)])
    assert _run(store, "r2").cost == pytest.approx(0.0)
    assert _run(store, "r2").input_tokens == 0
    assert _run(store, "r1").cost == pytest.approx(3.0)
    threads = {t.key: t for t in store.list_threads(GroupQuery(project_id="default")).rows}
    assert threads["th1"].cost == pytest.approx(3.0)
    assert threads["th2"].cost == pytest.approx(0.0)


def test_duplicates_in_and_across_batches(store: TraceStore, db: Database) -> None:
    spans = _tree()
    first = store.write(spans + spans[:2])
    assert (first.inserted, first.duplicates) == (7, 2)
    again = store.write(spans)
    assert (again.inserted, again.duplicates) == (0, 7)
    run = _run(store)
    assert run.span_count == 7 and run.cost == pytest.approx(7.0)
    assert db.one("SELECT COUNT(*) FROM spans") == (7,)


def test_same_ids_in_two_projects_are_two_spans(store: TraceStore) -> None:
    store.write([span("t", "a", project="p1", cost=1.0), span("t", "a", project="p2", cost=2.0)])
    assert store.get_run("p1", "run").cost == pytest.approx(1.0)  # type: ignore[index]
    assert store.get_run("p2", "run").cost == pytest.approx(2.0)  # type: ignore[index]


def test_rollups_agree_with_spans(store: TraceStore, db: Database) -> None:
    """Every rollup column equals the aggregate recomputed from the stored spans."""
    batches = [
        [
            span("t1", "a", run_id="r1", thread_id="th", start=10, finish=50, error="boom"),
            span(
                "t1", "b", "a", run_id="r1", thread_id="th", start=20, finish=60, cost=0.5, tokens=7, llm=True
            ),
        ],
        [span("t2", "c", run_id="r1", start=5, finish=30)],
        [span("t3", "d", run_id="r2", thread_id="th", start=100, finish=400, llm=True, cost=1.5, tokens=3)],
    ]
    for b in batches:
        store.write(b)
    expected = {
        r[0]: r[1:]
        for r in db.rows(
            """SELECT run_id, MIN(start_time_us), MAX(finish_time_us), COUNT(*), SUM(is_error),
               SUM(is_llm_call), COALESCE(SUM(CASE WHEN usage_counted = 1 THEN cost END), 0.0),
               SUM(CASE WHEN usage_counted = 1 THEN input_tokens END),
               SUM(CASE WHEN parent_span_id IS NULL THEN 1 ELSE 0 END) FROM spans GROUP BY run_id"""
        )
    }
    actual = {
        r[0]: r[1:]
        for r in db.rows(
            "SELECT run_id, start_time_us, finish_time_us, span_count, error_count, llm_calls, cost, "
            "input_tokens, root_count FROM runs"
        )
    }
    assert actual == expected
    r1 = _run(store, "r1")
    assert r1.duration_ms == pytest.approx(0.055)
    assert r1.status == "failed" and r1.errors == ["boom"]
    assert sorted(r1.all_trace_ids) == ["t1".ljust(32, "0"), "t2".ljust(32, "0")]
    assert sorted(r1.trace_ids) == ["t1".ljust(32, "0"), "t2".ljust(32, "0")]  # both have a root


def test_status_counts_without_scanning(store: TraceStore) -> None:
    store.write(
        [
            span("t1", "a", run_id="ok"),
            span("t2", "b", run_id="bad", error="x"),
            span("t3", "c", "missing-parent", run_id="busy"),
        ]
    )

    def total(*statuses: str) -> int:
        return store.list_runs(RunQuery(project_id="default", statuses=statuses)).total  # type: ignore[arg-type]

    # The clock says 1 s; spans arrived at 5 ms: within the idle timeout, "busy" is running.
    assert (total("completed"), total("failed"), total("running")) == (1, 1, 1)
    assert total() == 3 and total("completed", "failed") == 2


def test_comma_joined_tool_names_are_separate_tools(store: TraceStore) -> None:
    tools = span("t", "tools")
    tools.tool_name = "search_flights, get_weather"
    store.write([tools])
    assert _run(store).used_tools == ["get_weather", "search_flights"]
