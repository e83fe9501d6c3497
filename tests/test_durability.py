"""Kill -9 during sustained ingest: four exporters (two gRPC, two HTTP) send traces to a real
server, which is killed with SIGKILL mid-stream and restarted on the same store (its SQLite file,
or its PostgreSQL database). Every
span the server acknowledged must be stored, `tracehound check` must find every rollup in
agreement with the spans, and no process the killed server started may outlive it."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.conftest import Server, start_server
from tests.db import Database
from tests.processes import descendants, outlived
from tests.shapes import gateway_call
from tests.spans import SpanFactory
from tests.test_cli import cli

EXPORTERS = 4
MIN_ACKED_BEFORE_KILL = 40  # exports, over all exporters


class Sender(threading.Thread):
    """One exporter sending one small agent run (a root and a gateway call) per export,
    and remembering the span ids of every export the server acknowledged."""

    def __init__(self, server: Server, project: str, via: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.factory = SpanFactory(server.otlp_grpc, server.otlp_http, project)
        headers = self.factory.headers()
        self.exporter: GrpcExporter | HttpExporter = (
            GrpcExporter(endpoint=server.otlp_grpc, insecure=True, headers=headers, timeout=2)
            if via == "grpc"
            else HttpExporter(endpoint=f"{server.otlp_http}/v1/traces", headers=headers, timeout=2)
        )
        self.stop = stop
        self.acked: list[str] = []
        self.exports = 0

    def run(self) -> None:
        while not self.stop.is_set():
            t = self.factory.trace()
            run_id = uuid.uuid4().hex
            root = t.span("run", 0, 900, attrs={"vllora.run_id": run_id})
            gateway_call(t, root, 10, 800, run_id=run_id, thread_id="t", cost=0.001)
            spans = self.factory.finished(t)
            self.factory.memory.clear()
            try:
                result = self.exporter.export(spans)
            except Exception:  # the server is gone: not acknowledged
                result = SpanExportResult.FAILURE
            if result == SpanExportResult.SUCCESS:
                self.acked.extend(f"{s.context.span_id:016x}" for s in spans if s.context)
                self.exports += 1
        self.exporter.shutdown()


def stored_span_ids(data_dir: Path, database_url: str | None, project: str) -> list[str]:
    return [
        r[0]
        for r in Database(data_dir, database_url).rows(
            "SELECT span_id FROM spans WHERE project_id = ?", (project,)
        )
    ]


def stored_run_count(data_dir: Path, database_url: str | None, project: str) -> int:
    (runs,) = Database(data_dir, database_url).one(
        "SELECT COUNT(DISTINCT run_id) FROM spans WHERE project_id = ?", (project,)
    )
    return int(runs)


def test_no_acknowledged_span_is_lost_to_kill_9(tmp_path: Path, store_url: str | None) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, database_url=store_url)
    project = f"kill-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    senders = [Sender(server, project, "grpc" if i % 2 else "http", stop) for i in range(EXPORTERS)]
    try:
        for s in senders:
            s.start()
        deadline = time.monotonic() + 60
        while sum(s.exports for s in senders) < MIN_ACKED_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sum(s.exports for s in senders) >= MIN_ACKED_BEFORE_KILL
        started = descendants(server.process.pid)
        os.kill(server.process.pid, signal.SIGKILL)  # mid-stream: exports are in flight
        server.process.wait(timeout=30)
    finally:
        stop.set()
        for s in senders:
            s.join(timeout=30)

    # Its decoding process and multiprocessing's resource tracker, at least; none may remain.
    assert len(started) >= 2, started
    assert outlived(started) == [], "processes of the killed server still run"

    acked = {span_id for s in senders for span_id in s.acked}
    assert len(acked) >= MIN_ACKED_BEFORE_KILL * 5  # a root and a gateway call: 5 spans or more

    restarted = start_server(data_dir, database_url=store_url)
    try:
        stored = stored_span_ids(data_dir, store_url, project)
        assert len(stored) == len(set(stored)), "a span stored twice"
        assert acked <= set(stored), f"{len(acked - set(stored))} acknowledged spans lost"
        check = cli("check", *restarted.store_args)
        assert check.returncode == 0, check.stdout + check.stderr
        # The API agrees with the file: every run counted once, none half-written.
        with restarted.client(project) as api:
            runs = api.get("/runs", params={"period": "all", "limit": 1}).json()["pagination"]["total"]
        assert runs == stored_run_count(data_dir, store_url, project)
    finally:
        restarted.stop()
