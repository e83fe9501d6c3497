"""Per-hour versions kept by the writer, and a bounded in-process cache of per-hour facts checked
against them (what /stats reads for the whole past hours of its windows).

The writer and the readers share one process (SqliteStore), so versions are a dict behind a lock.
For every (project, hour) a transaction touches, the writer marks the hour pending and stamps it
before COMMIT, and stamps it again (no longer pending) after COMMIT. A reader takes the global
stamp before its read snapshot starts; after, an hour is usable (its cached entry read, or a new
entry stored) only when it is not pending and its stamp is no newer than that: then every commit
that touched the hour finished before the snapshot, and none has started since, so the snapshot
and an entry with the same stamp see the hour alike. A write that commits concurrently can only
make an entry look stale, never fresh.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Sequence
from typing import Generic, Protocol, TypeVar

# (project, hour start in µs)
HourRef = tuple[str, int]


def values_bytes(values: Sequence[int]) -> int:
    """About what `values` holds in memory: 8 bytes a value packed, 40 in a list."""
    return (8 if isinstance(values, array) else 40) * len(values)


class Sized(Protocol):
    def size_bytes(self) -> int: ...


T = TypeVar("T", bound=Sized)


class HourVersions:
    """The stamps. They only grow, and they are kept for every hour ever written (about a hundred
    bytes each: a year of one project is under a megabyte), because forgetting one could make an
    old entry look fresh again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamp = 0
        self._hours: dict[HourRef, int] = {}
        self._pending: set[HourRef] = set()

    def begin(self, hours: Iterable[HourRef]) -> None:
        """Before COMMIT of a transaction that touched `hours`."""
        self._mark(hours, pending=True)

    def end(self, hours: Iterable[HourRef]) -> None:
        """After COMMIT (or ROLLBACK) of that transaction."""
        self._mark(hours, pending=False)

    def _mark(self, hours: Iterable[HourRef], pending: bool) -> None:
        with self._lock:
            for h in hours:
                self._stamp += 1
                self._hours[h] = self._stamp
                if pending:
                    self._pending.add(h)
                else:
                    self._pending.discard(h)

    def stamp(self) -> int:
        """Take this before the read snapshot starts."""
        with self._lock:
            return self._stamp

    def usable(self, hours: Iterable[HourRef], since: int) -> dict[HourRef, int]:
        """The stamps of those of `hours` a snapshot started after `since` was taken sees as
        cached entries with the same stamp do."""
        with self._lock:
            out = {}
            for h in hours:
                v = self._hours.get(h, 0)
                if v <= since and h not in self._pending:
                    out[h] = v
            return out


class HourCache(Generic[T]):
    """Entries (of one hour, or of a run of hours), each tagged with the stamps it was read
    under, evicted least recently used first once their estimated size passes `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[Hashable, T, int]] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0

    def get(self, hour: Hashable, stamp: Hashable) -> T | None:
        with self._lock:
            entry = self._entries.get(hour)
            if entry is None or entry[0] != stamp:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(hour)
            return entry[1]

    def put(self, hour: Hashable, stamp: Hashable, value: T) -> None:
        size = value.size_bytes()
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(hour, None)
            if old is not None:
                self._bytes -= old[2]
            self._entries[hour] = (stamp, value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, _, freed) = self._entries.popitem(last=False)
                self._bytes -= freed

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
