"""The PostgreSQL writer with three writer processes on one database, below the server: each
process opens the store with `open_store` and, in each round, writes its batch at the same moment
as the others (a barrier). The batches overlap: the same traces, often the same spans, in
several processes at once; children mostly in early rounds and their parents (which carry usage
of their own) in later ones, so the cost ancestor rule takes usage back out of rows that other
processes wrote. Runs span two traces and threads several runs, in two projects; in a last round
each process writes a trace of its own into the same runs and threads (no trace lock in common,
only the rollup rows, each process bringing new facet values and errors).

Afterwards every rollup table (runs, threads, facets, labels, project counters, usage hours, LLM
durations) and every span's `usage_counted` must equal what one SQLite writer makes of the same
batches written one after another; each span must have been inserted exactly once over all
processes, and `tracehound check` must be clean."""

from __future__ import annotations

import dataclasses
import multiprocessing
import random
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

from tests.pg_writer_worker import Outcome, Written, write_rounds
from tests.test_cli import cli
from tests.test_store_writer import span
from tracehound.model import Span
from tracehound.storage import StoreConfig, open_store
from tracehound.storage.queries import GroupQuery, RunQuery
from tracehound.storage.sqlite.store import DB_FILENAME
from tracehound.storage.types import StatsFilter

PROCESSES = 3
HOUR_US = 3_600_000_000
BASE_US = 1_780_000_000 * 1_000_000  # whole hours: the traces fall in several hour parts
PROJECTS = ("alpha", "beta")
# The compared tables, each as rows of all its columns but those that legitimately differ.
TABLES = (
    "projects",
    "runs",
    "threads",
    "run_facets",
    "thread_facets",
    "project_labels",
    "usage_hours",
    "llm_durations",
)
# `spans.id` is the arrival order, which is what differs between concurrent writers and a
# sequential one; every other column of a span must be the same.
SPAN_SKIPPED = frozenset({"id"})


def hex_id(n: int, width: int) -> str:
    """Distinct ids whose leading bytes (the index keys) differ too."""
    return f"{(n * 0x9E3779B97F4A7C15F39CC0605CEDC835) % (1 << (4 * width)):0{width}x}"


def trace_spans(i: int) -> list[Span]:
    """One trace, by index k: root(0) → a(1, cost 4) → b(2, 4, LLM) → c(3, 4); root → d(4) →
    e(5, 1) ‖ f(6, 2). Costs in multiples of 2⁻¹⁰, so that sums are exact in any order."""
    trace = hex_id(i + 1, 32)
    project = PROJECTS[i % 4 == 3]
    start = BASE_US + (i % 5) * HOUR_US + i * 1_000_000
    model = "openai/gpt-4o-mini" if i % 2 else "anthropic/claude-3-haiku"

    def s(k: int, parent: int | None, cost: float | None = None, **kw: Any) -> Span:
        made = span(
            trace,
            hex_id(i * 16 + k + 1, 16),
            None if parent is None else hex_id(i * 16 + parent + 1, 16),
            run_id=f"run-{i // 2}",  # two traces per run
            thread_id=f"thread-{i % 3}",
            cost=cost,
            tokens=None if cost is None else int(cost * 1024),
            start=start + 10 * k,
            finish=start + 5_000 - 10 * k,
            project=project,
            **kw,
        )
        return dataclasses.replace(
            made,
            model=None if cost is None else model,
            provider=None if cost is None else model.split("/")[0],
            # Facet values that each span brings anew, up to the last round: a rollup's merged
            # sets must keep every process's values.
            label=f"label-{(i + k) % 6}",
            tool_name=f"tool-{k}" if k in (2, 4) else None,
        )

    error = "rate limited" if i % 5 == 0 else None
    return [
        s(0, None),
        s(1, 0, 4 / 1024),
        s(2, 1, 4 / 1024, llm=True),
        s(3, 2, 4 / 1024),
        s(4, 0),
        s(5, 4, 1 / 1024, llm=True),
        s(6, 4, 2 / 1024, llm=True, error=error),
    ]


# Which span of a trace goes, in which round of its generation, to which processes (offsets
# from the trace's own). A race the ancestor rule loses heals when any later span of the trace
# arrives (each arrival re-plans the trace's stored spans), so the decisive race is the last one:
# in round 3, b and its parent a (the top of the chain, with usage of its own) reach two
# processes at the same moment, over c stored earlier, and no span of the trace follows. No span
# is shared there either, whose unique key would make one transaction wait for the other: only
# the trace locks keep it exact (unlocked, both a and b would stay counted). Rounds 1 and 2 give
# several processes the same spans (exporter retries), some stored in an earlier round.
SCHEDULE = (
    (0, 0, (0,)),  # the root
    (0, 3, (1,)),  # c, the deepest
    (0, 5, (2,)),  # e
    (1, 0, (0, 1, 2)),  # the root again, everywhere
    (1, 3, (0, 2)),  # c again
    (1, 6, (0, 1, 2)),  # f, everywhere
    (2, 4, (0,)),  # d, e's and f's parent, a late parent without usage
    (2, 5, (1, 2)),  # e again
    (3, 2, (0,)),  # b, c's parent ...
    (3, 1, (1,)),  # ... and a, b's, at the same moment: late parents with usage
)
ROUNDS_PER_GENERATION = 5
GENERATIONS = 3
TRACES_PER_GENERATION = 8
ROUNDS = ROUNDS_PER_GENERATION * GENERATIONS


def side_span(run: int, process: int) -> Span:
    """A span of a trace of its own in run `run` (its parent is elsewhere), written by `process`
    alone in the last round while the other processes write other traces of the same run and
    thread: no trace lock is shared, only the rollup rows, with new facet values for each."""
    n = 10_000 + 3 * run + process
    made = span(
        hex_id(n, 32),
        hex_id(n, 16),
        hex_id(n + 1, 16),
        run_id=f"run-{run}",
        thread_id=f"thread-{(2 * run) % 3}",
        cost=1 / 1024,
        tokens=1,
        start=BASE_US + (run % 5) * HOUR_US + 7,
        finish=BASE_US + (run % 5) * HOUR_US + 900,
        llm=True,
        error="timeout" if process == 1 else None,
        project=PROJECTS[0],  # the project of the run's first trace (an even one)
    )
    return dataclasses.replace(made, label=f"side-{process}", tool_name=f"side-tool-{process}", model="m")


def plan_rounds(seed: int = 9) -> tuple[list[list[list[Span]]], int]:
    """Per process, per round, its batch (many traces each, shuffled); and how many distinct
    spans there are."""
    rng = random.Random(seed)
    batches: list[list[list[Span]]] = [[[] for _ in range(ROUNDS)] for _ in range(PROCESSES)]
    distinct = 0
    for i in range(GENERATIONS * TRACES_PER_GENERATION):
        spans = trace_spans(i)
        distinct += len(spans)
        first = (i // TRACES_PER_GENERATION) * ROUNDS_PER_GENERATION
        for r, k, offsets in SCHEDULE:
            for o in offsets:
                batches[(i + o) % PROCESSES][first + r].append(spans[k])
        if i % 2 == 0:
            for p in range(PROCESSES):
                batches[p][first + 4].append(side_span(i // 2, p))
                distinct += 1
    for per_process in batches:
        for batch in per_process:
            rng.shuffle(batch)
    return batches, distinct


def write_concurrently(url: str, batches: list[list[list[Span]]]) -> list[list[Written]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    out: multiprocessing.Queue[Outcome] = ctx.Queue()
    procs = [ctx.Process(target=write_rounds, args=(url, b, barrier, out)) for b in batches]
    try:
        for p in procs:
            p.start()
        outcomes = [out.get(timeout=90) for _ in procs]
        for p in procs:
            p.join(timeout=30)
    finally:
        for p in procs:  # a failure must not leave a writer behind
            if p.is_alive():
                p.kill()
                p.join(timeout=10)
    errors = [why for status, why in outcomes if status != "ok"]
    assert not errors, errors
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return [results for _, results in outcomes if isinstance(results, list)]


def canonical(columns: list[str], row: Any) -> tuple[object, ...]:
    """A run's or thread's `sets` is a JSON object whose keys are in the order their first value
    arrived, which differs between concurrent and sequential writers; every reader parses it
    (storage/shape.py), so only its content is compared, as `check` does. Nothing else is
    normalised: not even floats, whose sums are exact here."""
    return tuple(
        orjson.dumps(orjson.loads(v), option=orjson.OPT_SORT_KEYS) if c == "sets" else v
        for c, v in zip(columns, row, strict=True)
    )


def pg_rows(url: str, table: str, skipped: frozenset[str] = frozenset()) -> tuple[list[str], list[Any]]:
    with psycopg.connect(url) as conn:
        rows = conn.cursor(row_factory=dict_row).execute(f"SELECT * FROM {table}").fetchall()
        columns = [c.name for c in conn.execute(f"SELECT * FROM {table} LIMIT 0").description or []]
    kept = sorted(set(columns) - skipped)
    return kept, sorted((canonical(kept, [r[c] for c in kept]) for r in rows), key=repr)


def sqlite_rows(path: Path, table: str, columns: list[str]) -> list[Any]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return sorted(
            (canonical(columns, r) for r in db.execute(f"SELECT {', '.join(columns)} FROM {table}")), key=repr
        )


def test_three_writer_processes_make_one_writers_rollups(tmp_path: Path, pg_url: str) -> None:
    batches, distinct = plan_rounds()
    results = write_concurrently(pg_url, batches)
    # Exactly once: every span inserted by one process, refused as a duplicate by the others.
    assert sum(w[0] for per_process in results for w in per_process) == distinct
    sent = sum(len(b) for per_process in batches for b in per_process)
    assert sum(w[1] for per_process in results for w in per_process) == sent - distinct
    # A decisive round did run at the same moment: every write of it began before any ended
    # (not asserted of each: on a busy machine one process may be scheduled late).
    decisive = [[p[g * ROUNDS_PER_GENERATION + 3] for p in results] for g in range(GENERATIONS)]
    assert any(max(w[2] for w in ws) < min(w[3] for w in ws) for ws in decisive), decisive

    # The same batches, one after another, through one SQLite writer.
    ref_dir = tmp_path / "ref"
    ref = open_store(StoreConfig(data_dir=ref_dir))
    try:
        for r in range(ROUNDS):
            for per_process in batches:
                if per_process[r]:
                    ref.write(per_process[r])
    finally:
        ref.close()

    db = ref_dir / DB_FILENAME
    for table in TABLES:
        columns, stored = pg_rows(pg_url, table)
        assert stored, table
        assert sqlite_rows(db, table, columns) == stored, table
    columns, stored = pg_rows(pg_url, "spans", SPAN_SKIPPED)
    assert len(stored) == distinct
    assert sqlite_rows(db, "spans", columns) == stored

    # And what the stores answer from those rollups: lists, and /stats from its hour parts.
    pg, lite = open_store(StoreConfig(url=pg_url)), open_store(StoreConfig(data_dir=ref_dir))
    try:
        window = (BASE_US, BASE_US + 6 * HOUR_US)
        for project in PROJECTS:
            runs = RunQuery(project_id=project, limit=100)
            assert pg.list_runs(runs) == lite.list_runs(runs)
            threads = GroupQuery(project_id=project, limit=100)
            assert pg.list_threads(threads) == lite.list_threads(threads)
            stats = StatsFilter(project_id=project)
            assert pg.stats(stats, window, None) == lite.stats(stats, window, None)
            assert pg.list_labels(project, None, 100) == lite.list_labels(project, None, 100)
    finally:
        pg.close()
        lite.close()

    check = cli("check", "--database-url", pg_url)
    assert check.returncode == 0, check.stdout + check.stderr
