"""Methodology cases, published methodologies, their versions and behaviour tables (SPEC §2.2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.base import Base


class MethodologyCase(Base):
    """One submission case (workflow id = case_id); stage and content mirrored from the workflow."""

    __tablename__ = "methodology_cases"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[str] = mapped_column(String(100), unique=True)
    applicant_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    commissioned: Mapped[bool] = mapped_column(default=False)  # registered by the bureau, which commissioned it (Art. 10)
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(300))
    code_suggestion: Mapped[str | None] = mapped_column(String(60))
    scope: Mapped[str] = mapped_column(String(20), index=True)
    domain: Mapped[str] = mapped_column(String(40), index=True)
    summary: Mapped[str] = mapped_column(Text)
    # The submitted table: [{code, name, unit, factor_e4, daily_cap}], factors as exact integers.
    behaviours: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    document_ids: Mapped[list[int]] = mapped_column(JSONB, default=list)
    stage: Mapped[str] = mapped_column(String(40), index=True)
    submission_no: Mapped[int] = mapped_column(default=1)
    round_no: Mapped[int] = mapped_column(default=0)
    deadline: Mapped[datetime | None]
    review_id: Mapped[str | None] = mapped_column(String(140))
    reasons: Mapped[list[str]] = mapped_column(JSONB, default=list)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("methodology_versions.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Methodology(Base):
    """A published methodology, e.g. WH-M-TRAVEL-001; its versions carry the content."""

    __tablename__ = "methodologies"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    scope: Mapped[str] = mapped_column(String(20), index=True)
    domain: Mapped[str] = mapped_column(String(40), index=True)
    owner_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | retired
    origin_case_id: Mapped[str] = mapped_column(String(100), unique=True)
    published_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]

    versions: Mapped[list[MethodologyVersion]] = relationship(
        back_populates="methodology", order_by="MethodologyVersion.version_no")


class MethodologyVersion(Base):
    __tablename__ = "methodology_versions"
    __table_args__ = (
        UniqueConstraint("methodology_id", "version_no", name="uq_methodology_versions_number"),
        # At most one current version per methodology: new users always get that one.
        Index("uq_methodology_versions_one_current", "methodology_id", unique=True,
              postgresql_where=text("status = 'current'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    methodology_id: Mapped[int] = mapped_column(ForeignKey("methodologies.id"), index=True)
    version_no: Mapped[int]
    status: Mapped[str] = mapped_column(String(20))  # current | superseded | retired
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text)
    document_ids: Mapped[list[int]] = mapped_column(JSONB, default=list)
    case_id: Mapped[str] = mapped_column(String(100), unique=True)  # the case that published it
    published_at: Mapped[datetime]
    reevaluation_due: Mapped[datetime]
    superseded_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]

    methodology: Mapped[Methodology] = relationship(back_populates="versions", lazy="joined", innerjoin=True)
    behaviours: Mapped[list[MethodologyBehaviour]] = relationship(order_by="MethodologyBehaviour.position")


class MethodologyBehaviour(Base):
    """One behaviour type of a personal methodology version: its factor and daily cap per person."""

    __tablename__ = "methodology_behaviours"
    __table_args__ = (
        UniqueConstraint("version_id", "code", name="uq_methodology_behaviours_code"),
        CheckConstraint("factor_e4 > 0", name="factor_positive"),
        CheckConstraint("daily_cap > 0", name="daily_cap_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("methodology_versions.id"), index=True)
    position: Mapped[int]
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(100))
    factor_e4: Mapped[int] = mapped_column(BigInteger)  # gCO2e per unit, ten-thousandths of a gram
    daily_cap: Mapped[int] = mapped_column(BigInteger)  # units of quantity per person per day


class MethodologyReevaluation(Base):
    """A re-evaluation case of a published version (its own workflow, case_id)."""

    __tablename__ = "methodology_reevaluations"
    __table_args__ = (
        # One open re-evaluation per methodology at a time (open, or its revision with a panel).
        Index("uq_methodology_reevaluations_one_open", "methodology_id", unique=True,
              postgresql_where=text("stage IN ('open', 'panel_review')")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[str] = mapped_column(String(100), unique=True)
    methodology_id: Mapped[int] = mapped_column(ForeignKey("methodologies.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("methodology_versions.id"))
    stage: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)  # why it was opened
    decision_reason: Mapped[str | None] = mapped_column(Text)
    new_version_id: Mapped[int | None] = mapped_column(ForeignKey("methodology_versions.id"))
    # The panel review of the latest revision (Art. 7 with Art. 11) and, when it did not approve, why.
    review_id: Mapped[str | None] = mapped_column(String(100))
    reasons: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    opened_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
