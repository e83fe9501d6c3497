"""PLACEHOLDER: to be written (branch pg only; never lands on main like this)."""

from __future__ import annotations

from tracehound.storage.postgres.connect import Conn
from tracehound.storage.types import OpModel, RunTimings


def run_timings(
    conn: Conn, project_id: str, run_id: str, cutoff_us: int, max_spans: int
) -> RunTimings | None:
    raise NotImplementedError


def recent_durations(
    conn: Conn,
    project_id: str,
    pairs: list[OpModel],
    since_us: int,
    until_us: int,
    max_sample: int,
    max_scan: int,
) -> dict[OpModel, list[int]]:
    raise NotImplementedError
