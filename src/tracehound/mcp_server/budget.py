"""Output budgets: every tool answer stays small enough for an agent's context. Lists stop at
their `limit` and at a character budget, whichever comes first, and say so with `truncated` and a
`next_cursor` to pass back for the rest; long texts become excerpts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from mcp.server.mcpserver.exceptions import ToolError

# About 4,000 tokens of JSON per answer unless a tool says otherwise.
DEFAULT_BUDGET_CHARS = 16_000
MAX_LIMIT = 200


class BadCursor(ToolError):
    """A cursor or limit the model got wrong: reported to it as a tool error it can correct."""


def offset_of(cursor: str | None) -> int:
    """Cursors are the offset of the next item, as a string (vLLora's `next_cursor` too)."""
    if cursor is None or cursor == "":
        return 0
    try:
        offset = int(cursor)
    except ValueError:
        raise BadCursor(
            f"cursor must be a next_cursor value from an earlier answer, got {cursor!r}"
        ) from None
    if offset < 0:
        raise BadCursor(f"cursor must not be negative, got {cursor!r}")
    return offset


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadCursor(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def size(value: Any) -> int:
    return len(orjson.dumps(value))


def page(
    items: Sequence[Any],
    *,
    total: int,
    offset: int,
    budget_chars: int = DEFAULT_BUDGET_CHARS,
    key: str = "items",
    **extra: Any,
) -> dict[str, Any]:
    """`items` (one page from `offset`) cut to the budget. The first item is always kept, so
    a cursor always moves forward."""
    kept: list[Any] = []
    used = size(extra)
    for item in items:
        used += size(item) + 1
        if kept and used > budget_chars:
            break
        kept.append(item)
    following = offset + len(kept)
    more = following < total
    return {
        **extra,
        key: kept,
        "total": total,
        "truncated": more,
        "next_cursor": str(following) if more else None,
    }


def excerpt(text: str, max_chars: int, start: int = 0) -> dict[str, Any]:
    """A window of `text` from `start`, with where to continue."""
    part = text[start : start + max_chars]
    end = start + len(part)
    return {
        "text": part,
        "chars": len(text),
        "truncated": end < len(text),
        "next_offset": end if end < len(text) else None,
    }


def page_within(
    answer: dict[str, Any],
    key: str,
    cursor: str | None,
    limit: int,
    budget_chars: int = DEFAULT_BUDGET_CHARS,
) -> dict[str, Any]:
    """`answer` with its list `key` cut to one page from `cursor`, for the answers that are an
    object around one long list (a time series' buckets, a critical path). The rest of the
    object is kept whole. `{key}_total` and `{key}_truncated` describe the list; `truncated` is
    also true when the answer was already incomplete (a bottleneck report of a huge run)."""
    items = answer[key]
    offset = offset_of(cursor)
    rest = {k: v for k, v in answer.items() if k not in (key, "truncated")}
    paged = page(
        items[offset : offset + check_limit(limit)],
        total=len(items),
        offset=offset,
        budget_chars=budget_chars,
        key=key,
        **rest,
    )
    paged[f"{key}_total"] = paged.pop("total")
    paged[f"{key}_truncated"] = paged["truncated"]
    paged["truncated"] = paged["truncated"] or bool(answer.get("truncated"))
    return paged
