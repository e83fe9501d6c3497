"""The benchmark's table: one row per figure, one column per backend, each value marked against
its backend's target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ingest import Ingest
from reads import READS, Reads

# Per figure: (SQLite target, PostgreSQL target). SQLite's are the ones it met before the storage
# redesign (docs/benchmarks.md); PostgreSQL's are issue 9's, for a database served over a socket.
TARGET_MS: dict[str, tuple[float, float]] = {
    READS[0].name: (5.0, 5.0),
    READS[1].name: (5.0, 5.0),
    READS[2].name: (20.0, 30.0),
    READS[3].name: (30.0, 50.0),
    READS[5].name: (30.0, 30.0),
    READS[6].name: (200.0, 200.0),
    READS[7].name: (30.0, 50.0),
    READS[8].name: (30.0, 50.0),
}
TARGET_INGEST = {("sqlite", 1): 20_000.0, ("postgres", 2): 10_000.0}
TARGET_SPEEDUP = 200.0  # the two run lists against vLLora's query-time aggregation
TARGET_RSS_MB = 300.0
# Which baseline each read is compared with (run.py measures them: vLLora's SQL on SQLite).
BASELINE_OF = {
    READS[0].name: "lists",
    READS[1].name: "failed",
    READS[2].name: "stats",
    READS[3].name: "timeseries",
}


@dataclass
class Figures:
    """Everything measured for one backend."""

    name: str
    kind: str  # "sqlite" or "postgres"
    ingest: dict[int, Ingest] = field(default_factory=dict)  # by number of serve processes
    ingest_error: dict[int, str] = field(default_factory=dict)
    disk_bytes: int = 0
    disk_detail: dict[str, int] = field(default_factory=dict)
    reads: Reads | None = None
    mismatches: list[str] = field(default_factory=list)
    error: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    before: bool = False  # served by an earlier tracehound (run.py --sqlite-before)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def _ingest_cell(f: Figures, n: int) -> str:
    if n > 1 and f.kind == "sqlite":
        return "n/a: one writer per SQLite file"
    if n in f.ingest_error:
        return f"failed: {f.ingest_error[n][:60]}"
    res = f.ingest.get(n)
    if res is None:
        return "-"
    target = TARGET_INGEST.get((f.kind, n))
    rate = res.spans_per_s
    if rate is None:
        return f"{res.acked_spans_per_s:,.0f} acked/s (runs not countable)"
    return f"{rate:,.0f}/s" + (f" ({_met(rate >= target)})" if target else "")


def _read_cell(f: Figures, name: str) -> str:
    if f.reads is None:
        return "-"
    t = f.reads.timed.get(name)
    if t is None:
        return "-"
    if t.error or t.median_ms is None:
        return f"failed: {(t.error or '')[:50]}"
    cell = f"{t.median_ms:.2f} ms (p95 {t.p95_ms or 0:.1f})"
    target = TARGET_MS.get(name)
    if target:
        cell += f" {_met(t.median_ms <= target[f.kind == 'postgres'])}"
    return cell


def _speedup_cell(f: Figures, name: str, baselines: dict[str, float]) -> str:
    t = f.reads.timed.get(name) if f.reads else None
    if name == READS[6].name:
        base = f.reads.summary_baseline_ms if f.reads else None
    else:
        base = baselines.get(BASELINE_OF.get(name, ""))
    if t is None or not t.median_ms or not base:
        return "-"
    ratio = base / t.median_ms
    cell = f"{ratio:,.0f}x of {base:,.0f} ms"
    if BASELINE_OF.get(name) in ("lists", "failed"):
        cell += f" {_met(ratio >= TARGET_SPEEDUP)}"
    return cell


def _median(f: Figures, name: str) -> float | None:
    t = f.reads.timed.get(name) if f.reads else None
    return t.median_ms if t is not None else None


def _ratio(
    figure: Callable[[Figures], float | None] | None, before: Figures, now: Figures, higher_is_better: bool
) -> str:
    """How many times faster now is than before (both measured in this run)."""
    if figure is None:
        return ""
    a, b = figure(before), figure(now)
    if not a or not b:
        return "-"
    return f"{(b / a if higher_is_better else a / b):.2f}x"


def render(figures: list[Figures], spans: int, runs: int, baselines: dict[str, float]) -> str:
    header = ["Figure", *(f.name for f in figures), "Target (SQLite / PostgreSQL)"]
    rows: list[list[str]] = [header]

    before = next((f for f in figures if f.before and not f.error), None)
    now = next((f for f in figures if f.kind == "sqlite" and not f.before and not f.error), None)
    if before is not None and now is not None:
        header.append(f"SQLite: {before.name.removeprefix('SQLite at ')} -> now")

    def row(
        label: str,
        cell: Callable[[Figures], str],
        target: str = "",
        figure: Callable[[Figures], float | None] | None = None,
        higher_is_better: bool = False,
    ) -> None:
        """`figure`: the number behind the cell, for the before/now ratio (speed-up: > 1 is faster)."""
        cells = [label, *(cell(f) for f in figures), target]
        if before is not None and now is not None:
            cells.append(_ratio(figure, before, now, higher_is_better))
        rows.append(cells)

    row(
        "Ingest, 1 serve process, spans/s to queryable",
        lambda f: _ingest_cell(f, 1),
        ">= 20,000 / -",
        lambda f: f.ingest[1].spans_per_s if 1 in f.ingest else None,
        higher_is_better=True,
    )
    row("Ingest, 2 serve processes, spans/s to queryable", lambda f: _ingest_cell(f, 2), "- / >= 10,000")
    row(
        "  serve RSS while loading, max (1 process)",
        lambda f: f"{max(f.ingest[1].rss_max_mb):.0f} MB" if 1 in f.ingest else "-",
        f"<= {TARGET_RSS_MB:.0f} MB",
    )
    row(
        "  rejected spans / retried requests (1 process)",
        lambda f: f"{f.ingest[1].rejected_spans} / {f.ingest[1].retried_requests}" if 1 in f.ingest else "-",
        "0 / -",
    )
    row(
        "GET /health round trip (the HTTP floor)",
        lambda f: f"{f.reads.floor_ms:.2f} ms" if f.reads else "-",
        figure=lambda f: f.reads.floor_ms if f.reads else None,
    )
    for read in READS:
        target = TARGET_MS.get(read.name)
        row(
            read.name,
            lambda f, n=read.name: _read_cell(f, n),
            f"<= {target[0]:.0f} / {target[1]:.0f} ms" if target else "",
            lambda f, n=read.name: _median(f, n),
        )
        if read.name in BASELINE_OF or read.name == READS[6].name:
            row("  speed-up over the baseline", lambda f, n=read.name: _speedup_cell(f, n, baselines))
    row(
        "Disk per span (all tables and indexes)",
        lambda f: f"{f.disk_bytes / spans:,.0f} B" if f.disk_bytes else "-",
        figure=lambda f: f.disk_bytes or None,
    )
    row(
        "  on disk at the end of the ingest",
        lambda f: f"{f.disk_bytes / 1e6:,.0f} MB" if f.disk_bytes else "-",
    )
    row(
        "First pages equal the baseline's",
        lambda f: "yes" if not f.mismatches else f"{len(f.mismatches)} differ",
    )
    width = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, width, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in width))
    lines.insert(0, f"{spans:,} spans in {runs:,} runs, the same bodies for every backend")
    for f in figures:
        if f.error:
            lines.append(f"{f.name}: failed: {f.error}")
        for n, res in sorted(f.ingest.items()):
            if res.not_queryable:
                lines.append(
                    f"{f.name}, {n} process(es): acknowledged in {res.ack_s:.1f} s; {res.not_queryable}"
                )
        lines += [f"{f.name}: mismatch: {m}" for m in f.mismatches[:10]]
        if f.settings:
            lines.append(f"{f.name}: " + ", ".join(f"{k}={v}" for k, v in sorted(f.settings.items())))
    return "\n".join(lines)
