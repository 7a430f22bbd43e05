"""Supervision (SPEC §2.7, Art. 33, 34): reports (举报) with sealed reporters, and sanctions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class Report(Base):
    """A report about a participant (Art. 34), case `report-{id}`. Who reported (name, contact, the
    signed-in user) is only in `reporter_sealed`, encrypted (store/sealing.py); the receipt code the
    reporter follows it with is kept only as its SHA-256."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reported_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    content: Mapped[str] = mapped_column(Text)
    evidence_document_ids: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    reporter_sealed: Mapped[str | None] = mapped_column(Text)
    receipt_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Keyed hash of the client address, for rate limiting only; the address itself is not kept.
    source_hash: Mapped[str] = mapped_column(String(64), index=True)
    filed_at: Mapped[datetime] = mapped_column(index=True)
    # The case's facts (written by its steps).
    stage: Mapped[str] = mapped_column(String(30), default="awaiting_assignment")
    handler_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ack_due: Mapped[datetime | None]
    conclude_due: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    concluded_at: Mapped[datetime | None]
    substantiated: Mapped[bool | None]
    measures: Mapped[str | None] = mapped_column(Text)
    conclusion: Mapped[str | None] = mapped_column(Text)
    overdue: Mapped[bool] = mapped_column(default=False)


class Sanction(Base):
    """A suspension or termination of a participant (Art. 33), case `sanction-{id}`. One measure in
    force per participant (partial unique index)."""

    __tablename__ = "sanctions"
    __table_args__ = (Index("uq_sanctions_in_force", "organisation_id", unique=True,
                            postgresql_where=text("stage <> 'lifted'")),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    measure: Mapped[str] = mapped_column(String(20))  # suspend, terminate
    reason: Mapped[str] = mapped_column(Text)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    imposed_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    imposed_at: Mapped[datetime]
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    # The case's facts: imposing → in_force → lifting → lifted, or imposing → terminated.
    stage: Mapped[str] = mapped_column(String(20), default="imposing")
    # Whether this sanction froze the participant's account (a reinstatement lifts only its own freeze).
    froze_account: Mapped[bool] = mapped_column(default=False)
    cases_told: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    lifted_at: Mapped[datetime | None]
    lift_reason: Mapped[str | None] = mapped_column(Text)
