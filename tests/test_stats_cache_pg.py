"""PostgreSQL: /stats' cached hours are checked against `hour_versions` read in the reader's own
snapshot, so a write by another store (another process, in production) invalidates them. Random
batches (tests/test_stats_cache.py's World) written by one store, read by another with a cache,
must answer as a store with no cache, to the last bit, and as SQLite fed the same batches."""

from __future__ import annotations

from pathlib import Path

from tests.test_stats_cache import ALL, World, answer, breakdowns, windows
from tracehound.storage import StoreConfig
from tracehound.storage.postgres.store import PostgresStore
from tracehound.storage.sqlite.store import SqliteStore


def test_a_write_by_another_store_invalidates_the_cache(pg_url: str, tmp_path: Path) -> None:
    world = World(7)

    def clock() -> float:
        return world.now_us / 1e6

    config = StoreConfig(url=pg_url, clock=clock, idle_timeout_s=300)
    writer = PostgresStore(config)
    reader = PostgresStore(config)
    uncached = PostgresStore(StoreConfig(url=pg_url, clock=clock, idle_timeout_s=300, stats_cache_bytes=0))
    sqlite = SqliteStore(tmp_path, clock=clock, idle_timeout_s=300, stats_cache_bytes=0)
    assert reader.stats_cache is not None and uncached.stats_cache is None
    try:
        for _ in range(8):
            batch = world.batch()
            writer.write(batch)
            sqlite.write(batch)
            world.tick()
            for w in windows(world.now_us):
                got = answer(reader, ALL, w)
                assert got == answer(reader, ALL, w)
                assert got == answer(uncached, ALL, w)
                assert got == answer(sqlite, ALL, w)
                assert breakdowns(reader, ALL, w) == breakdowns(uncached, ALL, w)
        assert reader.stats_cache.parts.hits > 0
    finally:
        for s in (writer, reader, uncached):
            s.close()
        sqlite.close()
