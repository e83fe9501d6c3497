"""Query parameter parsing in vLLora's dialect: CSV lists, `null`/`!null`, camelCase aliases."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, get_args
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import Query, Request

from tracehound.api.auth import principal
from tracehound.api.errors import bad_request
from tracehound.auth import read_project
from tracehound.ids import trace_id_candidates
from tracehound.model import RUN_STATUSES, RunStatus
from tracehound.storage.queries import ListFilter
from tracehound.timeparse import (
    BadInstant,
    BadWindow,
    UnknownPeriod,
    Window,
    parse_instant_us,
    resolve_window,
)

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def snake(name: str) -> str:
    return _CAMEL.sub(r"_\1", name).lower()


class CamelCaseQuery:
    """Rewrite camelCase query names (vLLora's aliases) to snake_case before routing. Giving both
    forms of one name is an error, as in vLLora."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            raw = scope["query_string"].decode("latin-1")
            if any(c.isupper() for c in raw):
                pairs = parse_qsl(raw, keep_blank_values=True)
                names = {k for k, _ in pairs}
                renamed = []
                for key, value in pairs:
                    new = snake(key)
                    if new != key and new in names:
                        await _reject(send, f"parameter given twice: {new} and {key}")
                        return
                    renamed.append((new, value))
                scope = dict(scope)
                scope["query_string"] = urlencode(renamed).encode("latin-1")
        await self.app(scope, receive, send)


async def _reject(send: Any, message: str) -> None:
    body = orjson.dumps({"error": "Invalid parameter", "message": message})
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def csv(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(item.strip() for item in value.split(",") if item.strip())


def trace_ids(value: str | None) -> tuple[str, ...]:
    """A CSV of trace ids, each in hex or vLLora's UUID form, as stored hex."""
    return tuple(h for t in csv(value) for h in trace_id_candidates(t))


def list_filter(value: str | None) -> ListFilter:
    if value is None:
        return ListFilter()
    if value.strip().lower() == "null":
        return ListFilter(is_null=True)
    if value.strip() == "!null":
        return ListFilter(not_null=True)
    return ListFilter(values=csv(value))


def statuses(value: str | None) -> tuple[RunStatus, ...]:
    out: list[RunStatus] = []
    for item in csv(value):
        s = item.lower()
        if s not in get_args(RunStatus):
            raise bad_request(f"unknown status {item!r}; use one or more of: {', '.join(RUN_STATUSES)}")
        out.append(s)  # type: ignore[arg-type]
    return tuple(out)


def project_id(request: Request) -> str:
    """The project: the `X-Project-Id` header (any string: a slug or an id), else the API key's
    only project, else `default`; one outside the key's projects is not found."""
    named = request.headers.get("x-project-id", "").strip() or None
    return read_project(principal(request), named)


# Bounds that keep every number, and the µs values computed from it, inside SQLite's 64-bit
# integers: beyond them a query would fail with an overflow (a 500) instead of answering.
MAX_TIME_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z, in µs since the epoch
MAX_TIME_S = MAX_TIME_US // 1_000_000
MAX_DURATION_MS = MAX_TIME_US / 1000
MAX_BUCKET_S = 100 * 366 * 86_400  # a century
MAX_OFFSET = 2**63 - 1


def time_us(description: str) -> Any:
    """An optional µs-since-the-epoch query parameter, within SQLite's integers."""
    return Query(None, ge=0, le=MAX_TIME_US, description=description)


def time_s(description: str) -> Any:
    """An optional seconds-since-the-epoch query parameter (the vLLora UI's startTime/endTime)."""
    return Query(None, ge=0, le=MAX_TIME_S, description=description)


def check_page(limit: int, offset: int, max_page_size: int) -> None:
    if limit < 0:
        raise bad_request(f"limit must be 0 or more, got {limit}")
    if limit > max_page_size:
        raise bad_request(f"limit must be at most {max_page_size}, got {limit}")
    if offset < 0:
        raise bad_request(f"offset must be 0 or more, got {offset}")
    if offset > MAX_OFFSET:
        raise bad_request(f"offset must be at most {MAX_OFFSET}, got {offset}")


def instant_us(name: str, value: str | None) -> int | None:
    """A time parameter given as µs since the epoch or ISO 8601; blank means absent."""
    if value is None or not value.strip():
        return None
    try:
        us = parse_instant_us(value)
    except BadInstant as exc:
        raise bad_request(f"{name}: {exc}") from None
    if not 0 <= us <= MAX_TIME_US:
        raise bad_request(f"{name} must lie between 1970 and the end of 9999, got {value!r}")
    return us


def window(now_us: int, period: str | None, start: str | None, end: str | None) -> Window:
    """The time window of an analytics request: `start` (and `end`, default now), or `period`
    (default last_day) ending at `end` or now."""
    try:
        return resolve_window(
            (period.strip() or None) if period else None,
            instant_us("start", start),
            instant_us("end", end),
            now_us,
        )
    except (UnknownPeriod, BadWindow) as exc:
        raise bad_request(str(exc)) from None
