"""China's official working-day calendar and working-day periods (SPEC §3). Pure: no I/O.

A date is a working day when it is Monday–Friday and not an official day off, or when it is a weekend
day the State Council made a working day (调休). Official data comes per year; a year without it is
assumed to have weekends only, and any answer that relies on such a year is marked provisional.

Periods (`WorkingDayCalendar.period_end`) are counted in Asia/Shanghai local dates:
- a start T at exactly local 00:00 of a working day counts that day as the first working day;
- a start T at any other moment (during a day) counts from the next working day after that date
  (T at local 00:00 of a day off likewise counts from the next working day);
- the end of the N-th working day is represented exactly as the local midnight that starts the
  following calendar day, an aware datetime in Asia/Shanghai (so "deadline passed" is `now >= end`);
- N = 0 is an empty period: the end is T itself;
- `provisional` is true when any year from T's local date to the last counted day has no official data;
- `not_before` (a previously announced end) is a floor: a recomputation, e.g. after the year's official
  calendar is loaded, never makes a legal period shorter; `provisional` still describes the data used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import MappingProxyType

from domain.clock import SHANGHAI

_DAY = timedelta(days=1)


def is_weekend(d: date) -> bool:
    return d.weekday() >= 5


@dataclass(frozen=True)
class OfficialYear:
    """One year's official exceptions: weekday days off and weekend working days, each with its holiday."""

    year: int
    days_off: Mapping[date, str] = field(default_factory=dict)
    working_weekends: Mapping[date, str] = field(default_factory=dict)
    notice: str | None = None


@dataclass(frozen=True)
class PeriodEnd:
    end: datetime
    provisional: bool


class WorkingDayCalendar:
    """The calendar value: official years by number; every other year is weekends-only (provisional)."""

    def __init__(self, years: Mapping[int, OfficialYear] | list[OfficialYear] = ()) -> None:
        items = years.values() if isinstance(years, Mapping) else years
        self.years: Mapping[int, OfficialYear] = MappingProxyType({y.year: y for y in items})
        self._off = frozenset(d for y in self.years.values() for d in y.days_off)
        self._work = frozenset(d for y in self.years.values() for d in y.working_weekends)

    def is_official(self, year: int) -> bool:
        return year in self.years

    def is_working_day(self, d: date) -> bool:
        if d in self._work:
            return True
        return not is_weekend(d) and d not in self._off

    def remaining(self, at: datetime, end: datetime) -> int:
        """Full working days of a period ending at `end` (a period_end) still to run at `at`: the
        working days after `at`'s day (its own day too when `at` is midnight) and before `end`. A paused
        period resumes with this many: period_end(resumed_at, remaining(paused_at, end))."""
        local, stop = at.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
        day = local.date() if local.time() == time(0) else local.date() + _DAY
        last = stop.date() if stop.time() != time(0) else stop.date() - _DAY
        count = 0
        while day <= last:
            count += self.is_working_day(day)
            day += _DAY
        return count

    def period_end(self, start: datetime, working_days: int, not_before: datetime | None = None) -> PeriodEnd:
        """End of the `working_days`-th full working day after `start` (rules in the module docstring)."""
        if start.tzinfo is None or (not_before is not None and not_before.tzinfo is None):
            raise ValueError("start and not_before must be timezone-aware instants")
        if working_days < 0:
            raise ValueError("working_days must be >= 0")
        local = start.astimezone(SHANGHAI)
        if working_days == 0:
            end, last = local, local.date()
        else:
            day = local.date() if local.time() == time(0) else local.date() + _DAY
            counted = 0
            while True:
                if self.is_working_day(day):
                    counted += 1
                    if counted == working_days:
                        break
                day += _DAY
            last = day
            end = datetime.combine(last + _DAY, time(0), tzinfo=SHANGHAI)
        provisional = any(not self.is_official(y) for y in range(local.year, last.year + 1))
        if not_before is not None and not_before > end:
            end = not_before.astimezone(SHANGHAI)
        return PeriodEnd(end=end, provisional=provisional)


def working_days_left(cal: WorkingDayCalendar, now: datetime, ends_at: datetime) -> int:
    """Whole working days of the period still to run after today (publicity, Art. 20): a notice of 7
    working days that opened today shows 7; on its last day it shows 0 while still open."""
    if ends_at <= now:
        return 0
    day = now.astimezone(SHANGHAI).date() + timedelta(days=1)
    last = (ends_at.astimezone(SHANGHAI) - timedelta(microseconds=1)).date()
    count = 0
    while day <= last:
        count += cal.is_working_day(day)
        day += timedelta(days=1)
    return count
