"""Two `serve` processes on one PostgreSQL database, fed at the same moment by the OTel SDK's real
exporters: the children of each trace to one process, the parents to the other, and some exports
re-sent to the other process (an exporter retry landing at another replica). The rollups must be
exactly what the spans imply, whichever process wrote which span."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.conftest import Server, get_json, start_server
from tests.spans import SpanFactory, Via

TRACES = 30


@pytest.fixture
def two_servers(tmp_path: Path, pg_url: str) -> Iterator[tuple[Server, Server]]:
    a = start_server(tmp_path / "a", database_url=pg_url)
    try:
        b = start_server(tmp_path / "b", database_url=pg_url)
    except BaseException:
        a.stop()
        raise
    yield a, b
    b.stop()
    a.stop()


def build(factory: SpanFactory) -> tuple[list[ReadableSpan], list[ReadableSpan], dict[str, int]]:
    """Children and parents of TRACES runs, and each run's span count."""
    children: list[ReadableSpan] = []
    parents: list[ReadableSpan] = []
    counts: dict[str, int] = {}
    for i in range(TRACES):
        run_id = uuid.uuid4().hex
        t = factory.trace()
        root = t.span("run", 0, 900, attrs={"vllora.run_id": run_id})
        for j in range(1 + i % 3):
            t.span(f"tool-{j}", 10 + j, 100 + j, parent=root, attrs={"vllora.run_id": run_id})
        spans = factory.finished(t)
        factory.memory.clear()
        root_id = root.get_span_context().span_id
        parents += [s for s in spans if s.context and s.context.span_id == root_id]
        children += [s for s in spans if s.context and s.context.span_id != root_id]
        counts[run_id] = len(spans)
    return children, parents, counts


def send_concurrently(a: Server, b: Server, project: str) -> dict[str, int]:
    fa = SpanFactory(a.otlp_grpc, a.otlp_http, project)
    fb = SpanFactory(b.otlp_grpc, b.otlp_http, project)
    children, parents, counts = build(fa)
    jobs = [
        (fa, children, "grpc"),
        (fb, parents, "http"),
        (fb, children[::3], "grpc"),  # re-sent to the other process: duplicates
        (fa, parents[::4], "http"),
    ]
    failures: list[str] = []

    def send(factory: SpanFactory, spans: list[ReadableSpan], via: Via) -> None:
        for k in range(0, len(spans), 5):
            if factory.export(spans[k : k + 5], via) != SpanExportResult.SUCCESS:
                failures.append(via)

    threads = [threading.Thread(target=send, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures
    return counts


def test_rollups_exact_across_two_writers(two_servers: tuple[Server, Server], pg_url: str) -> None:
    a, b = two_servers
    project = f"mp-{uuid.uuid4().hex[:8]}"
    counts = send_concurrently(a, b, project)
    with psycopg.connect(pg_url) as conn:
        runs = dict(
            conn.execute("SELECT run_id, span_count FROM runs WHERE project_id = %s", (project,)).fetchall()
        )
        (spans,) = conn.execute(
            "SELECT count(*) FROM spans WHERE project_id = %s", (project,)
        ).fetchone() or (0,)
        (project_spans, project_runs) = conn.execute(
            "SELECT span_count, run_count FROM projects WHERE id = %s", (project,)
        ).fetchone() or (0, 0)
        roots = dict(
            conn.execute("SELECT run_id, root_count FROM runs WHERE project_id = %s", (project,)).fetchall()
        )
    assert runs == counts
    assert spans == sum(counts.values()) == project_spans
    assert project_runs == len(counts)
    assert set(roots.values()) == {1}


def test_every_process_answers_the_same(two_servers: tuple[Server, Server]) -> None:
    a, b = two_servers
    project = f"mp-{uuid.uuid4().hex[:8]}"
    counts = send_concurrently(a, b, project)
    end = str((int(time.time()) + 3600) * 1_000_000)  # one window for both, not each one's "now"
    answers = []
    for server in (a, b):
        with server.client(project) as api:
            page = get_json(api, "/runs", {"period": "all", "limit": 100})
            assert page["pagination"]["total"] == len(counts)
            stats = get_json(api, "/stats", {"period": "last_day", "end": end})
            answers.append((sorted(str(r) for r in page["data"]), stats))
    assert answers[0] == answers[1]
