"""PLACEHOLDER: to be written (branch pg only; never lands on main like this)."""

from __future__ import annotations

from typing import Any

from tracehound.storage.postgres.connect import Conn
from tracehound.storage.queries import GroupQuery, Page, RunQuery


def list_runs(conn: Conn, q: RunQuery, cutoff_us: int) -> Page:
    raise NotImplementedError


def get_run(conn: Conn, project_id: str, run_id: str, cutoff_us: int) -> dict[str, Any] | None:
    raise NotImplementedError


def list_threads(conn: Conn, q: GroupQuery, cutoff_us: int) -> Page:
    raise NotImplementedError


def get_thread(conn: Conn, project_id: str, thread_id: str, cutoff_us: int) -> dict[str, Any] | None:
    raise NotImplementedError


def list_run_groups(conn: Conn, q: GroupQuery, cutoff_us: int) -> Page:
    raise NotImplementedError
