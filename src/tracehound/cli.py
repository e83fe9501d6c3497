"""The `tracehound` command."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer

from tracehound.config import DEFAULT_DATA_DIR, Settings

app = typer.Typer(help="Trace analytics for AI agents.", no_args_is_help=True, add_completion=False)

DataDir = typer.Option(
    DEFAULT_DATA_DIR, "--data-dir", envvar="TRACEHOUND_DATA_DIR", help="Where the database lives"
)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", envvar="TRACEHOUND_HOST", help="Interface to bind"),
    port: int = typer.Option(9090, envvar="TRACEHOUND_PORT", help="API port"),
    otlp_grpc_port: int = typer.Option(4317, envvar="TRACEHOUND_OTLP_GRPC_PORT", help="OTLP/gRPC port"),
    otlp_http_port: int = typer.Option(4318, envvar="TRACEHOUND_OTLP_HTTP_PORT", help="OTLP/HTTP port"),
    data_dir: Path = DataDir,
    idle_timeout: float = typer.Option(
        300.0,
        envvar="TRACEHOUND_IDLE_TIMEOUT",
        help="Seconds after its last span before a rootless run stops counting as running",
    ),
    log_level: str = typer.Option(
        "info", envvar="TRACEHOUND_LOG_LEVEL", help="debug, info, warning or error"
    ),
    max_request_bytes: int = typer.Option(16 * 1024 * 1024, envvar="TRACEHOUND_MAX_REQUEST_BYTES"),
    max_decompressed_bytes: int = typer.Option(64 * 1024 * 1024, envvar="TRACEHOUND_MAX_DECOMPRESSED_BYTES"),
    max_page_size: int = typer.Option(1000, envvar="TRACEHOUND_MAX_PAGE_SIZE"),
    worker_threads: int = typer.Option(8, min=1, envvar="TRACEHOUND_WORKER_THREADS", help="Query threads"),
    decode_processes: int = typer.Option(
        1, min=0, envvar="TRACEHOUND_DECODE_PROCESSES", help="OTLP decoding processes (0: a thread)"
    ),
    demo: bool = typer.Option(False, "--demo", help="Load the demo dataset through OTLP once started"),
) -> None:
    """Start the API and the OTLP receivers."""
    from tracehound.server import serve as run_server

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings(
        host=host,
        port=port,
        otlp_grpc_port=otlp_grpc_port,
        otlp_http_port=otlp_http_port,
        data_dir=data_dir,
        idle_timeout_s=idle_timeout,
        log_level=log_level,
        max_request_bytes=max_request_bytes,
        max_decompressed_bytes=max_decompressed_bytes,
        max_page_size=max_page_size,
        worker_threads=worker_threads,
        decode_processes=decode_processes,
    )

    async def load_demo() -> None:
        from tracehound.demo import load_demo as load

        summary = await asyncio.to_thread(load, f"http://{host}:{otlp_grpc_port}")
        logging.getLogger("tracehound").info(
            "demo data loaded: %s — try: curl http://%s:%d/runs", summary, host, port
        )

    from tracehound.storage.sqlite_store import StoreLocked

    try:
        asyncio.run(run_server(settings, on_ready=load_demo if demo else None))
    except StoreLocked as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command("demo")
def demo_command(
    endpoint: str = typer.Option(
        "http://127.0.0.1:4317", envvar="TRACEHOUND_OTLP_ENDPOINT", help="OTLP/gRPC endpoint"
    ),
    project: str | None = typer.Option(None, help="Send with this x-project-id"),
    seed: int = typer.Option(7, help="Random seed"),
) -> None:
    """Send the demo dataset to a running tracehound over OTLP/gRPC."""
    from tracehound.demo import load_demo

    summary = load_demo(endpoint, project=project, seed=seed)
    typer.echo(f"sent {summary}")


@app.command("import-vllora")
def import_vllora_command(
    path: Path = typer.Argument(..., help="vLLora's database, usually ~/.vllora/vllora.db"),
    data_dir: Path = DataDir,
    project: str | None = typer.Option(
        None, help="Put every span in this project, instead of the project vLLora recorded"
    ),
) -> None:
    """Import a vLLora database, so its runs show in tracehound. Importing it again adds nothing."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from tracehound.importers.vllora import ImportFailed, import_vllora
    from tracehound.ingest import tune_gc

    tune_gc()  # as `serve` does: ingest makes many short-lived objects
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    console = Console(stderr=True)
    try:
        with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
            task = progress.add_task("rows", total=None)
            summary = import_vllora(
                path.expanduser(),
                data_dir.expanduser(),
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


def main() -> None:
    app()
