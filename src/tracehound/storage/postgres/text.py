"""Query values as PostgreSQL can take them. Its text cannot hold NUL, and the writer stores a
span's NUL as U+FFFD (writer.py), so a filter value is cleaned the same way: a value sent with
a NUL finds what the span sent with that NUL became, and never fails the query."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def clean(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def without_nul(value: T) -> T:
    """`value` (a string, a tuple of them, or a query dataclass of such fields) without NULs."""
    out: Any = value
    if isinstance(value, str):
        out = clean(value) if "\x00" in value else value
    elif isinstance(value, tuple):
        out = tuple(without_nul(v) for v in value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: cleaned
            for f in dataclasses.fields(value)
            if (cleaned := without_nul(old := getattr(value, f.name))) != old
        }
        out = dataclasses.replace(value, **changes) if changes else value
    return out  # type: ignore[no-any-return]
