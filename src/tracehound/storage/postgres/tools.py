"""PLACEHOLDER: to be written (branch pg only; never lands on main like this)."""

from __future__ import annotations

from tracehound.storage.postgres.connect import Conn
from tracehound.storage.types import ToolCalls


def tool_calls(conn: Conn, project_id: str, start_us: int, end_us: int) -> list[ToolCalls]:
    raise NotImplementedError
