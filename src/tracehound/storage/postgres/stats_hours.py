"""PLACEHOLDER: to be written (branch pg only; never lands on main like this)."""

from __future__ import annotations


class StatsCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
