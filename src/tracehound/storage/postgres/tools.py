"""Tool calls of a time window, by tool: how often each tool ran, failed, and how long it took."""

from __future__ import annotations

from tracehound.storage.postgres.connect import Conn
from tracehound.storage.types import ToolCalls


def tool_calls(conn: Conn, project_id: str, start_us: int, end_us: int) -> list[ToolCalls]:
    """Spans of kind `tool` starting in [start_us, end_us), keyed by tool name (the operation name
    when the convention names no tool), in tool order as SQLite's GROUP BY gives them. Durations
    come back as one array per tool."""
    rows = conn.execute(
        """SELECT COALESCE(tool_name, operation_name), SUM(is_error)::bigint,
                  array_agg(finish_time_us - start_time_us)
           FROM spans
           WHERE project_id = %s AND start_time_us >= %s AND start_time_us < %s AND kind = 'tool'
           GROUP BY 1 ORDER BY 1""",
        (project_id, start_us, end_us),
    )
    return [
        ToolCalls(tool=tool, errors=int(errors), durations_us=sorted(durations))
        for tool, errors, durations in rows
    ]
