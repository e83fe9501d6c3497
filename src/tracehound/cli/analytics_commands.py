"""`tracehound stats | bottlenecks | timeseries | summary`: the analytics, as tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tracehound.cli import options, render
from tracehound.cli.render import Column
from tracehound.cli.source import Source, get

MODEL_COLUMNS: list[Column] = [
    ("Model", "model", render.text),
    ("Provider", "provider", render.text),
    ("Calls", "calls", render.count),
    ("Cost", "cost", render.cost),
    ("In tok", "input_tokens", render.count),
    ("Out tok", "output_tokens", render.count),
    ("Cached", "cached_tokens", render.count),
    ("Errors", "errors", render.count),
    ("p50", "p50_latency_ms", render.ms),
    ("p95", "p95_latency_ms", render.ms),
]
_HEADLINE: list[tuple[str, str, render.Format]] = [
    ("Runs", "total_runs", render.count),
    ("Completed", "completed_runs", render.count),
    ("Failed", "failed_runs", render.count),
    ("Running", "running_runs", render.count),
    ("Success rate", "success_rate", render.pct),
    ("Cost", "total_cost", render.cost),
    ("Avg duration", "avg_duration_ms", render.ms),
    ("p50 duration", "p50_duration_ms", render.ms),
    ("p95 duration", "p95_duration_ms", render.ms),
    ("LLM calls", "llm_calls", render.count),
    ("Input tokens", "input_tokens", render.count),
    ("Output tokens", "output_tokens", render.count),
]


def _window(period: str | None, start: str | None, end: str | None) -> dict[str, str | None]:
    return {"period": period, "start": start, "end": end}


def stats(
    period: str | None = options.Period,
    start: str | None = options.Start,
    end: str | None = options.End,
    thread: list[str] = options.Threads,
    label: list[str] = options.Labels,
    model: str | None = options.Model,
    url: str | None = options.Url,
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
    project: str | None = options.Project,
    api_key: str | None = options.ApiKey,
    json: bool = options.Json,
) -> None:
    """Runs, success rate, cost, durations and tokens of a period (default: the last day), beside
    the period before it; cost by model; top errors."""
    answer = get(
        Source(url, data_dir, project, api_key=api_key, database_url=database_url),
        "/stats",
        {**_window(period, start, end), "thread_ids": thread, "labels": label, "model_name": model},
    )
    if json:
        return render.json_out(answer)
    before = answer["previous_period"] or {}
    headline = [
        {"figure": name, "now": fmt(answer[key]), "before": fmt(before.get(key))}
        for name, key, fmt in _HEADLINE
    ]
    title = f"{render.when(answer['start_us'])} → {render.when(answer['end_us'])} UTC"
    render.show(
        render.table(
            title,
            headline,
            [
                ("", "figure", render.text),
                ("This period", "now", render.text),
                ("Before", "before", render.text),
            ],
        ),
        render.table("By model", answer["by_model"], MODEL_COLUMNS),
        render.table(
            "Top errors",
            answer["top_errors"],
            [
                ("Count", "count", render.count),
                ("Message", "message", render.text),
                ("Last run", "last_run_id", render.ident),
            ],
        ),
    )
    if answer["unpriced_models"]:
        render.show(f"[yellow]No price known for:[/] {render.text(answer['unpriced_models'])}")


def bottlenecks(
    run_id: str = typer.Argument(..., help="The run id"),
    limit: int = typer.Option(5, help="Entries per list"),
    url: str | None = options.Url,
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
    project: str | None = options.Project,
    api_key: str | None = options.ApiKey,
    json: bool = options.Json,
) -> None:
    """Where one run's time and money went: critical path, slowest and costliest spans, outliers."""
    answer = get(
        Source(url, data_dir, project, api_key=api_key, database_url=database_url),
        f"/runs/{run_id}/bottlenecks",
        {"limit": limit},
    )
    if json:
        return render.json_out(answer)
    kinds = answer["time_by_kind"]
    render.show(
        render.pairs(
            f"Run {run_id} ({answer['status']})",
            [
                ("Wall time", render.ms(answer["wall_time_ms"])),
                (
                    "LLM / tool / other",
                    " / ".join(render.ms(kinds[k]) for k in ("llm_ms", "tool_ms", "other_ms")),
                ),
                ("Parallelism", render.number(answer["parallelism"])),
            ],
        ),
        render.table(
            "Critical path",
            answer["critical_path"],
            [
                ("Span", "span_id", render.ident),
                ("Operation", "operation_name", render.text),
                ("Kind", "kind", render.text),
                ("On path", "path_ms", render.ms),
            ],
        ),
        render.table(
            "Slowest spans",
            answer["slowest_spans"],
            [
                ("Span", "span_id", render.ident),
                ("Operation", "operation_name", render.text),
                ("Duration", "duration_ms", render.ms),
                ("Self", "self_time_ms", render.ms),
                ("% of run", "percent_of_total", render.number),
            ],
        ),
        render.table(
            "Costliest spans",
            answer["expensive_spans"],
            [
                ("Span", "span_id", render.ident),
                ("Model", "model", render.text),
                ("Cost", "cost", render.cost),
                ("% of cost", "percent_of_cost", render.number),
            ],
        ),
        render.table(
            "Outliers (above the 7-day p95 of their operation and model)",
            answer["outliers"],
            [
                ("Span", "span_id", render.ident),
                ("Operation", "operation_name", render.text),
                ("Model", "model", render.text),
                ("Duration", "duration_ms", render.ms),
                ("p95", "p95_ms", render.ms),
            ],
        ),
    )


def timeseries(
    metric: str = typer.Option(
        "runs",
        help="runs, failed_runs, error_rate, cost, llm_calls, input_tokens, "
        "output_tokens, duration_p50 or duration_p95",
    ),
    interval: str = typer.Option("1h", help="1m, 5m, 15m, 1h, 6h or 1d"),
    period: str | None = options.Period,
    start: str | None = options.Start,
    end: str | None = options.End,
    group_by: str | None = typer.Option(None, "--group-by", help="model: one series per model"),
    thread: list[str] = options.Threads,
    label: list[str] = options.Labels,
    model: str | None = options.Model,
    url: str | None = options.Url,
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
    project: str | None = options.Project,
    api_key: str | None = options.ApiKey,
    json: bool = options.Json,
) -> None:
    """A metric per time bucket, with its trend and anomalies."""
    answer = get(
        Source(url, data_dir, project, api_key=api_key, database_url=database_url),
        "/metrics/timeseries",
        {
            "metric": metric,
            "interval": interval,
            **_window(period, start, end),
            "group_by": group_by,
            "thread_ids": thread,
            "labels": label,
            "model_name": model,
        },
    )
    if json:
        return render.json_out(answer)
    for series in answer.get("series") or [answer]:
        _series(metric, series)


def _series(metric: str, series: dict[str, Any]) -> None:
    anomalous = {a["start_time_us"]: a["score"] for a in series["anomalies"]}
    values = [b["value"] for b in series["buckets"] if b["value"] is not None]
    top = max(values, default=0) or 1
    rows = [
        {
            "start": b["start_time_us"],
            "value": b["value"],
            "bar": "█" * round(20 * (b["value"] or 0) / top),
            "flag": f"anomaly ({anomalous[b['start_time_us']]:.1f})"
            if b["start_time_us"] in anomalous
            else "",
        }
        for b in series["buckets"]
    ]
    trend = series["trend"]
    title = f"{metric}" + (f" — {series['key']}" if "key" in series else "")
    render.show(
        render.table(
            title,
            rows,
            [
                ("Bucket (UTC)", "start", render.when),
                ("Value", "value", render.number),
                ("", "bar", render.text),
                ("", "flag", render.text),
            ],
        ),
        f"Trend: [bold]{trend['direction']}[/] (slope {render.number(trend['slope_per_interval'])} per "
        f"interval, change {render.pct(trend['relative_change'])})",
    )


def summary(
    thread: list[str] = options.Threads,
    run: list[str] = typer.Option(None, "--run", help="Run id (repeatable)"),
    label: list[str] = options.Labels,
    url: str | None = options.Url,
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
    project: str | None = options.Project,
    api_key: str | None = options.ApiKey,
    json: bool = options.Json,
) -> None:
    """Summarise the spans of threads, runs or labels on the server: totals, cost, latency, models,
    tools, errors and repeated failures."""
    if not (thread or run or label):
        raise typer.BadParameter("give at least one --thread, --run or --label")
    answer = get(
        Source(url, data_dir, project, api_key=api_key, database_url=database_url),
        "/spans/summary",
        {"thread_ids": thread, "run_ids": run, "labels": label},
    )
    if json:
        return render.json_out(answer)
    _summary(answer)


def _summary(a: dict[str, Any]) -> None:
    latency, ttft, status = a["latency"], a["ttft"], a["by_status"]
    render.show(
        render.pairs(
            "Summary",
            [
                ("Spans / runs", f"{a['total_spans']:,} / {a['run_count']:,}"),
                (
                    "From - to (UTC)",
                    f"{render.when(a['start_time_us'])} - {render.when(a['finish_time_us'])}",
                ),
                ("Busy time", render.ms(a["total_duration_ms"])),
                ("OK / errors", f"{status['success']:,} / {status['error']:,}"),
                ("LLM calls", render.count(a["llm_calls"])),
                ("Cost", render.cost(a["total_cost"])),
                (
                    "Tokens in / out / cached",
                    " / ".join(
                        render.count(a[k])
                        for k in ("total_input_tokens", "total_output_tokens", "total_cached_tokens")
                    ),
                ),
                ("Cache hit rate", "—" if a["cache_hit_rate"] is None else f"{a['cache_hit_rate']:.2f}%"),
                (
                    "LLM latency p50 / p95 / p99 / max",
                    " / ".join(render.ms(latency[k]) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")),
                ),
                (
                    "TTFT p50 / p95 / avg",
                    " / ".join(render.ms(ttft[k]) for k in ("p50_ms", "p95_ms", "avg_ms")),
                ),
            ],
        ),
        render.table("By model", a["model_breakdown"], MODEL_COLUMNS),
        render.table(
            "Tools",
            a["tool_usage"],
            [
                ("Tool", "name", render.text),
                ("Calls", "count", render.count),
                ("Errors", "errors", render.count),
            ],
        ),
    )
    lists: list[tuple[str, str, list[Column]]] = [
        (
            "Error spans",
            "error_spans",
            [
                ("Span", "span_id", render.ident),
                ("Operation", "operation_name", render.text),
                ("Error", "error_message", render.text),
            ],
        ),
        (
            "Semantic errors (in outputs that did not fail)",
            "semantic_error_spans",
            [
                ("Span", "span_id", render.ident),
                ("Operation", "operation_name", render.text),
                ("Severity", "severity", render.count),
                ("Pattern", "detected_pattern", render.text),
                ("Text", "snippet", render.text),
            ],
        ),
        (
            "Tool call errors",
            "tool_call_errors",
            [
                ("Span", "span_id", render.ident),
                ("Tool", "tool_name", render.text),
                ("Message", "message", render.text),
            ],
        ),
        (
            "Repeated failures",
            "repeated_failures",
            [("Type", "type", render.text), ("Name", "name", render.text), ("Count", "count", render.count)],
        ),
        (
            "Slowest spans",
            "slowest_spans",
            [
                ("Span", "span_id", render.ident),
                ("Operation", "operation_name", render.text),
                ("Model", "model", render.text),
                ("Duration", "duration_ms", render.ms),
            ],
        ),
        (
            "Costliest spans",
            "expensive_spans",
            [
                ("Span", "span_id", render.ident),
                ("Operation", "operation_name", render.text),
                ("Model", "model", render.text),
                ("Cost", "cost", render.cost),
            ],
        ),
    ]
    for title, key, columns in lists:
        if a[key]:
            cut = " (first of more)" if a["truncated"].get(key) else ""
            render.show(render.table(title + cut, a[key], columns))


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)
    app.command("bottlenecks")(bottlenecks)
    app.command("timeseries")(timeseries)
    app.command("summary")(summary)
