"""Accounts and the serial-numbered ledger of whole tonnes (SPEC §2.6, Art. 21, 24–29, 33).

Every movement of a unit is a row of `ledger_movements`; `unit_blocks` is the current state it
derives to (a test replays the movements and compares). Blocks of one series never overlap: an
EXCLUDE constraint (btree_gist) on the series and the serial range, so PostgreSQL itself refuses a
unit held twice whatever the Python above it does.
"""

from __future__ import annotations

from datetime import datetime

from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
)
from sqlalchemy.dialects.postgresql import JSONB, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class InstitutionalAccount(Base):
    """An account that holds blocks of whole tonnes: one per organisation (`TPH-I-…`) and one per
    individual who buys whole tonnes (Art. 25 names natural persons; `TPH-P-…`, the same number as the
    resident's personal account of grams). Numbers derive from the owner's id, so they never change.

    (The table keeps its first name, `institutional_accounts`; its rows are of either kind.)
    """

    __tablename__ = "institutional_accounts"
    __table_args__ = (
        CheckConstraint("(kind = 'institutional' AND organisation_id IS NOT NULL AND user_id IS NULL) OR "
                        "(kind = 'personal' AND user_id IS NOT NULL AND organisation_id IS NULL)", name="owner"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_number: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(20), server_default="institutional")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    opened_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Art. 33: a frozen account can neither send, receive, reserve nor cancel units.
    frozen_at: Mapped[datetime | None]
    frozen_reason: Mapped[str | None] = mapped_column(Text)


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
    # The scheme's rules issue whole tonnes (SPEC §2.6; not an article of the measures); the fraction is
    # recorded here and never issued.
    remainder_grams: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime]
    issued_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class UnitBlock(Base):
    """An inclusive range of serial numbers of one series held by one account."""

    __tablename__ = "unit_blocks"
    __table_args__ = (
        UniqueConstraint("serial_prefix", "serial_start", name="uq_unit_blocks_series_start"),
        CheckConstraint("serial_start >= 1 AND serial_end >= serial_start", name="range"),
        CheckConstraint("state IN ('held', 'reserved', 'frozen', 'retired')", name="state"),
        # Reserved and retired units belong to a cancellation, the others to none.
        CheckConstraint("(state IN ('reserved', 'retired')) = (cancellation_id IS NOT NULL)", name="cancellation"),
        ExcludeConstraint(("serial_prefix", "="),
                          (literal_column("int8range(serial_start, serial_end, '[]')"), "&&"),
                          name="ex_unit_blocks_no_overlap", using="gist"),
        # Picking by quantity (ledger_move): an account's blocks of a state, oldest vintage first.
        Index("ix_unit_blocks_pick", "account_id", "state", "vintage", "serial_prefix", "serial_start"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("institutional_accounts.id"))
    serial_prefix: Mapped[str] = mapped_column(String(120))
    serial_start: Mapped[int] = mapped_column(BigInteger)
    serial_end: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20), default="held")  # held, reserved, frozen, retired
    cancellation_id: Mapped[int | None] = mapped_column(ForeignKey("cancellations.id"), index=True)
    issuance_id: Mapped[int] = mapped_column(ForeignKey("issuances.id"), index=True)
    # No foreign key (migration 0015): the project of the block's issuance, copied at every split; a key
    # to the one project row every trade of the series shares would cost a MultiXact per trade.
    project_id: Mapped[int] = mapped_column(BigInteger, index=True)
    vintage: Mapped[int] = mapped_column(Integer)
    # Art. 24: reductions issued here may not be declared in any other scheme.
    not_declarable_elsewhere: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class Trade(Base):
    """A trade settled by the exchange (Art. 27): its reference is unique per exchange, and the first
    answer is kept so that the same trade sent again answers the same."""

    __tablename__ = "trades"
    __table_args__ = (
        UniqueConstraint("exchange_organisation_id", "trade_ref", name="uq_trades_exchange_ref"),
        CheckConstraint("quantity > 0", name="quantity"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The caller's own organisation and user; no foreign keys to rows every trade shares (migration 0015).
    exchange_organisation_id: Mapped[int] = mapped_column(BigInteger)
    trade_ref: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    seller_account_id: Mapped[int] = mapped_column(ForeignKey("institutional_accounts.id"), index=True)
    buyer_account_id: Mapped[int] = mapped_column(ForeignKey("institutional_accounts.id"), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    settled_at: Mapped[datetime]
    recorded_by_user_id: Mapped[int] = mapped_column(BigInteger)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB)


class Cancellation(Base):
    """An application to cancel (注销, Art. 29) units: reserved at once, then confirmed (retired, with
    a certificate), rejected or withdrawn (released). `unit` is 't' for blocks of whole tonnes; 'g' is
    kept for residents' grams, cancelled and donated the same way through the personal account."""

    __tablename__ = "cancellations"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("unit IN ('t', 'g')", name="unit"),
        CheckConstraint("status IN ('reserved', 'confirmed', 'rejected', 'withdrawn')", name="status"),
        CheckConstraint("purpose IN ('event', 'annual_neutrality', 'donation', 'other')", name="purpose"),
        UniqueConstraint("applicant_user_id", "request_key", name="uq_cancellations_request"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("institutional_accounts.id"), index=True)
    applicant_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    request_key: Mapped[str] = mapped_column(String(200))  # Idempotency-Key, or a generated one
    unit: Mapped[str] = mapped_column(String(1), server_default="t")
    quantity: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(30))
    purpose_text: Mapped[str | None] = mapped_column(Text)
    # Art. 17 annual neutrality: the scenario and the year whose emissions this offsets.
    scenario_id: Mapped[int | None] = mapped_column(ForeignKey("scenarios.id"), index=True)
    neutrality_year: Mapped[int | None] = mapped_column(Integer)
    beneficiary_name: Mapped[str] = mapped_column(String(200))
    beneficiary_anonymous: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20), server_default="reserved")
    applied_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_reason: Mapped[str | None] = mapped_column(Text)


class CertificateCounter(Base):
    """The last certificate number of a year; taken in the confirming transaction, so numbers have no
    gaps (a rolled-back confirmation gives its number back)."""

    __tablename__ = "certificate_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)


class Certificate(Base):
    """A cancellation certificate `WH-C-{year}-{seq:06d}`, publicly verifiable."""

    __tablename__ = "certificates"
    __table_args__ = (UniqueConstraint("year", "seq", name="uq_certificates_year_seq"),)

    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    cancellation_id: Mapped[int] = mapped_column(ForeignKey("cancellations.id"), unique=True)
    issued_at: Mapped[datetime]
    quantity: Mapped[int] = mapped_column(BigInteger)
    serial_ranges: Mapped[list[str]] = mapped_column(JSONB)


class LedgerMovement(Base):
    """One movement of a serial range, or of a whole account (account freeze: no range). Replaying the
    movements in id order gives every block's holder and state."""

    __tablename__ = "ledger_movements"
    __table_args__ = (
        CheckConstraint("kind IN ('issued', 'transferred', 'reserved', 'released', 'retired', 'frozen', "
                        "'unfrozen', 'account_frozen', 'account_unfrozen')", name="kind"),
        CheckConstraint("(serial_prefix IS NULL) = (kind IN ('account_frozen', 'account_unfrozen'))",
                        name="range_or_account"),
        CheckConstraint("serial_end >= serial_start", name="range"),
        Index("ix_ledger_movements_serials", "serial_prefix",
              literal_column("int8range(serial_start, serial_end, '[]')"), postgresql_using="gist"),
        Index("ix_ledger_movements_from", "from_account_id", "id"),
        Index("ix_ledger_movements_to", "to_account_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    occurred_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(20))
    serial_prefix: Mapped[str | None] = mapped_column(String(120))
    serial_start: Mapped[int | None] = mapped_column(BigInteger)
    serial_end: Mapped[int | None] = mapped_column(BigInteger)
    # transferred: seller → buyer; issued: → holder; every other kind: the holder in both.
    from_account_id: Mapped[int | None] = mapped_column(ForeignKey("institutional_accounts.id"))
    to_account_id: Mapped[int | None] = mapped_column(ForeignKey("institutional_accounts.id"))
    issuance_id: Mapped[int | None] = mapped_column(ForeignKey("issuances.id"))
    trade_id: Mapped[int | None] = mapped_column(ForeignKey("trades.id"), index=True)
    cancellation_id: Mapped[int | None] = mapped_column(ForeignKey("cancellations.id"), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger)  # no foreign key: see Trade
