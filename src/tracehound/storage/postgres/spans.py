"""PLACEHOLDER: to be written (branch pg only; never lands on main like this)."""

from __future__ import annotations

from typing import Any

from tracehound.storage.postgres.connect import Conn
from tracehound.storage.queries import GroupKey, GroupQuery, Page, SpanQuery


def list_spans(conn: Conn, q: SpanQuery) -> Page:
    raise NotImplementedError


def group_spans(
    conn: Conn, project_id: str, key: GroupKey, limit: int, offset: int, labels: tuple[str, ...] = ()
) -> Page:
    raise NotImplementedError


def list_time_groups(conn: Conn, q: GroupQuery) -> Page:
    raise NotImplementedError


def list_labels(conn: Conn, project_id: str, thread_id: str | None, limit: int) -> list[dict[str, Any]]:
    raise NotImplementedError


def list_projects(conn: Conn) -> list[dict[str, Any]]:
    raise NotImplementedError
