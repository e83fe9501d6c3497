"""The vLLora import benchmark: `tracehound import-vllora` on a generated vLLora database, beside
tracehound's own OTLP path over the same spans.

    python bench/import_vllora.py                  # 100,000 spans
    python bench/import_vllora.py --spans 20000    # a quick run

The vLLora file is the baseline's (bench/baseline.py): the benchmark dataset as vLLora stores
it, with vLLora's schema and indexes. The import runs as the command a user types, in a
subprocess whose wall time and peak RSS are measured; the same command on an empty vLLora file
gives the fixed cost (interpreter start, opening and closing the store) to subtract. Then the
same file is imported again (nothing to add), and the same spans go as OTLP protobuf bodies
through the server's decoding, mapping and writer in-process (bench/analytics.py's loader), for
the rate to compare with. Last, the imported runs are checked against the OTLP-loaded ones:
they differ only where vLLora's file lost something (an OTLP status).
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import baseline
from analytics import write_bodies
from dataset import Spec, build_bodies

from tracehound.importers import vllora_schema
from tracehound.storage.queries import RunQuery
from tracehound.storage.sqlite.store import SqliteStore


@dataclass
class Run:
    seconds: float
    max_rss_mb: float
    output: str


def import_cli(source: Path, data_dir: Path) -> Run:
    """`tracehound import-vllora` as a user runs it; peak RSS from the child's rusage."""
    t0 = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "tracehound", "import-vllora", str(source), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - t0
    assert process.stdout is not None
    output = process.stdout.read().decode().strip()
    process.stdout.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"import failed ({process.returncode}): {output}")
    return Run(seconds, usage.ru_maxrss / 1024, output)


def vllora_file(path: Path, spec: Spec | None) -> int:
    """A vLLora database of the dataset's spans, or an empty one."""
    conn = baseline.connect(path)
    try:
        if spec is None:
            conn.executescript(vllora_schema.TABLE + vllora_schema.INDEXES)
            return 0
        return baseline.load(conn, spec).rows
    finally:
        conn.close()


# vLLora has no column for a span's OTLP status (§1.2), so an error known only from a status
# (the dataset's failed SDK runs carry one on their root) cannot survive in its file.
STATUS_ONLY = frozenset({"errors", "error_count"})


def run_differences(a: Path, b: Path, limit: int = 1000) -> tuple[int, Counter[str]]:
    """Runs compared between the first pages of two stores, and per field how many differ."""
    pages = []
    for data_dir in (a, b):
        store = SqliteStore(data_dir)
        try:
            pages.append(store.list_runs(RunQuery(baseline.PROJECT, limit=limit)).rows)
        finally:
            store.close()
    fields: Counter[str] = Counter()
    for x, y in zip(*pages, strict=True):
        fields.update(k for k in x.keys() | y.keys() if x.get(k) != y.get(k))
    return len(pages[0]), fields


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    spec = Spec(spans=args.spans, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="tracehound-import-") as tmp:
        work = Path(tmp)
        rows = vllora_file(work / "vllora.db", spec)
        vllora_file(work / "empty.db", None)
        size_mb = (work / "vllora.db").stat().st_size / 1e6
        print(f"vLLora file: {rows:,} rows, {size_mb:.0f} MB")

        fixed = import_cli(work / "empty.db", work / "empty-data")
        first = import_cli(work / "vllora.db", work / "imported")
        second = import_cli(work / "vllora.db", work / "imported")
        net = first.seconds - fixed.seconds
        print(f"fixed cost (empty file): {fixed.seconds:.2f} s, peak RSS {fixed.max_rss_mb:.0f} MB")
        print(
            f"import: {first.seconds:.1f} s, {rows / first.seconds:,.0f} rows/s "
            f"({rows / net:,.0f} rows/s without the fixed cost), peak RSS {first.max_rss_mb:.0f} MB"
        )
        print(f"  {first.output.splitlines()[-1]}")
        print(f"second import: {second.seconds:.1f} s, {rows / second.seconds:,.0f} rows/s")
        print(f"  {second.output.splitlines()[-1]}")

        bodies = build_bodies(spec)
        t0 = time.perf_counter()
        write_bodies(work / "otlp", bodies.bodies)
        otlp_s = time.perf_counter() - t0
        print(
            f"OTLP protobuf, decode + map + write in-process: {otlp_s:.1f} s, "
            f"{bodies.stats.spans / otlp_s:,.0f} spans/s"
        )
        compared, fields = run_differences(work / "imported", work / "otlp")
        print(f"latest {compared:,} runs, imported vs OTLP-loaded, fields that differ: {dict(fields)}")
        if fields.keys() - STATUS_ONLY:
            return 1
        if fields:
            print("  (only errors known from an OTLP status alone, which vLLora does not store)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
