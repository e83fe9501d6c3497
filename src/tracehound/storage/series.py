"""What every backend's time-series reads share (pure Python, no SQL): which runs a series
selects, when the hour parts of /stats can answer it, and how run buckets become cells."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

from tracehound.storage.hourly import HOUR_US
from tracehound.storage.queries import RunQuery
from tracehound.storage.stats_hours import ModelCell
from tracehound.storage.types import BucketAggregate, BucketValues, SeriesQuery


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


def on_span_hours(q: SeriesQuery) -> bool:
    """Whether a series by model of the whole project by whole hours is asked for: the spans
    parts /stats keeps per hour (LLM calls and counted usage by model) hold exactly those."""
    hourly = q.interval_us % HOUR_US == 0 and q.start_us % HOUR_US == 0
    return hourly and q.by_model and not (q.thread_ids or q.labels or q.model_name)


# Per metric over spans: the index in ModelSums.billed of a usage sum, or None for LLM calls.
_BILLED_AT: dict[str, int | None] = {
    "llm_calls": None,
    "error_rate": None,
    "duration": None,
    "cost": 1,
    "input_tokens": 2,
    "output_tokens": 3,
}


def model_aggregates(metric: str, cells: Iterable[ModelCell]) -> list[BucketAggregate]:
    """Cells by model from hour parts, as the span reads give them: a model's cell exists when
    it has LLM calls (call metrics) or counted spans (usage metrics) in the bucket."""
    at = _BILLED_AT[metric]
    out = []
    for model, bucket, sums in cells:
        if at is None:
            if sums.calls:
                if metric == "error_rate":
                    out.append(BucketAggregate(model, bucket, sums.errors, sums.calls))
                else:
                    out.append(BucketAggregate(model, bucket, sums.calls))
        elif sums.billed[0]:
            total = sums.billed[at]
            out.append(BucketAggregate(model, bucket, float(total) if at == 1 else int(total)))
    return out


def model_values(cells: Iterable[ModelCell]) -> list[BucketValues]:
    """LLM-call durations by model and bucket from hour parts."""
    return [
        BucketValues(model, bucket, list(chain.from_iterable(sums.durations)))
        for model, bucket, sums in cells
        if sums.calls
    ]


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
