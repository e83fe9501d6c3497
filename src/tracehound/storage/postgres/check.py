"""PLACEHOLDER: to be written (branch pg only; never lands on main like this)."""

from __future__ import annotations

from tracehound.storage.types import CheckReport, Progress


def check(url: str, *, repair: bool = False, progress: Progress | None = None) -> CheckReport:
    raise NotImplementedError
