"""`tracehound retention`: how long each project's raw spans are kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

from tracehound.cli import options, render
from tracehound.cli.source import fail

T = TypeVar("T")

retention = typer.Typer(help="How long raw spans are kept, per project.", no_args_is_help=True)


@retention.command("set")
def set_command(
    project: str = typer.Argument(..., help="The project id"),
    days: int | None = typer.Argument(None, min=1, help="Maximum age of raw spans, in days"),
    forever: bool = typer.Option(False, "--forever", help="Keep this project's spans forever"),
    data_dir: Path = options.DataDir,
) -> None:
    """Keep PROJECT's raw spans DAYS days (or --forever), whatever the server's default. Runs
    and their figures stay after their spans go; a running server applies it at its next sweep."""
    from tracehound.storage.sqlite_store import set_retention

    if (days is None) == (not forever):
        raise typer.BadParameter("give DAYS or --forever, not both")
    _update(lambda: set_retention(data_dir.expanduser(), project, None if forever else days))
    render.show(f"{project}: raw spans kept {'forever' if forever else f'{days} days'}")


@retention.command("clear")
def clear_command(project: str = typer.Argument(...), data_dir: Path = options.DataDir) -> None:
    """Remove PROJECT's own setting: the server's --retention-days applies again."""
    from tracehound.storage.sqlite_store import set_retention

    _update(lambda: set_retention(data_dir.expanduser(), project, None, clear=True))
    render.show(f"{project}: the server's default applies")


@retention.command("show")
def show_command(data_dir: Path = options.DataDir, json: bool = options.Json) -> None:
    """Projects with their own retention."""
    from tracehound.storage.sqlite_store import retention_policies

    policies = _update(lambda: retention_policies(data_dir.expanduser()))
    rows = [{"project": p, "days": d} for p, d in sorted(policies.items())]
    if json:
        return render.json_out(rows)
    shown = [
        {"project": r["project"], "kept": "forever" if r["days"] is None else f"{r['days']} days"}
        for r in rows
    ]
    render.show(
        render.table(
            None, shown, [("Project", "project", render.ident), ("Raw spans kept", "kept", render.text)]
        )
    )


def _update(action: Callable[[], T]) -> T:
    from tracehound.storage.sqlite_schema import SchemaOutdated, SchemaTooNew
    from tracehound.storage.sqlite_store import StoreMissing

    try:
        return action()
    except (StoreMissing, SchemaOutdated, SchemaTooNew) as exc:
        raise fail(str(exc), 2) from None


def register(app: typer.Typer) -> None:
    app.add_typer(retention, name="retention")
