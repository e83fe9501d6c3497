"""`tracehound serve` and `tracehound demo`."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer

from tracehound.cli import options
from tracehound.config import AnalyticsSettings, Settings, parse_origins

_A = AnalyticsSettings()


def _bound(default: int, name: str, help: str) -> int:
    return typer.Option(default, min=1, envvar=f"TRACEHOUND_{name.upper()}", help=help)  # type: ignore[no-any-return]


def _origins(text: str) -> str:
    try:
        parse_origins(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return text


def serve(
    host: str = typer.Option("127.0.0.1", envvar="TRACEHOUND_HOST", help="Interface to bind"),
    port: int = typer.Option(9090, envvar="TRACEHOUND_PORT", help="API port"),
    otlp_grpc_port: int = typer.Option(4317, envvar="TRACEHOUND_OTLP_GRPC_PORT", help="OTLP/gRPC port"),
    otlp_http_port: int = typer.Option(4318, envvar="TRACEHOUND_OTLP_HTTP_PORT", help="OTLP/HTTP port"),
    data_dir: Path = options.DataDir,
    database_url: str | None = options.DatabaseUrl,
    db_pool_size: int = typer.Option(
        10, min=1, envvar="TRACEHOUND_DB_POOL_SIZE", help="PostgreSQL connections this process keeps"
    ),
    db_statement_timeout_ms: int = typer.Option(
        30_000,
        min=1,
        envvar="TRACEHOUND_DB_STATEMENT_TIMEOUT_MS",
        help="PostgreSQL: the longest one statement may run, in ms",
    ),
    idle_timeout: float = options.IdleTimeout,
    log_level: str = typer.Option(
        "info", envvar="TRACEHOUND_LOG_LEVEL", help="debug, info, warning or error"
    ),
    max_request_bytes: int = typer.Option(16 * 1024 * 1024, envvar="TRACEHOUND_MAX_REQUEST_BYTES"),
    max_decompressed_bytes: int = typer.Option(64 * 1024 * 1024, envvar="TRACEHOUND_MAX_DECOMPRESSED_BYTES"),
    max_spans_per_request: int = typer.Option(
        50_000, min=1, envvar="TRACEHOUND_MAX_SPANS_PER_REQUEST", help="More in one export gets 413"
    ),
    max_attribute_value_bytes: int = typer.Option(
        256 * 1024,
        min=1,
        envvar="TRACEHOUND_MAX_ATTRIBUTE_VALUE_BYTES",
        help="Longer attribute values are cut, and the span says so",
    ),
    max_pending_spans: int = typer.Option(
        50_000, min=1, envvar="TRACEHOUND_MAX_PENDING_SPANS", help="Spans waiting for the writer before 503"
    ),
    max_pending_bytes: int = typer.Option(
        64 * 1024 * 1024,
        min=1,
        envvar="TRACEHOUND_MAX_PENDING_BYTES",
        help="Request bytes waiting to be decoded before 503",
    ),
    retry_after: int = typer.Option(
        2, min=1, envvar="TRACEHOUND_RETRY_AFTER", help="Seconds a refused exporter waits to retry"
    ),
    max_page_size: int = typer.Option(1000, envvar="TRACEHOUND_MAX_PAGE_SIZE"),
    worker_threads: int = typer.Option(8, min=1, envvar="TRACEHOUND_WORKER_THREADS", help="Query threads"),
    retention_days: int = typer.Option(
        0,
        min=0,
        envvar="TRACEHOUND_RETENTION_DAYS",
        help="Delete raw spans older than this many days (0: keep); per project: `tracehound retention`",
    ),
    retention_interval: float = typer.Option(
        600.0, min=1, envvar="TRACEHOUND_RETENTION_INTERVAL", help="Seconds between retention sweeps"
    ),
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
    insecure: bool = typer.Option(
        False,
        "--insecure",
        envvar="TRACEHOUND_INSECURE",
        help="Allow a non-loopback --host while no API key exists (logs a warning)",
    ),
    cors_origins: str = typer.Option(
        "",
        envvar="TRACEHOUND_CORS_ORIGINS",
        callback=_origins,
        help="Web origins allowed to call the API from a browser: comma-separated, or * (default: none)",
    ),
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
        database_url=database_url,
        db_pool_size=db_pool_size,
        db_statement_timeout_ms=db_statement_timeout_ms,
        idle_timeout_s=idle_timeout,
        log_level=log_level,
        max_request_bytes=max_request_bytes,
        max_decompressed_bytes=max_decompressed_bytes,
        max_spans_per_request=max_spans_per_request,
        max_attribute_value_bytes=max_attribute_value_bytes,
        max_pending_spans=max_pending_spans,
        max_pending_bytes=max_pending_bytes,
        retry_after_s=retry_after,
        max_page_size=max_page_size,
        worker_threads=worker_threads,
        decode_processes=decode_processes,
        retention_days=retention_days,
        retention_interval_s=retention_interval,
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
        insecure=insecure,
        cors_origins=cors_origins,
    )

    async def load_demo() -> None:
        from tracehound.demo import DemoExportError
        from tracehound.demo import load_demo as load

        log = logging.getLogger("tracehound")
        try:
            summary = await asyncio.to_thread(load, f"http://{host}:{otlp_grpc_port}")
        except DemoExportError as exc:
            # The server keeps no key it could send; the operator has one.
            log.error("%s (with API keys on, send it with `tracehound demo --api-key KEY`)", exc)
            return
        log.info("demo data loaded: %s — try: curl http://%s:%d/runs", summary, host, port)

    from tracehound.server import InsecureBind
    from tracehound.storage.errors import StoreError

    try:
        asyncio.run(run_server(settings, on_ready=load_demo if demo else None))
    except (StoreError, InsecureBind) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def demo_command(
    endpoint: str = typer.Option(
        "http://127.0.0.1:4317", envvar="TRACEHOUND_OTLP_ENDPOINT", help="OTLP/gRPC endpoint"
    ),
    project: str | None = typer.Option(None, help="Send with this x-project-id"),
    seed: int = typer.Option(7, help="Random seed"),
    api_key: str | None = options.ApiKey,
) -> None:
    """Send the demo dataset to a running tracehound over OTLP/gRPC."""
    from tracehound.demo import load_demo

    summary = load_demo(endpoint, project=project, seed=seed, api_key=api_key)
    typer.echo(f"sent {summary}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("demo")(demo_command)
