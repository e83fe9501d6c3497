"""A writer process of tests/test_pg_writer_concurrency.py: it opens the store from a database URL
as `serve` does and writes one batch per round, every process starting each round at the same
moment (a barrier), so that the same traces, and often the same spans, are written at once."""

from __future__ import annotations

import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

from tracehound.model import Span
from tracehound.storage import StoreConfig, open_store

# Per round: spans inserted, duplicates, and when the write began and ended (time.monotonic,
# which is one clock for every process of the machine).
Written = tuple[int, int, float, float]
Outcome = tuple[str, list[Written] | str]


def write_rounds(url: str, rounds: list[list[Span]], barrier: Barrier, out: Queue[Outcome]) -> None:
    """Reports ("ok", [Written per round]) or ("error", why)."""
    try:
        store = open_store(StoreConfig(url=url))
        try:
            results = []
            for batch in rounds:
                barrier.wait(timeout=60)
                began = time.monotonic()
                r = store.write(batch)
                results.append((r.inserted, r.duplicates, began, time.monotonic()))
        finally:
            store.close()
    except BaseException as e:
        barrier.abort()  # the other writers fail at once instead of waiting for this one
        out.put(("error", repr(e)))
        raise
    out.put(("ok", results))
