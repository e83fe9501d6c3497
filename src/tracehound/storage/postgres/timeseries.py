"""PLACEHOLDER: to be written (branch pg only; never lands on main like this)."""

from __future__ import annotations

from tracehound.storage.postgres.connect import Conn
from tracehound.storage.postgres.stats_hours import StatsCache
from tracehound.storage.types import BucketAggregate, BucketValues, SeriesQuery


def bucket_aggregates(conn: Conn, q: SeriesQuery, cutoff_us: int) -> list[BucketAggregate]:
    raise NotImplementedError


def bucket_values(conn: Conn, q: SeriesQuery, cutoff_us: int, cache: StatsCache | None) -> list[BucketValues]:
    raise NotImplementedError
