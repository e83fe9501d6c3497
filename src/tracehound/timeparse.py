"""Named periods and time bounds, shared by every endpoint that takes `period`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR

PERIODS: dict[str, int] = {
    "last_5_minutes": 5 * _MINUTE,
    "last_15_minutes": 15 * _MINUTE,
    "last_30_minutes": 30 * _MINUTE,
    "last_hour": _HOUR,
    "last_3_hours": 3 * _HOUR,
    "last_6_hours": 6 * _HOUR,
    "last_12_hours": 12 * _HOUR,
    "last_day": _DAY,
    "last_24_hours": _DAY,
    "last_2_days": 2 * _DAY,
    "last_3_days": 3 * _DAY,
    "last_week": 7 * _DAY,
    "last_7_days": 7 * _DAY,
    "last_2_weeks": 14 * _DAY,
    "last_month": 30 * _DAY,
    "last_30_days": 30 * _DAY,
    "last_3_months": 90 * _DAY,
    "last_90_days": 90 * _DAY,
    "last_year": 365 * _DAY,
}


DEFAULT_PERIOD = "last_day"


class UnknownPeriod(ValueError):
    def __init__(self, period: str) -> None:
        super().__init__(f"unknown period {period!r}; use one of: {', '.join(PERIODS)}, or all")


def period_start_us(period: str, now_us: int) -> int | None:
    """Start of a named period ending now; None for `all`."""
    if period == "all":
        return None
    seconds = PERIODS.get(period)
    if seconds is None:
        raise UnknownPeriod(period)
    return now_us - seconds * 1_000_000


class BadInstant(ValueError):
    def __init__(self, value: str) -> None:
        super().__init__(
            f"cannot read {value!r} as a time: give µs since the epoch or ISO 8601 "
            "(e.g. 2026-11-26T08:00:00Z)"
        )


def parse_instant_us(value: str) -> int:
    """An instant as µs since the epoch, from either an integer of µs or ISO 8601 text (a
    time without a zone is taken as UTC)."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadInstant(value) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadWindow(ValueError):
    """Window parameters that contradict each other."""


@dataclass(frozen=True, slots=True)
class Window:
    """[start_us, end_us), and the window of equal length just before it (None for `all`)."""

    start_us: int
    end_us: int
    previous: tuple[int, int] | None


def resolve_window(period: str | None, start_us: int | None, end_us: int | None, now_us: int) -> Window:
    """`start` (and `end`, default now) give the window; otherwise `period` (default last_day)
    ending at `end` or now. Raises UnknownPeriod or BadWindow."""
    if period is not None and start_us is not None:
        raise BadWindow("give either period or start (with an optional end), not both")
    end = now_us if end_us is None else end_us
    if start_us is None:
        start = period_start_us(period or DEFAULT_PERIOD, end)
        start = 0 if start is None else max(start, 0)  # None: `all`
    else:
        start = start_us
    if start >= end:
        raise BadWindow(f"start ({start} µs) must be before end ({end} µs)")
    if start == 0:  # nothing precedes the epoch
        return Window(start, end, None)
    length = end - start
    return Window(start, end, (max(start - length, 0), start))
