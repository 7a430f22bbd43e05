"""Working-day deadlines for workflows: the calendar lives in PostgreSQL and may change, so workflows
ask this activity (passing workflow.now()) instead of computing deadlines themselves."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from domain.contracts.calendar import (
    COMPUTE_DEADLINE,
    RESUME_DEADLINE,
    Deadline,
    DeadlineRequest,
    ResumeRequest,
    Resumed,
)
from settings import Settings
from store import calendar


class CalendarActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=COMPUTE_DEADLINE)
    def compute_deadline(self, req: DeadlineRequest) -> Deadline:
        with self.session_factory() as session:
            cal = calendar.current(session)
        result = cal.period_end(req.start, req.working_days, req.not_before)
        return Deadline(end=result.end, provisional=result.provisional)

    @activity.defn(name=RESUME_DEADLINE)
    def resume_deadline(self, req: ResumeRequest) -> Resumed:
        with self.session_factory() as session:
            cal = calendar.current(session)
        left = cal.remaining(req.paused_at, req.due)
        return Resumed(end=cal.period_end(req.resumed_at, left).end, remaining_working_days=left)


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [CalendarActivities(session_factory)]
