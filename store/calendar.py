"""The working-day calendar in PostgreSQL: a per-process cached calendar value, and loading a year."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, selectinload

from domain.working_days import OfficialYear, WorkingDayCalendar
from store import audit
from store.models.calendar import DAY_OFF, WORKING_DAY, CalendarDay, CalendarYear

_lock = threading.Lock()
# Per database: (stamp, calendar). The stamp (number of years, latest load) changes with every load,
# replacement or removal of a year, so a stale calendar is never served; checking it is one tiny query.
_cache: dict[str, tuple[tuple[int, datetime | None], WorkingDayCalendar]] = {}


def current(session: Session) -> WorkingDayCalendar:
    """The calendar as loaded in the database, rebuilt only when a year was loaded since."""
    stamp = tuple(session.execute(select(func.count(), func.max(CalendarYear.loaded_at))).one())
    key = str(session.get_bind().url)
    with _lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    calendar = WorkingDayCalendar([official_year(y) for y in _years_with_days(session)])
    with _lock:
        _cache[key] = (stamp, calendar)  # type: ignore[assignment]
    return calendar


def _years_with_days(session: Session) -> list[CalendarYear]:
    return list(session.scalars(select(CalendarYear).options(selectinload(CalendarYear.days))
                                .order_by(CalendarYear.year)))


def official_year(row: CalendarYear) -> OfficialYear:
    return OfficialYear(
        year=row.year, notice=row.notice,
        days_off={d.day: d.holiday for d in row.days if d.kind == DAY_OFF},
        working_weekends={d.day: d.holiday for d in row.days if d.kind == WORKING_DAY})


def years(session: Session) -> list[CalendarYear]:
    return _years_with_days(session)


def get_year(session: Session, year: int) -> CalendarYear | None:
    return session.scalar(select(CalendarYear).options(selectinload(CalendarYear.days))
                          .where(CalendarYear.year == year))


class YearAlreadyLoaded(Exception):
    def __init__(self, year: int) -> None:
        super().__init__(f"the calendar of {year} is already loaded with other days; replace it explicitly")
        self.year = year


@dataclass(frozen=True)
class LoadResult:
    row: CalendarYear
    outcome: str  # "loaded" (new year), "replaced", or "unchanged" (same content again: a harmless retry)


def load_year(
    session: Session,
    y: OfficialYear,
    *,
    replace: bool,
    loaded_by: str,
    now: datetime,
    actor_user_id: int | None = None,
    actor_role: str | None = None,
) -> LoadResult:
    """Store one official year in the caller's transaction, audited.

    A new year is inserted. An existing year is changed only with `replace=True` (else
    YearAlreadyLoaded); loading the very same content again changes nothing and records nothing.
    """
    inserted = session.execute(
        insert(CalendarYear).values(year=y.year, notice=y.notice, loaded_at=now, loaded_by=loaded_by)
        .on_conflict_do_nothing(index_elements=[CalendarYear.year]).returning(CalendarYear.year)
    ).scalar_one_or_none()
    if inserted is None:
        # Lock the year so two concurrent replacements apply one after the other.
        row = session.scalar(select(CalendarYear).where(CalendarYear.year == y.year).with_for_update()
                             .options(selectinload(CalendarYear.days)).execution_options(populate_existing=True))
        assert row is not None
        previous = official_year(row)
        if previous == y:
            return LoadResult(row, "unchanged")
        if not replace:
            raise YearAlreadyLoaded(y.year)
        row.days.clear()
        session.flush()  # the old days go before the new ones (same dates) come in
        row.notice, row.loaded_at, row.loaded_by = y.notice, now, loaded_by
        outcome = "replaced"
    else:
        row = session.get(CalendarYear, y.year)
        assert row is not None
        previous = None
        outcome = "loaded"
    row.days.extend(
        [CalendarDay(day=d, kind=DAY_OFF, holiday=h) for d, h in y.days_off.items()]
        + [CalendarDay(day=d, kind=WORKING_DAY, holiday=h) for d, h in y.working_weekends.items()])
    session.flush()
    details: dict = {"days_off": len(y.days_off), "working_weekends": len(y.working_weekends),
                     "notice": y.notice, "loaded_by": loaded_by}
    if previous is not None:
        details["previous"] = {"days_off": sorted(d.isoformat() for d in previous.days_off),
                               "working_weekends": sorted(d.isoformat() for d in previous.working_weekends),
                               "notice": previous.notice}
    audit.record(session, action=f"calendar.year_{outcome}", entity_type="calendar_year", entity_id=y.year,
                 occurred_at=now, actor_user_id=actor_user_id, actor_role=actor_role, details=details)
    row.days.sort(key=lambda d: d.day)
    return LoadResult(row, outcome)
