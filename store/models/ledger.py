"""Institutional accounts and the serial-numbered ledger of whole tonnes (SPEC §2.6, Art. 21, 24)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class InstitutionalAccount(Base):
    """One per organisation; the number is derived from the organisation id, so it never changes."""

    __tablename__ = "institutional_accounts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_number: Mapped[str] = mapped_column(String(20), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), unique=True)
    opened_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SerialSeries(Base):
    """The next free serial number of a series (vintage + project + methodology)."""

    __tablename__ = "serial_series"

    prefix: Mapped[str] = mapped_column(String(120), primary_key=True)
    next_number: Mapped[int] = mapped_column(BigInteger)


class Issuance(Base):
    """One issuance of project reductions; `issuance_key` (the case id) makes it happen at most once."""

    __tablename__ = "issuances"
    __table_args__ = (
        CheckConstraint("tonnes >= 0 AND remainder_grams >= 0 AND remainder_grams < 1000000", name="quantities"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    issuance_key: Mapped[str] = mapped_column(String(100), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("institutional_accounts.id"), index=True)
    vintage: Mapped[int] = mapped_column(Integer)
    verified_grams: Mapped[int] = mapped_column(BigInteger)
    tonnes: Mapped[int] = mapped_column(BigInteger)
    # Art. 21 issues whole tonnes; the fraction is recorded here and never issued.
    remainder_grams: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime]
    issued_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class UnitBlock(Base):
    """An inclusive range of serial numbers of one series held by one account."""

    __tablename__ = "unit_blocks"
    __table_args__ = (
        UniqueConstraint("serial_prefix", "serial_start", name="uq_unit_blocks_series_start"),
        CheckConstraint("serial_start >= 1 AND serial_end >= serial_start", name="range"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("institutional_accounts.id"), index=True)
    serial_prefix: Mapped[str] = mapped_column(String(120))
    serial_start: Mapped[int] = mapped_column(BigInteger)
    serial_end: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20), default="active")  # active; later reserved, retired
    issuance_id: Mapped[int] = mapped_column(ForeignKey("issuances.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    vintage: Mapped[int] = mapped_column(Integer)
    # Art. 24: reductions issued here may not be declared in any other scheme.
    not_declarable_elsewhere: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
