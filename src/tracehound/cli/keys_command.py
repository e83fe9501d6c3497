"""`tracehound keys create | list | revoke | delete`: API keys, in the database of
`--database-url` or the file under `--data-dir`, beside running servers or none. A running
server sees every change from its next request on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from tracehound.cli import options, render
from tracehound.cli.render import Column
from tracehound.cli.source import fail, store_config

app = typer.Typer(help="Manage API keys (once one exists, every request needs one).", no_args_is_help=True)

KEY_COLUMNS: list[Column] = [
    ("ID", "id", render.ident),
    ("Name", "name", render.text),
    ("Projects", "projects", render.text),
    ("Created (UTC)", "created_at_us", render.when),
    ("Last used (UTC)", "last_used_at_us", render.when),
    ("Revoked (UTC)", "revoked_at_us", render.when),
]


@contextmanager
def _keys(data_dir: Path, database_url: str | None, *, create: bool = False) -> Iterator[Any]:
    from tracehound.storage import open_keys
    from tracehound.storage.errors import StoreError, StoreMissing

    try:
        store = open_keys(store_config(data_dir, database_url), create=create)
    except StoreMissing as exc:  # it names the file or the database it looked at
        raise fail(f"{exc}: no keys yet", 1) from None
    except StoreError as exc:
        raise fail(str(exc), 2) from None
    try:
        yield store
    finally:
        store.close()


def _now_us() -> int:
    return time.time_ns() // 1000


@app.command("create")
def create(
    project: list[str] = typer.Option(None, "--project", help="A project the key may use (repeatable)"),
    all_projects: bool = typer.Option(False, "--all-projects", help="Every project, present and future"),
    name: str | None = typer.Option(None, "--name", help="A note saying what the key is for"),
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
) -> None:
    """Create a key and print it, alone on the last line. Only its hash is stored: it cannot be
    shown again."""
    from tracehound.auth import create_key

    projects = sorted({p.strip() for p in project or () if p.strip()})
    if bool(projects) == all_projects:
        raise fail("give --project P (repeatable) or --all-projects, not both", 1)
    with _keys(data_dir, database_url, create=True) as store:
        kid, key = create_key(store, projects, all_projects=all_projects, name=name, now_us=_now_us())
    scope = "every project" if all_projects else "project " + ", ".join(projects)
    print(f"Created API key {kid} for {scope}.")
    print("Store it now: tracehound keeps only a hash and cannot show it again.")
    print(key)


@app.command("list")
def list_keys(
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
    json: bool = options.Json,
) -> None:
    """List keys by id (never the keys themselves), revoked ones included."""
    with _keys(data_dir, database_url) as store:
        _, records = store.load()
    rows = [
        {
            "id": r.id,
            "name": r.name,
            "projects": list(r.projects),
            "all_projects": r.all_projects,
            "created_at_us": r.created_at_us,
            "last_used_at_us": r.last_used_at_us,
            "revoked_at_us": r.revoked_at_us,
            "active": r.revoked_at_us is None,
        }
        for r in records
    ]
    if json:
        return render.json_out(rows)
    render.show(render.table(None, [{**r, "projects": r["projects"] or "*"} for r in rows], KEY_COLUMNS))


@app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="The key's id"),
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
) -> None:
    """Revoke a key: a running server refuses it from its next request on."""
    with _keys(data_dir, database_url) as store:
        if not store.revoke(key_id, _now_us()):
            raise fail(f"no active key {key_id!r}; see `tracehound keys list`", 1)
    print(f"Revoked API key {key_id}.")


@app.command("delete")
def delete(
    key_id: str = typer.Argument(..., help="The key's id"),
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
) -> None:
    """Forget a revoked key. Keys stay required while any key, even a revoked one, is on record:
    deleting the last one opens the server again (loopback only, unless --insecure)."""
    with _keys(data_dir, database_url) as store:
        if not store.delete_revoked(key_id):
            raise fail(f"no revoked key {key_id!r}; revoke it first", 1)
    print(f"Deleted API key {key_id}.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="keys")
