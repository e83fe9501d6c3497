"""PLACEHOLDER: to be written (branch pg only; never lands on main like this)."""

from __future__ import annotations

from tracehound.storage.postgres.connect import Conn
from tracehound.storage.postgres.stats_hours import StatsCache
from tracehound.storage.types import StatsData, StatsFilter
from tracehound.storage.usage import Usage, UsageKey


def stats_data(
    conn: Conn,
    f: StatsFilter,
    window: tuple[int, int],
    previous: tuple[int, int] | None,
    cutoff_us: int,
    cache: StatsCache | None,
) -> StatsData:
    raise NotImplementedError


def breakdown(
    conn: Conn, f: StatsFilter, start_us: int, end_us: int, key: UsageKey, cache: StatsCache | None
) -> Usage:
    raise NotImplementedError


def run_usage(conn: Conn, project_id: str, run_id: str) -> Usage:
    raise NotImplementedError
