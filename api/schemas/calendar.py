from __future__ import annotations

from datetime import date, datetime  # noqa: F401  (date is used in annotations below)

from pydantic import BaseModel


class CalendarDayOut(BaseModel):
    date: date
    holiday: str


class CalendarYearSummary(BaseModel):
    year: int
    notice: str | None
    loaded_at: datetime
    loaded_by: str
    days_off: int
    working_weekends: int


class CalendarYearOut(BaseModel):
    year: int
    # False: no official data is loaded; deadlines into this year assume weekends only (provisional).
    official: bool
    notice: str | None = None
    loaded_at: datetime | None = None
    loaded_by: str | None = None
    days_off: list[CalendarDayOut] = []  # weekdays that are holidays
    working_weekends: list[CalendarDayOut] = []  # weekend days that are worked (调休)


class CalendarYearLoaded(CalendarYearOut):
    outcome: str  # loaded | replaced | unchanged
    # Running cases whose provisional deadline is being recomputed against the new year (SPEC §3);
    # empty when nothing changed or Temporal is unreachable (cases also recheck at a provisional end).
    recomputing_cases: list[str] = []


class DeadlineOut(BaseModel):
    start: datetime
    working_days: int
    end: datetime  # local midnight (Asia/Shanghai) after the last working day
    provisional: bool
