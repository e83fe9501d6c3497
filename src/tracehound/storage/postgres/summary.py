"""PLACEHOLDER: to be written (branch pg only; never lands on main like this)."""

from __future__ import annotations

from collections.abc import Sequence

from tracehound.storage.postgres.connect import Conn
from tracehound.storage.types import SummaryData, SummarySelection


def summary_data(conn: Conn, sel: SummarySelection, findings: bool = True) -> SummaryData:
    raise NotImplementedError


def span_attributes(conn: Conn, project_id: str, refs: Sequence[int]) -> dict[int, bytes]:
    raise NotImplementedError
