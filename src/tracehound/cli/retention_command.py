"""`tracehound retention`: how long each project's raw spans are kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from tracehound.cli import options, render
from tracehound.cli.source import fail, store_config

if TYPE_CHECKING:
    from tracehound.storage import Backend

T = TypeVar("T")

retention = typer.Typer(help="How long raw spans are kept, per project.", no_args_is_help=True)


@retention.command("set")
def set_command(
    project: str = typer.Argument(..., help="The project id"),
    days: int | None = typer.Argument(None, min=1, help="Maximum age of raw spans, in days"),
    forever: bool = typer.Option(False, "--forever", help="Keep this project's spans forever"),
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
) -> None:
    """Keep PROJECT's raw spans DAYS days (or --forever), whatever the server's default. Runs
    and their figures stay after their spans go; a running server applies it at its next sweep."""
    if (days is None) == (not forever):
        raise typer.BadParameter("give DAYS or --forever, not both")
    _update(
        lambda: _backend(database_url).set_retention(
            store_config(data_dir, database_url), project, None if forever else days
        )
    )
    render.show(f"{project}: raw spans kept {'forever' if forever else f'{days} days'}")


@retention.command("clear")
def clear_command(
    project: str = typer.Argument(...),
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
) -> None:
    """Remove PROJECT's own setting: the server's --retention-days applies again."""
    _update(
        lambda: _backend(database_url).set_retention(
            store_config(data_dir, database_url), project, None, clear=True
        )
    )
    render.show(f"{project}: the server's default applies")


@retention.command("show")
def show_command(
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
    json: bool = options.Json,
) -> None:
    """Projects with their own retention."""
    policies = _update(
        lambda: _backend(database_url).retention_policies(store_config(data_dir, database_url))
    )
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


def _backend(database_url: str | None) -> Backend:
    from tracehound.storage import backend_for

    return backend_for(database_url)


def _update(action: Callable[[], T]) -> T:
    from tracehound.storage.errors import StoreError

    try:
        return action()
    except StoreError as exc:
        raise fail(str(exc), 2) from None


def register(app: typer.Typer) -> None:
    app.add_typer(retention, name="retention")
