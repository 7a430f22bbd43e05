"""Expert committee roster and the PostgreSQL mirror of panel reviews and their tasks (SPEC §2.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class Expert(Base):
    """A member of the expert committee (Art. 5); the roster is public, conflicts are not."""

    __tablename__ = "experts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    affiliation_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    expertise: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    declared_conflict_organisation_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class Review(Base):
    """One PanelReview workflow (review_id = its workflow id), mirrored at each stage change."""

    __tablename__ = "reviews"

    review_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(100), index=True)  # the parent case
    case_type: Mapped[str] = mapped_column(String(40))
    authority_role: Mapped[str] = mapped_column(String(30))
    round_no: Mapped[int]
    subject: Mapped[str] = mapped_column(String(300))
    applicant_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    verifier_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    stage: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str | None] = mapped_column(String(20))
    mean_score_hundredths: Mapped[int | None]
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    revision: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ReviewTaskRow(Base):
    """One expert's assignment, as the workflow last reported it."""

    __tablename__ = "review_tasks"
    __table_args__ = (Index("ix_review_tasks_expert_status", "expert_id", "status"),)

    task_id: Mapped[str] = mapped_column(String(140), primary_key=True)
    review_id: Mapped[str] = mapped_column(ForeignKey("reviews.review_id"), index=True)
    seq: Mapped[int]
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"))
    status: Mapped[str] = mapped_column(String(20))
    assigned_at: Mapped[datetime]
    due: Mapped[datetime]
    due_provisional: Mapped[bool] = mapped_column(default=False)
    remind_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]
    vote: Mapped[str | None] = mapped_column(String(20))
    comments: Mapped[str | None] = mapped_column(Text)
    scores: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)
    decided_at: Mapped[datetime | None]
    recusal_reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None]
    replaced_by_task_id: Mapped[str | None] = mapped_column(String(140))
