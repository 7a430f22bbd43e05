"""Expert roster and review mirror: the writes and reads the review activities and API share."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.clock import now_utc
from domain.review import PanelCheck, PanelMember, ReviewMirror, TaskStatus, conflict_reasons
from domain.rules import Kind, Refusal
from store import audit
from store.models.identity import User
from store.models.review import Expert, Review, ReviewTaskRow

DONE_STATUSES = (TaskStatus.DECIDED, TaskStatus.RECUSED, TaskStatus.REPLACED, TaskStatus.CANCELLED)


def create_expert(session: Session, *, actor: User, **fields: Any) -> Expert:
    expert = Expert(**fields)
    session.add(expert)
    session.flush()
    audit.record(session, action="expert.created", entity_type="expert", entity_id=expert.id,
                 occurred_at=now_utc(), actor_user_id=actor.id, actor_role=actor.role,
                 details={k: v for k, v in fields.items() if k != "name"})
    return expert


def update_expert(session: Session, expert: Expert, changes: dict[str, Any], *, actor: User) -> Expert:
    changed = {k: v for k, v in changes.items() if getattr(expert, k) != v}
    if not changed:
        return expert  # a repeated PATCH is harmless and writes nothing
    for k, v in changed.items():
        setattr(expert, k, v)
    session.flush()
    audit.record(session, action="expert.updated", entity_type="expert", entity_id=expert.id,
                 occurred_at=now_utc(), actor_user_id=actor.id, actor_role=actor.role,
                 details={k: v for k, v in changed.items() if k != "name"})
    return expert


def panel_members(session: Session, check: PanelCheck) -> list[PanelMember]:
    """The proposed experts, in the order given; refuses the first unknown, inactive or conflicted one
    (SPEC §2.1: never the applicant's or verifier's organisation, nor a declared conflict)."""
    found = {e.id: e for e in session.scalars(select(Expert).where(Expert.id.in_(check.expert_ids)))}
    members = []
    for expert_id in check.expert_ids:
        expert = found.get(expert_id)
        if expert is None:
            raise Refusal(Kind.INVALID, "exists", f"expert {expert_id} is not on the roster", field="expert_ids")
        reasons = conflict_reasons(
            affiliation_organisation_id=expert.affiliation_organisation_id,
            declared_conflict_organisation_ids=expert.declared_conflict_organisation_ids,
            active=expert.active,
            applicant_organisation_id=check.applicant_organisation_id,
            verifier_organisation_id=check.verifier_organisation_id,
        )
        if reasons:
            raise Refusal(Kind.INVALID, reasons[0], f"expert {expert_id} may not review this case: {', '.join(reasons)}",
                          field="expert_ids")
        members.append(PanelMember(expert_id=expert.id, user_id=expert.user_id))
    return members


def _review_statements():
    reviews, tasks = Review.__table__, ReviewTaskRow.__table__
    review = insert(reviews)
    review = review.on_conflict_do_update(
        index_elements=[reviews.c.review_id],
        set_={k: review.excluded[k] for k in ("stage", "outcome", "mean_score_hundredths", "revision", "updated_at")},
        where=reviews.c.revision < review.excluded.revision,
    ).returning(reviews.c.review_id)
    task = insert(tasks)
    fixed = {"task_id", "seq", "expert_id", "assigned_at", "review_id"}
    task = task.on_conflict_do_update(
        index_elements=[tasks.c.task_id],
        set_={c.name: task.excluded[c.name] for c in tasks.c if c.name not in fixed})
    return review, task


# Built once: every change of every review runs them (see store.cases._MIRROR).
_REVIEW, _TASK = _review_statements()
_TASK_INSTANTS = ("assigned_at", "due", "remind_at", "reminded_at", "overdue_at", "decided_at", "closed_at")


def mirror_review(session: Session, m: ReviewMirror) -> None:
    """Upsert the review and its tasks from the workflow's snapshot; an older revision changes nothing.
    Two statements whatever the panel size (the tasks' rows go in one batch)."""
    row = m.model_dump(mode="json", exclude={"tasks", "occurred_at"})
    if session.execute(_REVIEW, {**row, "created_at": m.occurred_at, "updated_at": m.occurred_at}
                       ).scalar_one_or_none() is None or not m.tasks:
        return  # this revision (or a newer one) is already stored
    rows = []
    for task in m.tasks:
        values = task.model_dump(mode="json", exclude={"expert_user_id"})
        values.update({k: getattr(task, k) for k in _TASK_INSTANTS}, review_id=m.review_id)
        rows.append(values)
    session.execute(_TASK, rows)


def expert_for_user(session: Session, user_id: int) -> Expert | None:
    return session.scalar(select(Expert).where(Expert.user_id == user_id))


def tasks_of_expert(session: Session, expert_id: int, *, done: bool, limit: int, offset: int
                    ) -> list[tuple[ReviewTaskRow, Review]]:
    statuses = [s.value for s in DONE_STATUSES] if done else [TaskStatus.OPEN.value]
    rows = session.execute(
        select(ReviewTaskRow, Review).join(Review, Review.review_id == ReviewTaskRow.review_id)
        .where(ReviewTaskRow.expert_id == expert_id, ReviewTaskRow.status.in_(statuses))
        .order_by(ReviewTaskRow.due, ReviewTaskRow.task_id).limit(limit).offset(offset))
    return [(t, r) for t, r in rows]


def tasks_of_review(session: Session, review_id: str) -> list[ReviewTaskRow]:
    return list(session.scalars(select(ReviewTaskRow).where(ReviewTaskRow.review_id == review_id)
                                .order_by(ReviewTaskRow.seq)))
