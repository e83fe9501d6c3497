"""Named periods and time bounds, shared by every endpoint that takes `period`."""

from __future__ import annotations

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
