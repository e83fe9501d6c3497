"""SQLite reads before and after a change, on one store, at the same moments: the same spans are
written once (in-process, by the current code) and copied, then `tracehound serve` runs on each
copy, one with the sources of an earlier git revision, and every endpoint is asked of both in
turn, request by request, so that whatever else the machine runs weighs on both alike.

    python bench/before_after.py                          # 1,000,000 spans, against 18e2b16
    python bench/before_after.py --spans 100000 --rev HEAD~3

Both revisions must open the same SQLite schema (the current code writes the store). Reports per
endpoint the median wall time and the server's mean CPU time a request, and before/now (> 1: now
is faster). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
from analytics import cpu_s, write_bodies
from dataset import Spec, build_bodies

ROOT = Path(__file__).resolve().parent.parent
PATHS = (
    "/health",
    "/runs?limit=50",
    "/runs?status=failed&limit=50",
    "/stats?period=last_day",
    "/metrics/timeseries?metric=cost&interval=1h&period=last_week",
    "/metrics/timeseries?metric=duration_p95&interval=1h&period=last_week",
    "/metrics/timeseries?metric=cost&interval=1h&period=last_week&group_by=model",
    "/metrics/timeseries?metric=duration_p95&interval=1h&period=last_week&group_by=model",
)
WARMUP = 5


def _sources(rev: str, dest: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True)
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest / "src"


def _ask(conn: http.client.HTTPConnection, pid: int, path: str) -> tuple[float, float]:
    c0, t0 = cpu_s(pid), time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise harness.BenchError(f"GET {path}: HTTP {response.status}")
    return (time.perf_counter() - t0) * 1000, (cpu_s(pid) - c0) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--rev", default="18e2b16", help="the 'before' git revision")
    parser.add_argument("--requests", type=int, default=60, help="per endpoint and side")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tracehound-ab-"))
    try:
        src = _sources(args.rev, work / "src")
        print(f"writing {args.spans:,} spans ...", flush=True)
        write_bodies(work / "now" / "db", build_bodies(Spec(spans=args.spans)).bodies)
        shutil.copytree(work / "now", work / "before")
        deadline = time.monotonic() + 1800
        with (
            harness.server(work / "before", deadline, env={"PYTHONPATH": str(src)}) as before,
            harness.server(work / "now", deadline) as now,
        ):
            sides = {
                name: (http.client.HTTPConnection("127.0.0.1", int(r.api.rsplit(":", 1)[1]), timeout=120), r)
                for name, r in (("before", before), ("now", now))
            }
            print(f"{'endpoint':78} {args.rev + ': median, CPU':>24} {'now: median, CPU':>24}  before/now")
            for path in PATHS:
                wall: dict[str, list[float]] = {"before": [], "now": []}
                cpu: dict[str, list[float]] = {"before": [], "now": []}
                for i in range(WARMUP + args.requests):
                    for name in ("before", "now") if i % 2 else ("now", "before"):
                        conn, running = sides[name]
                        w, c = _ask(conn, running.process.pid, path)
                        if i >= WARMUP:
                            wall[name].append(w)
                            cpu[name].append(c)
                med = {n: statistics.median(wall[n]) for n in wall}
                cells = [f"{med[n]:8.2f} ms, {statistics.mean(cpu[n]):6.2f} ms" for n in ("before", "now")]
                ratio = med["before"] / med["now"]
                print(f"{path:78} {cells[0]:>24} {cells[1]:>24}  {ratio:.2f}x", flush=True)
    except (harness.BenchError, subprocess.CalledProcessError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
