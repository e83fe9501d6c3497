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
    # Largest `limit` a list endpoint accepts.
    max_page_size: int = 1000
    # Threads that run queries.
    worker_threads: int = 8
    # Processes that decode OTLP requests beside the writer; 0 decodes on a thread instead.
    decode_processes: int = 1
    # Serve beyond loopback while no API key exists (anyone who can reach the ports reads and
    # writes every project).
    insecure: bool = False

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser()
