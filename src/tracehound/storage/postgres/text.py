"""Text as PostgreSQL can hold it. Its text cannot hold NUL, which span text and query values
may carry: the writer stores a span's NUL as U+FFFD, and every string parameter is sent the
same way (connect.nul_safe), so a filter value with a NUL finds what the span's NUL became."""

from __future__ import annotations


def clean(text: str) -> str:
    return text.replace("\x00", "\ufffd")
