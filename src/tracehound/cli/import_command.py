"""`tracehound import-vllora`: a vLLora database's history into tracehound."""

from __future__ import annotations

from pathlib import Path

import typer

from tracehound.cli import options


def import_vllora_command(
    path: Path = typer.Argument(..., help="vLLora's database, usually ~/.vllora/vllora.db"),
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
    project: str | None = typer.Option(
        None, help="Put every span in this project, instead of the project vLLora recorded"
    ),
) -> None:
    """Import a vLLora database, so its runs show in tracehound. Importing it again adds nothing."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from tracehound.importers.vllora import ImportFailed, import_vllora
    from tracehound.ingest import tune_gc
    from tracehound.storage import StoreConfig

    tune_gc()  # as `serve` does: ingest makes many short-lived objects
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    console = Console(stderr=True)
    try:
        with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
            task = progress.add_task("rows", total=None)
            summary = import_vllora(
                path.expanduser(),
                StoreConfig(url=database_url, data_dir=data_dir.expanduser()),
                project=project,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except ImportFailed as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: what was imported is kept; run the same command to finish", err=True)
        raise typer.Exit(130) from None
    skipped = summary.skip_line()
    if skipped:
        typer.echo(skipped)
    typer.echo(summary.line())


def register(app: typer.Typer) -> None:
    app.command("import-vllora")(import_vllora_command)
