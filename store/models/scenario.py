"""Scenarios (SPEC §2.3, Art. 12–16): evaluation specs, scenarios, self-assessments, cases, labels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.base import Base


class EvaluationSpec(Base):
    """One version of the evaluation specification (评价规范) of a scenario category."""

    __tablename__ = "scenario_specs"
    __table_args__ = (UniqueConstraint("category", "version", name="uq_scenario_specs_category_version"),
                      CheckConstraint("pass_mark BETWEEN 1 AND 100", name="pass_mark_range"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    category: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    # draft → in_review (the bureau's expert panel, Art. 12) → published, or returned (not approved)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    pass_mark: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None]
    review_id: Mapped[str | None] = mapped_column(String(100))
    reasons: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))

    items: Mapped[list[EvaluationSpecItem]] = relationship(
        back_populates="spec", order_by="EvaluationSpecItem.position", lazy="selectin", cascade="all, delete-orphan")


class EvaluationSpecItem(Base):
    __tablename__ = "scenario_spec_items"
    __table_args__ = (UniqueConstraint("spec_id", "code", name="uq_scenario_spec_items_spec_code"),
                      CheckConstraint("(kind = 'gate' AND weight IS NULL) OR (kind = 'weighted' AND weight BETWEEN 1 AND 100)",
                                      name="kind_weight"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    spec_id: Mapped[int] = mapped_column(ForeignKey("scenario_specs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))  # gate, weighted
    weight: Mapped[int | None] = mapped_column(Integer)

    spec: Mapped[EvaluationSpec] = relationship(back_populates="items")


class Scenario(Base):
    """A low-carbon scenario run by an organisation (场景运营主体): a shop, restaurant, hotel…"""

    __tablename__ = "scenarios"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40))
    address: Mapped[str] = mapped_column(String(500))
    district: Mapped[str] = mapped_column(String(40))
    # Art. 15–16: how users' low-carbon behaviours are recorded and rewarded in the scenario.
    behaviour_description: Mapped[str] = mapped_column(Text)
    # Included in the platform (Art. 14): may be granted data-source credentials (SPEC §2.5).
    included: Mapped[bool] = mapped_column(default=False)
    included_at: Mapped[datetime | None]
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class SelfAssessment(Base):
    """A scenario's self-assessment against one spec version; immutable once made."""

    __tablename__ = "scenario_self_assessments"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id"), index=True)
    spec_id: Mapped[int] = mapped_column(ForeignKey("scenario_specs.id"))
    total_score: Mapped[int] = mapped_column(Integer)
    passes: Mapped[bool]
    failing_items: Mapped[list[str]] = mapped_column(JSONB, default=list)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    items: Mapped[list[SelfAssessmentItem]] = relationship(
        order_by="SelfAssessmentItem.id", lazy="selectin", cascade="all, delete-orphan")


class SelfAssessmentItem(Base):
    __tablename__ = "scenario_self_assessment_items"
    __table_args__ = (UniqueConstraint("assessment_id", "code", name="uq_scenario_self_assessment_items_code"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("scenario_self_assessments.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    passed: Mapped[bool | None]
    score: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    evidence_document_ids: Mapped[list[int]] = mapped_column(JSONB, default=list)


class ScenarioCase(Base):
    """One evaluation application = one workflow `scenario-{id}`."""

    __tablename__ = "scenario_cases"
    __table_args__ = (
        # One evaluation at a time per scenario; a published case's label may still run beside a re-evaluation.
        Index("uq_scenario_cases_one_open", "scenario_id", unique=True, postgresql_where=text("closed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[str] = mapped_column(String(100), unique=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id"), index=True)
    spec_id: Mapped[int] = mapped_column(ForeignKey("scenario_specs.id"))
    self_assessment_id: Mapped[int] = mapped_column(ForeignKey("scenario_self_assessments.id"))
    round_no: Mapped[int] = mapped_column(Integer, default=1)
    submitted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime]
    outcome: Mapped[str | None] = mapped_column(String(20))  # published, rejected, withdrawn, refused
    reasons: Mapped[str | None] = mapped_column(Text)
    panel_outcome: Mapped[str | None] = mapped_column(String(20))
    panel_mean_score_hundredths: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class ScenarioLabel(Base):
    """武汉碳普惠场景标识: WH-S-{year}-{seq:04d}, one per published case."""

    __tablename__ = "scenario_labels"
    __table_args__ = (UniqueConstraint("year", "seq", name="uq_scenario_labels_year_seq"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("scenario_cases.case_id"), unique=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    expired_at: Mapped[datetime | None]  # set by the case's durable timer at expiry
    published_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class ScenarioLabelCounter(Base):
    """Last label sequence per year; the row is locked FOR UPDATE so codes have no gaps or duplicates."""

    __tablename__ = "scenario_label_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
