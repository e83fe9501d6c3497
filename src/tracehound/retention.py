"""The retention sweeper: a background thread of `tracehound serve` that deletes the raw spans
of runs older than their project's maximum age (storage/sqlite/retention.py says what is kept).
It works in small batches, each its own short transaction, so ingest never waits long."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from tracehound.storage import TraceStore
from tracehound.storage.errors import StoreUnavailable
from tracehound.storage.types import DAY_US

log = logging.getLogger(__name__)

BATCH_RUNS = 200


@dataclass(frozen=True, slots=True)
class SweepResult:
    runs: int
    spans: int


def max_age_days(project_id: str, policies: dict[str, int | None], default_days: int) -> int | None:
    """The project's own setting wins, even None (keep forever); else the server's default, where
    0 means keep forever."""
    if project_id in policies:
        return policies[project_id]
    return default_days or None


def sweep(store: TraceStore, default_days: int, batch_runs: int = BATCH_RUNS) -> SweepResult:
    """One pass over every project, at the store's clock."""
    policies = store.retention_policies()
    runs = spans = 0
    now_us = store.now_us()
    for project in store.projects():
        days = max_age_days(project, policies, default_days)
        if days is None:
            continue
        cutoff_us = now_us - days * DAY_US
        while True:
            done = store.expire(project, cutoff_us, batch_runs)
            runs, spans = runs + done.runs, spans + done.spans
            if done.runs < batch_runs:
                break
    return SweepResult(runs, spans)


class Sweeper:
    def __init__(self, store: TraceStore, default_days: int, interval_s: float) -> None:
        self._store = store
        self._default_days = default_days
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracehound-retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                result = sweep(self._store, self._default_days)
            except StoreUnavailable as exc:
                # Expected while the database server is away; ingest and the API report it too.
                log.warning("retention sweep skipped, will retry next round: %s", exc)
                continue
            except Exception:
                log.exception("retention sweep failed; will retry")
                continue
            if result.runs:
                log.info("retention: deleted the %d spans of %d runs", result.spans, result.runs)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=30)
