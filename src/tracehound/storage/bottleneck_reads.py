"""What every backend's bottleneck reads share (pure Python, no SQL): the run's timings record
and the sampling of recent durations per (operation, model) over a backend's two walks."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tracehound.storage.status import DbRow, run_status
from tracehound.storage.types import OpModel, RunTimings, SpanTiming


def run_timings_record(
    run_id: str, row: DbRow, cutoff_us: int, spans: list[SpanTiming], truncated: bool
) -> RunTimings:
    return RunTimings(
        run_id=run_id,
        status=run_status(row, cutoff_us),
        span_count=int(row["span_count"]),
        start_us=int(row["start_time_us"]),
        finish_us=int(row["finish_time_us"]),
        cost=float(row["cost"]),
        spans=spans,
        truncated=truncated,
    )


def sample_durations(
    pairs: Iterable[OpModel],
    max_sample: int,
    of_model: Callable[[str, str | None], Iterable[int]],
    of_operation: Callable[[str], Iterable[tuple[str | None, int]]],
) -> dict[OpModel, list[int]]:
    """Durations (ascending) per pair: `of_model(op, model)` walks the operation's recent spans
    for one model, `of_operation(op)` walks them for all (model, duration); one walk serves all
    the models wanted of an operation, each keeping its `max_sample` most recent."""
    models: dict[str, list[str | None]] = {}
    for op, model in pairs:
        models.setdefault(op, []).append(model)
    out: dict[OpModel, list[int]] = {}
    for op, wanted in models.items():
        if len(wanted) == 1:
            out[(op, wanted[0])] = sorted(of_model(op, wanted[0]))
            continue
        found: dict[str | None, list[int]] = {m: [] for m in wanted}
        for model, d in of_operation(op):
            durations = found.get(model)
            if durations is not None and len(durations) < max_sample:
                durations.append(d)
        for model, durations in found.items():
            out[(op, model)] = sorted(durations)
    return out
