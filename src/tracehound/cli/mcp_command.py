"""`tracehound mcp`: the MCP server over stdio, for clients that launch their servers (Claude
Desktop, Cursor, ...). It reads the database file, or a running server with --url."""

from __future__ import annotations

from pathlib import Path

import typer

from tracehound.cli import options
from tracehound.cli.source import Source, open_client


def mcp(
    url: str | None = options.Url,
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
    project: str | None = options.Project,
    api_key: str | None = options.ApiKey,
    idle_timeout: float = options.IdleTimeout,
) -> None:
    """Serve the MCP tools and prompts over stdio."""
    import anyio

    from tracehound.mcp_server.server import run_stdio

    async def serve() -> None:
        async with open_client(Source(url, data_dir, project, idle_timeout, api_key, database_url)) as client:
            await run_stdio(client)

    anyio.run(serve)


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp)
