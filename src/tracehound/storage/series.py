"""What every backend's time-series reads share (pure Python, no SQL): which runs a series
selects, when the hour parts of /stats can answer it, and how run buckets become cells."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tracehound.storage.hourly import HOUR_US
from tracehound.storage.queries import RunQuery
from tracehound.storage.types import BucketAggregate, SeriesQuery


def run_selection(q: SeriesQuery) -> RunQuery:
    """The runs /runs lists with the series' filters (no time bounds: the reads add them)."""
    return RunQuery(
        project_id=q.project_id, thread_ids=q.thread_ids, labels=q.labels, model_name=q.model_name
    )


def on_hour_parts(q: SeriesQuery) -> bool:
    """Whether run durations by whole hours of the whole project are asked for: the parts that
    /stats keeps per hour hold exactly those (a backend with a stats cache reads them)."""
    hourly = q.interval_us % HOUR_US == 0 and q.start_us % HOUR_US == 0
    return hourly and not (q.by_model or q.thread_ids or q.labels or q.model_name)


def sum_cells(rows: Iterable[Sequence[Any]]) -> list[BucketAggregate]:
    """Rows (bucket start, sum) as cells."""
    return [BucketAggregate(None, r[0], r[1]) for r in rows]


def failed_cells(
    metric: str, rows: Iterable[Sequence[Any]], running: Mapping[int, tuple[int, int]]
) -> list[BucketAggregate]:
    """`failed_runs` or `error_rate` cells from rows (bucket start, runs with errors[, runs])
    and the running runs per bucket (how many, how many of them with errors): failed is with
    errors and not running, and a rate's denominator is the finished runs."""
    out = []
    for r in rows:
        n_running, running_with_errors = running.get(r[0], (0, 0))
        failed = r[1] - running_with_errors
        finished = r[2] - n_running if metric == "error_rate" else None
        out.append(BucketAggregate(None, r[0], failed, finished))
    return out
