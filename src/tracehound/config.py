"""Settings: every limit and default in one place, each with a CLI flag and an environment
variable (TRACEHOUND_<NAME>)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path("~/.tracehound")


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 9090
    otlp_grpc_port: int = 4317
    otlp_http_port: int = 4318
    data_dir: Path = DEFAULT_DATA_DIR
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

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser()
