"""The baseline: vLLora's way of listing runs, over the same spans the benchmark sends to tracehound.

A SQLite `traces` table with vLLora's exact schema and indexes (UUID trace ids, decimal span ids,
attribute JSON text without the promoted `vllora.*` keys), and vLLora's `GET /runs` SQL: group all
of a project's spans by run_id and aggregate them with `json_extract` on every request. The
`status=failed` variant, which vLLora does not have, is done the same query-time way: the runs that
have a span with an `error` attribute.

    python bench/baseline.py --spans 20000
"""

from __future__ import annotations

import argparse
import functools
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dataset import Row, Spec, iter_runs, vllora_row

from tracehound.importers import vllora_schema

PROJECT = "default"

# vLLora's list_root_runs: every filter sits in the inner WHERE, the aggregates run over all of
# the project's spans, then the groups are sorted by their earliest start.
_FILTERS = "run_id IS NOT NULL AND project_id = :project"
_AGGREGATE = f"""
SELECT run_id,
    GROUP_CONCAT(DISTINCT thread_id) AS thread_ids,
    GROUP_CONCAT(DISTINCT CASE WHEN parent_span_id IS NULL THEN trace_id END) AS trace_ids,
    GROUP_CONCAT(DISTINCT CASE WHEN parent_span_id IS NULL THEN span_id END) AS root_span_ids,
    GROUP_CONCAT(DISTINCT CASE WHEN operation_name = 'api_invoke'
        THEN json_extract(json_extract(attribute, '$.request'), '$.model') END) AS request_models,
    GROUP_CONCAT(DISTINCT CASE WHEN operation_name = 'model_call'
        THEN json_extract(attribute, '$.model_name') END) AS used_models,
    SUM(CASE WHEN operation_name = 'model_call' THEN 1 ELSE 0 END) AS llm_calls,
    SUM(CASE WHEN operation_name = 'api_invoke'
        THEN COALESCE(CAST(json_extract(attribute, '$.cost') AS REAL), 0) ELSE 0 END) AS cost,
    SUM(CASE WHEN operation_name = 'api_invoke'
        THEN json_extract(json_extract(attribute, '$.usage'), '$.input_tokens') END) AS input_tokens,
    SUM(CASE WHEN operation_name = 'api_invoke'
        THEN json_extract(json_extract(attribute, '$.usage'), '$.output_tokens') END) AS output_tokens,
    MIN(start_time_us) AS start_time_us,
    MAX(finish_time_us) AS finish_time_us,
    GROUP_CONCAT(DISTINCT json_extract(attribute, '$.error')) AS errors
FROM traces
WHERE {_FILTERS} AND run_id IN (SELECT DISTINCT run_id FROM traces WHERE {_FILTERS})
GROUP BY run_id
"""
LIST_RUNS = _AGGREGATE + "ORDER BY start_time_us DESC LIMIT :limit OFFSET :offset"
# vLLora's count_root_runs, which gives `pagination.total`.
COUNT_RUNS = f"SELECT COUNT(DISTINCT run_id) FROM traces WHERE {_FILTERS} AND parent_span_id IS NULL"
LIST_FAILED = (
    _AGGREGATE + "HAVING COUNT(json_extract(attribute, '$.error')) > 0 "
    "ORDER BY start_time_us DESC LIMIT :limit OFFSET :offset"
)
COUNT_FAILED = f"""
SELECT COUNT(*) FROM (
    SELECT run_id FROM traces WHERE {_FILTERS}
    GROUP BY run_id HAVING COUNT(json_extract(attribute, '$.error')) > 0)
"""


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    # vLLora's connection settings.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _rows(spec: Spec) -> Iterator[Row]:
    for run in iter_runs(spec):
        for span in run:
            yield vllora_row(span, PROJECT)


@dataclass
class Loaded:
    rows: int
    seconds: float


def load(conn: sqlite3.Connection, spec: Spec) -> Loaded:
    """Create the table and insert the dataset's spans; the indexes come after the rows, which
    gives the same database faster than vLLora's row-by-row inserts would."""
    t0 = time.perf_counter()
    conn.executescript(vllora_schema.TABLE)
    with conn:
        conn.executemany(vllora_schema.INSERT, _rows(spec))
    conn.executescript(vllora_schema.INDEXES)
    (rows,) = conn.execute("SELECT COUNT(*) FROM traces").fetchone()
    return Loaded(rows, time.perf_counter() - t0)


@dataclass
class Page:
    rows: list[tuple[object, ...]]
    total: int


def list_runs(conn: sqlite3.Connection, *, failed: bool = False, limit: int = 50, offset: int = 0) -> Page:
    """One `GET /runs` as vLLora answers it: the page query, then the count query."""
    params = {"project": PROJECT, "limit": limit, "offset": offset}
    rows = conn.execute(LIST_FAILED if failed else LIST_RUNS, params).fetchall()
    (total,) = conn.execute(COUNT_FAILED if failed else COUNT_RUNS, params).fetchone()
    return Page(rows, total)


def median_ms(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tracehound-baseline-") as tmp:
        conn = connect(Path(tmp) / "vllora.db")
        loaded = load(conn, Spec(spans=args.spans, seed=args.seed))
        print(f"loaded {loaded.rows} rows in {loaded.seconds:.1f} s")
        for failed in (False, True):
            page = list_runs(conn, failed=failed)
            med, times = median_ms(functools.partial(list_runs, conn, failed=failed), args.repeats)
            name = "/runs?status=failed&limit=50" if failed else "/runs?limit=50"
            print(
                f"{name}: {len(page.rows)} rows of {page.total}, median {med:.1f} ms "
                f"over {args.repeats} ({', '.join(f'{t:.0f}' for t in times)})"
            )
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
