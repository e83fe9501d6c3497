"""`tracehound runs | run | spans | summary`: lists and single runs. Each command is one API
request (so the same answer as the REST endpoint), printed as tables or, with --json, as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.tree import Tree

from tracehound.cli import analytics_commands, options, render
from tracehound.cli.render import Column
from tracehound.cli.source import Source, get

RUN_COLUMNS: list[Column] = [
    ("Run ID", "run_id", render.ident),
    ("Status", "status", render.status),
    ("Start (UTC)", "start_time_us", render.when),
    ("Duration", "duration_ms", render.ms),
    ("Spans", "span_count", render.count),
    ("LLM", "llm_calls", render.count),
    ("Cost", "cost", render.cost),
    ("Errors", "error_count", render.count),
]
SPAN_COLUMNS: list[Column] = [
    ("Span ID", "span_id", render.ident),
    ("Operation", "operation_name", render.text),
    ("Status", "status", render.status),
    ("Start (UTC)", "start_time_us", render.when),
    ("Duration", "duration_ms", render.ms),
    ("Model", "model", render.text),
    ("Run ID", "run_id", render.ident),
]


def _with_status(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**s, "status": "error" if s["is_error"] else "ok"} for s in spans]


def runs(
    status: list[str] = typer.Option(None, "--status", help="running, completed or failed (repeatable)"),
    period: str | None = options.Period,
    thread: list[str] = options.Threads,
    label: list[str] = options.Labels,
    model: str | None = options.Model,
    min_duration_ms: float | None = typer.Option(None, help="Runs lasting at least this long"),
    min_cost: float | None = typer.Option(None, help="Runs costing at least this much"),
    sort_by: str = typer.Option("start_time", help="start_time, duration, cost or llm_calls"),
    order: str = typer.Option("desc", help="asc or desc"),
    limit: int = typer.Option(20, help="Runs to show"),
    offset: int = typer.Option(0, help="Runs to skip"),
    url: str | None = options.Url,
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
    project: str | None = options.Project,
    api_key: str | None = options.ApiKey,
    json: bool = options.Json,
) -> None:
    """List runs, newest first, with their status, duration, cost and errors."""
    answer = get(
        Source(url, data_dir, project, api_key=api_key, database_url=database_url),
        "/runs",
        {
            "status": status,
            "period": period,
            "thread_ids": thread,
            "labels": label,
            "model_name": model,
            "min_duration_ms": min_duration_ms,
            "min_cost": min_cost,
            "sort_by": sort_by,
            "order": order,
            "limit": limit,
            "offset": offset,
        },
    )
    if json:
        return render.json_out(answer)
    render.show(render.table(None, answer["data"], RUN_COLUMNS))
    render.footer(answer["pagination"], len(answer["data"]))


def run(
    run_id: str = typer.Argument(..., help="The run id"),
    spans: int = typer.Option(200, "--spans", help="Spans of the tree to show"),
    url: str | None = options.Url,
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
    project: str | None = options.Project,
    api_key: str | None = options.ApiKey,
    json: bool = options.Json,
) -> None:
    """One run: its figures, cost by model and span tree."""
    src = Source(url, data_dir, project, api_key=api_key, database_url=database_url)
    details = get(src, f"/runs/{run_id}/details")
    page = get(src, f"/runs/{run_id}", {"limit": spans})
    if json:
        return render.json_out({**details, "spans": page})
    render.show(
        render.pairs(
            f"Run {run_id}",
            [
                ("Status", render.status(details["status"])),
                ("Start (UTC)", render.when(details["start_time_us"])),
                ("Duration", render.ms(details["duration_ms"])),
                ("Spans", render.count(details["span_count"])),
                ("LLM calls", render.count(details["llm_calls"])),
                ("Tool calls", render.count(details["tool_calls"])),
                ("Cost", render.cost(details["cost"])),
                (
                    "Tokens in / out / cached",
                    " / ".join(
                        render.count(details[k]) for k in ("input_tokens", "output_tokens", "cached_tokens")
                    ),
                ),
                ("Threads", render.text(details["thread_ids"])),
                ("Labels", render.text(details["labels"])),
                ("Errors", render.text(details["errors"])),
            ],
        ),
        render.table("Cost by model", details["by_model"], analytics_commands.MODEL_COLUMNS),
        _tree(run_id, _with_status(page["data"])),
    )
    if page["pagination"]["total"] > len(page["data"]):
        render.footer(page["pagination"], len(page["data"]))


def _tree(run_id: str, spans: list[dict[str, Any]]) -> Tree:
    tree = Tree(f"[bold]Spans of {run_id}[/]")
    nodes: dict[str, Tree] = {}
    for s in spans:  # oldest first, so a parent is placed before its children
        label = (
            f"{s['operation_name']} [dim]{s['span_id']}[/] {render.ms(s['duration_ms'])} "
            f"{render.status(s['status'])}"
        )
        if s["model"]:
            label += f" [cyan]{s['model']}[/]"
        if s["error_message"]:
            label += f" [red]{s['error_message']}[/]"
        parent = nodes.get(s["parent_span_id"] or "", tree)
        nodes[s["span_id"]] = parent.add(label)
    return tree


def spans(
    run: list[str] = typer.Option(None, "--run", help="Run id (repeatable)"),
    thread: list[str] = options.Threads,
    trace: list[str] = typer.Option(None, "--trace", help="Trace id (repeatable)"),
    operation: list[str] = typer.Option(None, "--operation", help="Operation name (repeatable)"),
    label: list[str] = options.Labels,
    status: str | None = typer.Option(None, "--status", help="ok or error"),
    model: str | None = options.Model,
    text: str | None = typer.Option(None, "--text", help="Text the span's attributes contain"),
    sort_by: str = typer.Option("start_time", help="start_time, finish_time, duration or cost"),
    order: str = typer.Option("desc", help="asc or desc"),
    limit: int = typer.Option(20, help="Spans to show"),
    offset: int = typer.Option(0, help="Spans to skip"),
    url: str | None = options.Url,
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
    project: str | None = options.Project,
    api_key: str | None = options.ApiKey,
    json: bool = options.Json,
) -> None:
    """List spans matching every filter."""
    answer = get(
        Source(url, data_dir, project, api_key=api_key, database_url=database_url),
        "/spans",
        {
            "run_ids": run,
            "thread_ids": thread,
            "trace_ids": trace,
            "operation_names": operation,
            "labels": label,
            "status": status,
            "model_name": model,
            "text": text,
            "sort_by": sort_by,
            "order": order,
            "limit": limit,
            "offset": offset,
        },
    )
    if json:
        return render.json_out(answer)
    render.show(render.table(None, _with_status(answer["data"]), SPAN_COLUMNS))
    render.footer(answer["pagination"], len(answer["data"]))


def register(app: typer.Typer) -> None:
    app.command("runs")(runs)
    app.command("run")(run)
    app.command("spans")(spans)
    analytics_commands.register(app)
