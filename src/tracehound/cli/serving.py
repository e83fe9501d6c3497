"""`tracehound serve` and `tracehound demo`."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer

from tracehound.cli import options
from tracehound.config import AnalyticsSettings, Settings

_A = AnalyticsSettings()


def _bound(default: int, name: str, help: str) -> int:
    return typer.Option(default, min=1, envvar=f"TRACEHOUND_{name.upper()}", help=help)  # type: ignore[no-any-return]


def serve(
    host: str = typer.Option("127.0.0.1", envvar="TRACEHOUND_HOST", help="Interface to bind"),
    port: int = typer.Option(9090, envvar="TRACEHOUND_PORT", help="API port"),
    otlp_grpc_port: int = typer.Option(4317, envvar="TRACEHOUND_OTLP_GRPC_PORT", help="OTLP/gRPC port"),
    otlp_http_port: int = typer.Option(4318, envvar="TRACEHOUND_OTLP_HTTP_PORT", help="OTLP/HTTP port"),
    data_dir: Path = options.DataDir,
    idle_timeout: float = options.IdleTimeout,
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
    bottleneck_max_spans: int = _bound(
        _A.bottleneck_max_spans, "bottleneck_max_spans", "Spans of a run analysed"
    ),
    outlier_min_sample: int = _bound(
        _A.outlier_min_sample, "outlier_min_sample", "Outlier reference: fewest spans"
    ),
    outlier_max_sample: int = _bound(
        _A.outlier_max_sample, "outlier_max_sample", "Outlier reference: spans kept"
    ),
    outlier_max_scan: int = _bound(
        _A.outlier_max_scan, "outlier_max_scan", "Outlier reference: spans scanned"
    ),
    outlier_max_pairs: int = _bound(_A.outlier_max_pairs, "outlier_max_pairs", "Outlier references per run"),
    outlier_cache_ttl: float = typer.Option(
        _A.outlier_cache_ttl_s,
        min=0,
        envvar="TRACEHOUND_OUTLIER_CACHE_TTL",
        help="Seconds a reference is reused",
    ),
    timeseries_max_buckets: int = _bound(
        _A.timeseries_max_buckets, "timeseries_max_buckets", "Buckets a request"
    ),
    timeseries_max_series: int = _bound(
        _A.timeseries_max_series, "timeseries_max_series", "Largest max_series"
    ),
    stats_top_errors: int = _bound(_A.stats_top_errors, "stats_top_errors", "Entries of /stats top_errors"),
    stats_cache_mb: int = typer.Option(
        _A.stats_cache_mb,
        min=0,
        envvar="TRACEHOUND_STATS_CACHE_MB",
        help="MB of past hours /stats keeps in memory (0: none)",
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
        analytics=AnalyticsSettings(
            bottleneck_max_spans=bottleneck_max_spans,
            outlier_min_sample=outlier_min_sample,
            outlier_max_sample=outlier_max_sample,
            outlier_max_scan=outlier_max_scan,
            outlier_max_pairs=outlier_max_pairs,
            outlier_cache_ttl_s=outlier_cache_ttl,
            timeseries_max_buckets=timeseries_max_buckets,
            timeseries_max_series=timeseries_max_series,
            stats_top_errors=stats_top_errors,
            stats_cache_mb=stats_cache_mb,
        ),
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


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("demo")(demo_command)
