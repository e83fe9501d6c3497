"""Retention with a fake clock: spans written through the real normalisation and writer into a
real store of each backend whose clock the test moves; the sweep deletes the raw spans of old runs of the
projects that ask for it, and the API (the real app, in-process) answers the same stats, time
series and run figures after as before."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from tests.db import Database
from tests.test_cli import cli
from tracehound.api.app import create_app
from tracehound.api.context import AppContext
from tracehound.client import RequestFailed, TraceClient
from tracehound.config import Settings
from tracehound.conventions import normalize
from tracehound.model import STATUS_ERROR, RawSpan
from tracehound.retention import max_age_days, sweep
from tracehound.storage import TraceStore

S = 1_000_000
DAY = 86_400 * S
NOW = 1_795_000_000 * S  # the fake clock's start: a fixed instant


class Clock:
    def __init__(self) -> None:
        self.us = NOW

    def __call__(self) -> float:
        return self.us / S


def run(store: TraceStore, project: str, run_id: str, start_us: int, *, failed: bool = False) -> int:
    """A root and two LLM calls (4o-mini, cost 0.01 each), as ingest would store them, received
    as they finished. Returns the span count."""
    trace = uuid.uuid4().hex
    root = uuid.uuid4().hex[:16]
    attrs: dict[str, Any] = {
        "vllora.run_id": run_id,
        "vllora.thread_id": f"thread-{run_id}",
        "vllora.label": "agent",
    }
    raws = [RawSpan(trace, root, None, "run", start_us, start_us + 10 * S, attrs, project_header=project)]
    for k in range(2):
        call = {
            "vllora.run_id": run_id,
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 10,
            "gen_ai.usage.cost": 0.01,
        }
        begin = start_us + (1 + 4 * k) * S
        raws.append(
            RawSpan(
                trace,
                uuid.uuid4().hex[:16],
                root,
                "chat",
                begin,
                begin + 3 * S,
                call,
                status_code=STATUS_ERROR if failed and k == 1 else 0,
                status_message="rate limited" if failed and k == 1 else "",
                project_header=project,
            )
        )
    store.write([normalize(r, start_us + 10 * S) for r in raws])
    return len(raws)


def api(store: TraceStore, project: str, *calls: tuple[str, dict[str, Any]]) -> list[Any]:
    client = TraceClient.in_process(create_app(AppContext(store=store, settings=Settings())), project)

    async def go() -> list[Any]:
        try:
            return [await client.get(path, params) for path, params in calls]
        finally:
            await client.aclose()

    return anyio.run(go)


MONTH = {"start": str(NOW - 30 * DAY), "end": str(NOW)}
VIEWS: list[tuple[str, dict[str, Any]]] = [
    ("/stats", MONTH),
    ("/stats/breakdown", {"by": "model", **MONTH}),
    ("/metrics/timeseries", {"metric": "cost", "interval": "1d", **MONTH}),
    ("/metrics/timeseries", {"metric": "duration_p50", "interval": "1d", **MONTH}),
    ("/runs", {"period": "all"}),
    ("/runs/old-1/details", {}),
    ("/threads", {}),
]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(db: Database, clock: Clock) -> Iterator[TraceStore]:
    s = db.open(clock=clock)
    yield s
    s.close()


def test_sweep_deletes_old_spans_and_keeps_the_figures(store: TraceStore, db: Database) -> None:
    old = run(store, "p", "old-1", NOW - 20 * DAY) + run(store, "p", "old-2", NOW - 19 * DAY, failed=True)
    recent = run(store, "p", "new-1", NOW - 1 * DAY)
    run(store, "keep", "old-k", NOW - 20 * DAY)  # its own setting: forever
    run(store, "long", "old-l", NOW - 20 * DAY)  # its own setting: 30 days
    # Beside the open store, as beside a running server.
    db.backend.set_retention(db.config(), "keep", None)
    db.backend.set_retention(db.config(), "long", 30)

    before = api(store, "p", *VIEWS)
    assert before[0]["total_runs"] == 3 and before[0]["failed_runs"] == 1
    assert api(store, "p", ("/spans", {"limit": 1}))[0]["pagination"]["total"] == old + recent

    assert sweep(store, default_days=30).runs == 0  # nothing is 30 days old yet
    result = sweep(store, default_days=7)
    assert (result.runs, result.spans) == (2, old)

    after = api(store, "p", *VIEWS)
    # A run's cost by model is read from its spans: gone with them; every other figure stays.
    assert before[5].pop("by_model")[0]["calls"] == 2 and after[5].pop("by_model") == []
    assert after == before  # stats, breakdown, both series, runs, run details and threads
    spans, old_run, labels = api(store, "p", ("/spans", {"limit": 100}), ("/runs/old-1", {}), ("/labels", {}))
    assert spans["pagination"]["total"] == recent and {s["run_id"] for s in spans["data"]} == {"new-1"}
    assert old_run["pagination"]["total"] == 0 and old_run["data"] == []
    assert labels["labels"] == [{"name": "agent", "count": 1}]
    with pytest.raises(RequestFailed) as gone:
        api(store, "p", ("/runs/old-1/bottlenecks", {}))
    assert gone.value.status == 410 and "retention" in gone.value.message
    for project in ("keep", "long"):
        assert api(store, project, ("/spans", {"limit": 1}))[0]["pagination"]["total"] == 3

    assert sweep(store, default_days=7).runs == 0  # done once

    report = db.backend.check(db.config())
    assert report.ok, [t for t in report.tables if not t.ok]
    skipped = {t.table: t.skipped for t in report.tables}
    assert skipped["runs"] == 2 and skipped["projects"] == 1


def test_a_run_is_kept_while_spans_still_arrive(store: TraceStore, clock: Clock) -> None:
    """A run ended 10 days ago but received a span 2 days ago: its spans stay until nothing has
    arrived for it for the whole retention period."""
    run(store, "p", "slow", NOW - 10 * DAY)
    clock.us = NOW - 2 * DAY
    late = RawSpan(
        uuid.uuid4().hex,
        uuid.uuid4().hex[:16],
        None,
        "late",
        NOW - 10 * DAY,
        NOW - 10 * DAY + S,
        {"vllora.run_id": "slow"},
        project_header="p",
    )
    store.write([normalize(late, clock.us)])
    clock.us = NOW
    assert sweep(store, default_days=7).runs == 0
    clock.us = NOW + 6 * DAY
    assert sweep(store, default_days=7).runs == 1


def test_policy_resolution() -> None:
    assert max_age_days("a", {}, 0) is None
    assert max_age_days("a", {}, 7) == 7
    assert max_age_days("a", {"a": 30}, 7) == 30
    assert max_age_days("a", {"a": None}, 7) is None


def test_retention_commands(db: Database) -> None:
    db.open().close()
    assert cli("retention", "set", "p", "14", *db.args).returncode == 0
    assert cli("retention", "set", "q", "--forever", *db.args).returncode == 0
    shown = cli("retention", "show", "--json", *db.args)
    assert shown.returncode == 0 and '"days": 14' in shown.stdout and '"days": null' in shown.stdout
    assert cli("retention", "clear", "q", *db.args).returncode == 0
    assert '"q"' not in cli("retention", "show", "--json", *db.args).stdout
    both = cli("retention", "set", "p", "3", "--forever", *db.args)
    assert both.returncode == 2 and "not both" in both.stderr
    zero = cli("retention", "set", "p", "0", *db.args)
    assert zero.returncode == 2
