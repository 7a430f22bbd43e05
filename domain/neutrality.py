"""Art. 17 dates: an obligation's days (Asia/Shanghai) and the instants they end at. Pure functions, used
by the workflow (deterministic) and the API."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from domain.clock import SHANGHAI
POLL = timedelta(days=7)  # a safety net: confirmed cancellations are also counted when the API signals


def due_day(year: int, month_day: int) -> date:
    """The day (MMDD policy value) of the year after `year`."""
    return date(year + 1, month_day // 100, month_day % 100)


def end_of(day: date) -> datetime:
    """The instant a day ends in Wuhan (a deadline "by 31 March" runs to the end of that day), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=SHANGHAI).astimezone(timezone.utc)


def close_of(year: int, due: date) -> datetime:
    """When a year's run settles for good: the end of the next year, or of the (extended) due day."""
    return max(end_of(date(year + 1, 12, 31)), end_of(due))


def year_of(at: datetime) -> int:
    return at.astimezone(SHANGHAI).year


def labelled_in(valid_until: datetime, year: int) -> bool:
    """Whether the label still holds on the first day of `year` (then that year's emissions are owed)."""
    return valid_until > datetime.combine(date(year, 1, 1), time(0), tzinfo=SHANGHAI)
