"""The tracehound benchmark: end-to-end OTLP/HTTP ingest of ~1M vLLora-shaped spans into SQLite
and into PostgreSQL, in one run on the same request bodies, then the reads (run lists, /stats,
the time series, bottlenecks, the span summary) against vLLora's query-time aggregation (the
baseline), measured in the same run.

    python bench/run.py                          # 1,000,000 spans, SQLite and PostgreSQL
    python bench/run.py --spans 50000            # a quick run
    python bench/run.py --database-url postgresql://u:p@host/db   # an existing PostgreSQL server
    python bench/run.py --backends sqlite        # one backend only

Per backend: a fresh store, `tracehound serve` on free loopback ports, every body sent from
several threads; the clock stops when the last body is acknowledged and `GET /runs` counts every
run. On PostgreSQL the ingest is timed again into a second fresh database through two `serve`
processes (a round-robin load balancer's split). SQLite allows one writer per file, so it has no
two-process figure. Without --database-url a throwaway PostgreSQL server is started
(tests/pgserver.py) and stopped at the end; with it, scratch databases are created beside the
URL's database and dropped. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import analytics
import baseline
import harness
import reads
from dataset import Spec, build_bodies
from ingest import timed_ingest
from report import Figures, render

DAY_US = 86_400 * 1_000_000
ROOT = Path(__file__).resolve().parent.parent


def _create_key(
    data_dir: Path, database_url: str | None, env: dict[str, str] | None = None
) -> dict[str, str]:
    """An all-projects API key in the store (so the server checks every request), as the headers
    that send it."""
    done = subprocess.run(
        [sys.executable, "-m", "tracehound", "keys", "create", "--all-projects", "--data-dir", str(data_dir)]
        + (["--database-url", database_url] if database_url else []),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return {"authorization": f"Bearer {done.stdout.splitlines()[-1]}"}


def _compare(pages: dict[str, list[dict[str, Any]]], conn: sqlite3.Connection, res: Figures) -> None:
    """tracehound's numbers on vLLora-shaped data must equal vLLora's: compare the first pages."""
    for name, failed in (("latest 50", False), ("failed, latest 50", True)):
        ours = pages[name]
        theirs = baseline.list_runs(conn, failed=failed).rows
        if [r["run_id"] for r in ours] != [row[0] for row in theirs]:
            res.mismatches.append(f"{name}: run ids or order differ from the baseline")
            continue
        for run, row in zip(ours, theirs, strict=True):
            llm_calls, cost, tokens_in = row[6], row[7], row[8]
            if (
                run.get("llm_calls") != llm_calls
                or run.get("input_tokens") != tokens_in
                or abs(float(run.get("cost") or 0) - float(str(cost))) > 1e-9
            ):
                res.mismatches.append(
                    f"{name}: run {run['run_id']}: ours llm_calls={run.get('llm_calls')} "
                    f"cost={run.get('cost')} input_tokens={run.get('input_tokens')}, "
                    f"baseline {llm_calls} {cost} {tokens_in}"
                )


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.deadline = time.monotonic() + args.budget_s
        self.spec = Spec(spans=args.spans, seed=args.seed, batch_spans=args.batch_spans)
        self.pg: Any = None

    def store(self, kind: str, label: str) -> tuple[Path, str | None]:
        """A fresh store: (the server's work directory, the database URL or None for SQLite)."""
        path = self.work / label
        return path, (self.pg.fresh(label) if kind == "postgres" else None)

    def disk(self, kind: str, path: Path, url: str | None, f: Figures) -> None:
        if url is None:
            f.disk_bytes = sum(p.stat().st_size for p in (path / "db").rglob("*") if p.is_file())
        else:
            import pg

            f.disk_detail = pg.disk_bytes(url)
            f.disk_bytes = f.disk_detail["tables"]

    def measure(
        self, kind: str, name: str, bodies: Any, extras: reads.Extras, base: Any, src: Path | None = None
    ) -> Figures:
        """One backend's figures; `src`: another tracehound's sources to serve with (SQLite)."""
        args, f = self.args, Figures(name, kind, before=src is not None)
        env = {"PYTHONPATH": str(src)} if src is not None else None
        stats = bodies.stats
        path, url = self.store(kind, "sqlite-before" if src is not None else "one")
        auth = _create_key(path / "db", url, env) if args.api_key else {}
        print(f"{name}: sending {len(bodies.bodies)} bodies to one serve process ...", flush=True)
        with harness.server(path, self.deadline, headers=auth, database_url=url, env=env) as running:
            f.ingest[1] = timed_ingest(
                bodies.bodies, stats.spans, stats.runs, [running], args.senders, self.deadline, auth
            )
            self.disk(kind, path, url, f)
            try:
                _compare(reads.first_pages(running, auth), base, f)
            except harness.BenchError as exc:
                f.mismatches.append(f"first pages not read: {exc}")
            print(f"{name}: sending the long run and the summary thread ...", flush=True)
            reads.send_extras(running, extras, self.deadline, auth)
            if url is not None:
                import pg

                pg.vacuum_analyze(url)
            print(f"{name}: timing the reads ...", flush=True)
            f.reads = reads.time_reads(running, args.requests, auth, args.baseline_repeats)
        if url is not None:
            self.pg.drop(url)
            f.settings = dict(self.pg.settings)
            path, url = self.store(kind, "two")
            auth = _create_key(path / "db", url) if args.api_key else {}
            print(f"{name}: sending the same bodies to two serve processes ...", flush=True)
            with (
                harness.server(path / "a", self.deadline, headers=auth, database_url=url) as a,
                harness.server(path / "b", self.deadline, headers=auth, database_url=url) as b,
            ):
                f.ingest[2] = timed_ingest(
                    bodies.bodies, stats.spans, stats.runs, [a, b], args.senders, self.deadline, auth
                )
            self.pg.drop(url)
        return f


def _sources_of(rev: str, work: Path) -> Path:
    """The src/ directory of tracehound at git revision `rev`, unpacked under `work`."""
    dest = work / "before"
    dest.mkdir()
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    except subprocess.CalledProcessError as exc:
        raise harness.BenchError(f"--sqlite-before {rev}: {(exc.stderr or b'').decode()[:200]}") from None
    return dest / "src"


def _baselines(conn: sqlite3.Connection, repeats: int) -> dict[str, float]:
    now_us = time.time_ns() // 1000
    out = {}
    for name, fn in (
        ("lists", functools.partial(baseline.list_runs, conn, failed=False)),
        ("failed", functools.partial(baseline.list_runs, conn, failed=True)),
        ("stats", functools.partial(analytics.baseline_stats, conn, now_us - DAY_US)),
        ("timeseries", functools.partial(analytics.baseline_timeseries, conn, now_us - 7 * DAY_US)),
    ):
        out[name], _ = baseline.median_ms(fn, repeats)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--senders", type=int, default=4, help="concurrent OTLP/HTTP senders")
    parser.add_argument("--batch-spans", type=int, default=2000, help="spans per request body")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per run list")
    parser.add_argument("--baseline-repeats", type=int, default=5)
    parser.add_argument("--thread-spans", type=int, default=10_000, help="spans of the summary's thread")
    parser.add_argument("--big-run-spans", type=int, default=2000, help="spans of the bottleneck run")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TRACEHOUND_BENCH_DATABASE_URL"),
        help="a PostgreSQL server to benchmark (its role needs CREATEDB: scratch databases are "
        "created beside this one and dropped); default: a throwaway server of our own",
    )
    parser.add_argument(
        "--sqlite-before",
        metavar="REV",
        help="also time SQLite served by tracehound at this git revision (its src/, unpacked), on "
        "the same bodies, before the current code: the 'before' of a change, with ratios",
    )
    parser.add_argument("--budget-s", type=float, default=3600, help="give up after this long")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--keep", action="store_true", help="keep the data directory (and the scratch databases)"
    )
    parser.add_argument(
        "--api-key", action="store_true", help="create an API key first and send it with every request"
    )
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.backends.split(",") if k.strip()]
    if not kinds or set(kinds) - {"sqlite", "postgres"}:
        parser.error("--backends takes sqlite, postgres or both")
    work = Path(tempfile.mkdtemp(prefix="tracehound-bench-"))
    bench = Bench(args, work)
    figures: list[Figures] = []
    try:
        print(f"building {args.spans:,} spans ...", flush=True)
        bodies = build_bodies(bench.spec)
        extras = reads.build_extras(args.thread_spans, args.big_run_spans)
        print("loading the baseline (vLLora's schema, untimed) ...", flush=True)
        base = baseline.connect(work / "vllora.db")
        baseline.load(base, bench.spec)
        if "postgres" in kinds:
            import pg

            bench.pg = pg.Postgres(args.database_url, keep=args.keep)
            print(f"PostgreSQL: {bench.pg.where}", flush=True)
        runs: list[tuple[str, str, Path | None]] = []
        if args.sqlite_before:
            runs.append(("sqlite", f"SQLite at {args.sqlite_before}", _sources_of(args.sqlite_before, work)))
        runs += [(k, {"sqlite": "SQLite", "postgres": "PostgreSQL"}[k], None) for k in kinds]
        for kind, name, src in runs:
            try:
                figures.append(bench.measure(kind, name, bodies, extras, base, src))
            except harness.BenchError as exc:
                figures.append(Figures(name, kind, error=str(exc), before=src is not None))
        del bodies
        print("timing the baseline's queries ...", flush=True)
        baselines = _baselines(base, args.baseline_repeats)
        base.close()
    except harness.BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if bench.pg is not None:
            bench.pg.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"data kept in {work}")
    spec_stats = build_bodies(bench.spec).stats
    print(render(figures, spec_stats.spans, spec_stats.runs, baselines))
    if args.json:
        args.json.write_text(
            json.dumps({"baselines": baselines, "figures": [asdict(f) for f in figures]}, indent=2)
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")  # the server inherits it: a full log if it crashes
    sys.exit(main())
