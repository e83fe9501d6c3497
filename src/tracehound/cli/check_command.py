"""`tracehound check [--repair]`: do the rollups agree with the spans?"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tracehound.cli import options, render
from tracehound.cli.source import err_console, fail, store_config


def check_command(
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
    repair: bool = typer.Option(
        False, "--repair", help="Replace mismatching rollups with the ones the spans imply (stop serve first)"
    ),
) -> None:
    """Recompute every run, thread and project rollup from the stored spans and report any
    mismatch; exit 1 when there is one (and --repair was not given)."""
    from tracehound.storage import backend_for
    from tracehound.storage.errors import StoreError, StoreLocked

    columns = (TextColumn("replaying spans"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(
            *columns, console=err_console, transient=True, disable=not err_console.is_terminal
        ) as bar:
            task = bar.add_task("spans", total=None)
            config = store_config(data_dir, database_url)
            report = backend_for(database_url).check(
                config,
                repair=repair,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except StoreLocked:
        raise fail(f"{data_dir} is in use by a running tracehound: stop it to --repair", 2) from None
    except StoreError as exc:
        raise fail(str(exc), 2) from None
    rows = [
        {
            "table": t.table,
            "missing": t.missing,
            "extra": t.extra,
            "different": t.different,
            "skipped": t.skipped,
        }
        for t in report.tables
    ]
    render.show(
        render.table(
            f"{report.spans:,} spans replayed",
            rows,
            [
                ("Table", "table", render.text),
                ("Missing", "missing", render.count),
                ("Extra", "extra", render.count),
                ("Different", "different", render.count),
                ("Not checked (retention)", "skipped", render.count),
            ],
        )
    )
    for t in report.tables:
        for example in t.examples:
            render.show(f"[dim]{t.table}:[/] {example}")
    if report.ok:
        render.show("[green]ok:[/] every rollup agrees with the spans")
    elif repair:
        render.show("[yellow]repaired:[/] the rollups now agree with the spans")
    else:
        render.show("[red]mismatch:[/] run `tracehound check --repair` with the server stopped")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("check")(check_command)
