"""The `tracehound` command: `serve` and `demo`, the query commands (against a server with
`--url`, or straight on the database file), `mcp` over stdio, `keys` for API keys."""

from __future__ import annotations

import typer

from tracehound.cli import (
    check_command,
    import_command,
    keys_command,
    mcp_command,
    queries,
    retention_command,
    serving,
)

app = typer.Typer(help="Trace analytics for AI agents.", no_args_is_help=True, add_completion=False)
serving.register(app)
queries.register(app)
mcp_command.register(app)
import_command.register(app)
check_command.register(app)
retention_command.register(app)
keys_command.register(app)


def main() -> None:
    app()
