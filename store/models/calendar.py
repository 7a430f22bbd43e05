"""The official working-day calendar (SPEC §3): loaded years and their exception days."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.base import Base

DAY_OFF = "day_off"  # a weekday that is a holiday
WORKING_DAY = "working_day"  # a weekend day that is worked (调休)


class CalendarYear(Base):
    """A year whose official State Council calendar is loaded; other years are provisional."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    notice: Mapped[str | None] = mapped_column(Text)  # the source, e.g. the notice's title and date
    loaded_at: Mapped[datetime]
    # Free text, not a user id: seeded years come from the migration, and users may later be removed.
    loaded_by: Mapped[str] = mapped_column(String(200))
    days: Mapped[list[CalendarDay]] = relationship(
        back_populates="calendar_year", order_by="CalendarDay.day", cascade="all, delete-orphan",
        passive_deletes=True)


class CalendarDay(Base):
    __tablename__ = "calendar_days"
    __table_args__ = (CheckConstraint(f"kind IN ('{DAY_OFF}', '{WORKING_DAY}')", name="kind"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(SmallInteger, ForeignKey("calendar_years.year", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    holiday: Mapped[str] = mapped_column(String(100))
    calendar_year: Mapped[CalendarYear] = relationship(back_populates="days")
