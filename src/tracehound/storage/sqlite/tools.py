"""Tool calls of a time window, by tool: how often each tool ran, failed, and how long it took."""

from __future__ import annotations

import sqlite3

from tracehound.storage.sqlite.runs import joined_ints
from tracehound.storage.types import ToolCalls


def tool_calls(conn: sqlite3.Connection, project_id: str, start_us: int, end_us: int) -> list[ToolCalls]:
    """Spans of kind `tool` starting in [start_us, end_us), keyed by tool name (the operation name
    when the convention names no tool). Durations come back joined, one text value per tool."""
    rows = conn.execute(
        """SELECT COALESCE(tool_name, operation_name), SUM(is_error),
                  group_concat(finish_time_us - start_time_us)
           FROM spans
           WHERE project_id = ? AND start_time_us >= ? AND start_time_us < ? AND kind = 'tool'
           GROUP BY 1""",
        (project_id, start_us, end_us),
    )
    return [
        ToolCalls(tool=tool, errors=int(errors), durations_us=sorted(joined_ints(durations)))
        for tool, errors, durations in rows
    ]
