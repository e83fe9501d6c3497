"""Options shared by several commands, declared once."""

from __future__ import annotations

import typer

from tracehound.config import DEFAULT_DATA_DIR

DataDir = typer.Option(
    DEFAULT_DATA_DIR, "--data-dir", envvar="TRACEHOUND_DATA_DIR", help="Where the database lives"
)
DatabaseUrl = typer.Option(
    None,
    "--database-url",
    envvar="TRACEHOUND_DATABASE_URL",
    help="postgresql://USER:PASSWORD@HOST:PORT/DB to use PostgreSQL; unset: SQLite under --data-dir",
)
Url = typer.Option(
    None,
    "--url",
    envvar="TRACEHOUND_URL",
    help="A running tracehound's API (http://127.0.0.1:9090); without it, read the database file",
)
ApiKey = typer.Option(
    None,
    "--api-key",
    envvar="TRACEHOUND_API_KEY",
    help="API key for a server that requires one (sent as Authorization: Bearer)",
)
Project = typer.Option(None, "--project", envvar="TRACEHOUND_PROJECT", help="Project id (default: default)")
Json = typer.Option(False, "--json", help="Print the API's JSON instead of tables")
Period = typer.Option(None, "--period", help="last_hour, last_day, last_week, last_month, ... or all")
Start = typer.Option(None, "--start", help="Window start: µs since the epoch or ISO 8601")
End = typer.Option(None, "--end", help="Window end (exclusive): µs since the epoch or ISO 8601")
Threads = typer.Option(None, "--thread", help="Thread id (repeatable)")
Labels = typer.Option(None, "--label", help="Label (repeatable)")
Model = typer.Option(None, "--model", help="Model name")
IdleTimeout = typer.Option(
    300.0,
    "--idle-timeout",
    envvar="TRACEHOUND_IDLE_TIMEOUT",
    help="Seconds after its last span before a rootless run stops counting as running",
)
