"""Reads of the authorities' dashboard: the case register grouped by process and stage, deadlines in a
window, review panels waiting for their authority, overdue review tasks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.review import ReviewStage, TaskStatus
from store.models.cases import Case
from store.models.review import Review, ReviewTaskRow


def cases_by_type_and_stage(session: Session) -> list[tuple[str, str, int]]:
    return [tuple(r) for r in session.execute(
        select(Case.case_type, Case.stage, func.count()).group_by(Case.case_type, Case.stage)
        .order_by(Case.case_type, Case.stage))]


def deadlines_between(session: Session, start: datetime, end: datetime, limit: int = 100) -> list[Case]:
    return list(session.scalars(select(Case).where(Case.deadline >= start, Case.deadline < end)
                                .order_by(Case.deadline).limit(limit)))


def review_tasks_due_between(session: Session, authority_role: str, start: datetime, end: datetime,
                             limit: int = 100) -> list[tuple[ReviewTaskRow, Review]]:
    return [(t, r) for t, r in session.execute(
        select(ReviewTaskRow, Review).join(Review, Review.review_id == ReviewTaskRow.review_id)
        .where(Review.authority_role == authority_role, ReviewTaskRow.status == TaskStatus.OPEN.value,
               ReviewTaskRow.due >= start, ReviewTaskRow.due < end)
        .order_by(ReviewTaskRow.due).limit(limit))]


def overdue_review_tasks(session: Session, authority_role: str, now: datetime,
                         limit: int = 100) -> list[tuple[ReviewTaskRow, Review]]:
    return [(t, r) for t, r in session.execute(
        select(ReviewTaskRow, Review).join(Review, Review.review_id == ReviewTaskRow.review_id)
        .where(Review.authority_role == authority_role, ReviewTaskRow.status == TaskStatus.OPEN.value,
               (ReviewTaskRow.overdue_at.is_not(None)) | (ReviewTaskRow.due <= now))
        .order_by(ReviewTaskRow.due).limit(limit))]


def reviews_awaiting_authority(session: Session, authority_role: str) -> list[Review]:
    """Panels to form and recused experts to replace: the authority's next step."""
    return list(session.scalars(select(Review).where(
        Review.authority_role == authority_role,
        Review.stage.in_([ReviewStage.AWAITING_PANEL.value, ReviewStage.AWAITING_REPLACEMENT.value]))
        .order_by(Review.created_at)))
