"""Projects, the authorities' reference lists, issuance cases, publicity notices and objections
(SPEC §2.4, Art. 18–24)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.base import Base


class VerifierAccreditation(Base):
    """The bureau accredits a verification body for a validity period (Art. 19); only those may be
    commissioned."""

    __tablename__ = "verifier_accreditations"
    __table_args__ = (CheckConstraint("valid_until >= valid_from", name="validity"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    reference: Mapped[str] = mapped_column(String(100))  # the accreditation document number
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    granted_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class KeyEmitter(Base):
    """A key emitting unit under the national or Hubei ETS and its compliance boundary (Art. 23)."""

    __tablename__ = "key_emitters"
    __table_args__ = (
        CheckConstraint("scheme IN ('national', 'hubei')", name="scheme"),
        CheckConstraint("effective_until IS NULL OR effective_until >= effective_from", name="effective"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    scheme: Mapped[str] = mapped_column(String(20))
    boundary_facility_ids: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_until: Mapped[date | None] = mapped_column(Date)
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class Project(Base):
    """A reduction project registered under a published, current `project` methodology (Art. 18)."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    methodology_version_id: Mapped[int] = mapped_column(ForeignKey("methodology_versions.id"), index=True)
    # The methodology as registered, for serial numbers: "WH-M-TRAVEL-001" version 1.
    methodology_code: Mapped[str] = mapped_column(String(60))
    methodology_version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(60))
    site_address: Mapped[str] = mapped_column(String(300))
    facility_id: Mapped[str] = mapped_column(String(64), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    registered_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    registered_at: Mapped[datetime]

    other_registrations: Mapped[list[OtherSchemeRegistration]] = relationship(
        back_populates="project", order_by="OtherSchemeRegistration.id", lazy="selectin")


class OtherSchemeRegistration(Base):
    """A registration of the project's facility in another scheme (CCER, VCS, GS…), Art. 24."""

    __tablename__ = "project_other_registrations"
    __table_args__ = (CheckConstraint("period_end IS NULL OR period_end >= period_start", name="period"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    scheme: Mapped[str] = mapped_column(String(40))
    registration_id: Mapped[str] = mapped_column(String(100))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)

    project: Mapped[Project] = relationship(back_populates="other_registrations")


class IssuanceCase(Base):
    """One monitoring period of a project; its workflow id is `issuance-{id}`.

    The API writes the accounting report; the workflow's activities keep the rest current.
    """

    __tablename__ = "issuance_cases"
    __table_args__ = (
        # Art. 24: a facility's reductions of a period are claimed once, whichever project or developer
        # claims them; a withdrawn or rejected case frees its period.
        ExcludeConstraint(("facility_id", "="), (text("daterange(period_start, period_end, '[]')"), "&&"),
                          name="ex_issuance_cases_facility_period", using="gist",
                          where=text("stage NOT IN ('withdrawn', 'rejected')")),
        CheckConstraint("period_end >= period_start", name="period"),
        CheckConstraint("claimed_grams > 0", name="claimed"),
        CheckConstraint("verified_grams IS NULL OR (verified_grams >= 0 AND verified_grams <= claimed_grams)",
                        name="verified"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[str] = mapped_column(String(100), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    facility_id: Mapped[str] = mapped_column(String(64))  # the project's, as filed
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    claimed_grams: Mapped[int] = mapped_column(BigInteger)
    benefit_sharing: Mapped[str] = mapped_column(Text)
    verifier_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    verified_grams: Mapped[int | None] = mapped_column(BigInteger)
    verification_conclusion: Mapped[str | None] = mapped_column(Text)
    # The workflow's stage; a withdrawn or rejected case frees its monitoring period.
    stage: Mapped[str] = mapped_column(String(40), index=True)
    filed_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filed_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PublicityNotice(Base):
    """A public notice (公示, Art. 20): one per publicity round of a case."""

    __tablename__ = "publicity_notices"
    __table_args__ = (UniqueConstraint("issuance_case_id", "round_no", name="uq_publicity_notices_round"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    issuance_case_id: Mapped[int] = mapped_column(ForeignKey("issuance_cases.id"), index=True)
    round_no: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    provisional: Mapped[bool]  # ends_at crosses a year whose official calendar is not loaded
    # What is published: project facts, verified quantity, benefit sharing (copied as they were).
    project_name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(60))
    developer_name: Mapped[str] = mapped_column(String(200))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    verified_grams: Mapped[int] = mapped_column(BigInteger)
    benefit_sharing: Mapped[str] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(index=True)
    outcome: Mapped[str | None] = mapped_column(String(20))  # completed, returned, withdrawn


class Objection(Base):
    """An objection filed by anyone during publicity. Name and contact are never shown publicly."""

    __tablename__ = "publicity_objections"
    __table_args__ = (Index("uq_publicity_objections_key", "notice_id", "idempotency_key", unique=True,
                            postgresql_where=text("idempotency_key IS NOT NULL")),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("publicity_notices.id"), index=True)
    content: Mapped[str] = mapped_column(Text)
    objector_name: Mapped[str | None] = mapped_column(String(100))
    objector_contact: Mapped[str | None] = mapped_column(String(200))
    # Keyed hash of the client address, for rate limiting only; the address itself is not kept.
    source_hash: Mapped[str] = mapped_column(String(64), index=True)
    filed_at: Mapped[datetime] = mapped_column(index=True)
    # A retried objection (same Idempotency-Key to the same notice) files nothing new; the hash of the first
    # request tells a retry from a different objection under a reused key.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]
    ruling: Mapped[str | None] = mapped_column(String(20))  # upheld, dismissed, lapsed
    ruling_reason: Mapped[str | None] = mapped_column(Text)
    ruled_at: Mapped[datetime | None]
    ruled_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
