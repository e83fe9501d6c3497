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
    project: str | None = options.Project,
    api_key: str | None = options.ApiKey,
    json: bool = options.Json,
) -> None:
    """Runs, success rate, cost, durations and tokens of a period (default: the last day), beside
    the period before it; cost by model; top errors."""
    answer = get(
        Source(url, data_dir, project, api_key=api_key),
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
    project: str | None = options.Project,
    api_key: str | None = options.ApiKey,
    json: bool = options.Json,
) -> None:
    """Where one run's time and money went: critical path, slowest and costliest spans, outliers."""
    answer = get(
        Source(url, data_dir, project, api_key=api_key), f"/runs/{run_id}/bottlenecks", {"limit": limit}
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
    project: str | None = options.Project,
    api_key: str | None = options.ApiKey,
    json: bool = options.Json,
) -> None:
    """A metric per time bucket, with its trend and anomalies."""
    answer = get(
        Source(url, data_dir, project, api_key=api_key),
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
    project: str | None = options.Project,
    api_key: str | None = options.ApiKey,
    json: bool = options.Json,
) -> None:
    """Summarise the spans of threads, runs or labels on the server: totals, cost, latency, models,
    tools, errors and repeated failures."""
    if not (thread or run or label):
        raise typer.BadParameter("give at least one --thread, --run or --label")
    answer = get(
        Source(url, data_dir, project, api_key=api_key),
        "/spans/summary",
        {"thread_ids": thread, "run_ids": run, "labels": label},
    )
    if json:
        return render.json_out(answer)
    scalars = [(k, render.text(v)) for k, v in answer.items() if not isinstance(v, dict | list)]
    render.show(render.pairs("Summary", scalars))
    for key, value in answer.items():
        if isinstance(value, dict) and value and all(not isinstance(v, dict | list) for v in value.values()):
            render.show(render.pairs(key, [(k, render.text(v)) for k, v in value.items()]))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            columns = [(k, k, render.text) for k in value[0]]
            render.show(render.table(key, value, columns))


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)
    app.command("bottlenecks")(bottlenecks)
    app.command("timeseries")(timeseries)
    app.command("summary")(summary)
