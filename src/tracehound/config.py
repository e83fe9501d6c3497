"""Settings: every limit and default in one place, each with a CLI flag and an environment
variable (TRACEHOUND_<NAME>)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tracehound.storage.types import StoreConfig

DEFAULT_DATA_DIR = Path("~/.tracehound")


def parse_origins(text: str) -> tuple[str, ...]:
    """`--cors-origins`: comma-separated origins (`scheme://host[:port]`, as a browser sends them
    in `Origin`), or `*`. Raises ValueError naming the first entry that is not one."""
    origins = tuple(o.strip().rstrip("/") for o in text.split(",") if o.strip())
    for origin in origins:
        if origin == "*":
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            raise ValueError(f"{origin!r} is not an origin like http://localhost:9091, nor *")
    return origins


@dataclass(frozen=True, slots=True)
class AnalyticsSettings:
    """Bounds on the work one analytics request may do (docs/configuration.md)."""

    # Spans of one run read by /runs/{id}/bottlenecks; later ones (by start) are left out.
    bottleneck_max_spans: int = 20_000
    # Outlier reference: fewer spans than this and no span of that (operation, model) is an
    # outlier; the most recent spans kept, among at most `outlier_max_scan` of the operation;
    # the pairs of a run that get a reference; how long a reference is reused.
    outlier_min_sample: int = 20
    outlier_max_sample: int = 200
    outlier_max_scan: int = 2_000
    outlier_max_pairs: int = 20
    outlier_cache_ttl_s: float = 60.0
    # /metrics/timeseries: buckets per request (more is a 400), and the largest `max_series`.
    timeseries_max_buckets: int = 10_000
    timeseries_max_series: int = 100
    # /stats: entries of `top_errors`.
    stats_top_errors: int = 10
    # /stats: memory for the parts of whole past hours kept between requests (0: none).
    stats_cache_mb: int = 64


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 9090
    otlp_grpc_port: int = 4317
    otlp_http_port: int = 4318
    data_dir: Path = DEFAULT_DATA_DIR
    # Where the data lives: unset is the SQLite file under data_dir; postgresql://… a PostgreSQL
    # database that several tracehound processes may share.
    database_url: str | None = None
    # PostgreSQL: connections each process keeps, and the longest one statement may run.
    db_pool_size: int = 10
    db_statement_timeout_ms: int = 30_000
    idle_timeout_s: float = 300.0
    log_level: str = "info"
    # Largest request body accepted on POST /v1/traces, as sent (maybe compressed).
    max_request_bytes: int = 16 * 1024 * 1024
    # Largest body after decompression; a gzip bomb stops here with 413.
    max_decompressed_bytes: int = 64 * 1024 * 1024
    # Most spans one OTLP request may carry; more gets 413 / INVALID_ARGUMENT, the whole request.
    max_spans_per_request: int = 50_000
    # Longest attribute value kept, in UTF-8 bytes; longer ones are cut and the span says so.
    max_attribute_value_bytes: int = 256 * 1024
    # Backpressure: decoded spans waiting for the writer, and request bodies waiting to be
    # decoded. Past either, exports get 503 + Retry-After / RESOURCE_EXHAUSTED + RetryInfo.
    max_pending_spans: int = 50_000
    max_pending_bytes: int = 64 * 1024 * 1024
    # Seconds an exporter is told to wait before retrying an export refused by backpressure.
    retry_after_s: int = 2
    # Largest `limit` a list endpoint accepts.
    max_page_size: int = 1000
    # Threads that run queries.
    worker_threads: int = 8
    # Processes that decode OTLP requests beside the writer; 0 decodes on a thread instead.
    decode_processes: int = 1
    # Serve beyond loopback while no API key exists (anyone who can reach the ports reads and
    # writes every project).
    insecure: bool = False
    # Raw spans older than this many days are deleted (their runs' figures stay); 0 keeps them
    # forever. A project's own setting (`tracehound retention set`) wins.
    retention_days: int = 0
    # Seconds between two retention sweeps.
    retention_interval_s: float = 600.0
    # Web origins whose pages may call the HTTP ports from a browser (comma-separated, or `*`).
    # None by default: a page on another site must not read a local tracehound's traces.
    cors_origins: str = ""
    analytics: AnalyticsSettings = AnalyticsSettings()

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        return parse_origins(self.cors_origins)

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser()

    def store_config(self) -> StoreConfig:
        return StoreConfig(
            url=self.database_url,
            data_dir=self.resolved_data_dir,
            idle_timeout_s=self.idle_timeout_s,
            stats_cache_bytes=self.analytics.stats_cache_mb * 1024 * 1024,
            pool_size=self.db_pool_size,
            statement_timeout_ms=self.db_statement_timeout_ms,
        )
