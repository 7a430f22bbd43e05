"""Personal reductions (SPEC §2.5, Art. 15, 22, 36): data sources, residents' accounts of grams, bindings,
behaviour batches and their records (partitioned by month), the accounting's dedupe keys and daily caps.

Subject references (a data source's pseudonymous id of its user) are never stored as given: only a keyed
hash (HMAC-SHA256 with a per-deployment key, 16 bytes), and only where accounting needs it (a record, a
binding, a binding code, a record waiting for its subject to bind).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class DataSource(Base):
    """An organisation the operator approved as a data source (Art. 15, 22); suspended: its pushes are refused."""

    __tablename__ = "data_sources"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), unique=True)
    status: Mapped[str] = mapped_column(String(20))  # approved | suspended
    approved_at: Mapped[datetime]
    approved_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    suspended_at: Mapped[datetime | None]
    suspended_reason: Mapped[str | None] = mapped_column(String(2000))


class DataSourceBehaviour(Base):
    """A behaviour type (code of a personal methodology's table) the source is approved to report."""

    __tablename__ = "data_source_behaviours"

    source_id: Mapped[int] = mapped_column(ForeignKey("data_sources.id"), primary_key=True)
    behaviour_code: Mapped[str] = mapped_column(String(60), primary_key=True)
    approved_at: Mapped[datetime]


class PersonalAccount(Base):
    """A resident's account of grams CO2e, `TPH-P-{user id:08d}` (the number of their account of whole tonnes).

    No balance column: the balance is the sum of the account's `personal_daily_credits.grams`, read when
    asked (`store.personal.balance`). Accounting never writes (nor locks) this row, so batches crediting the
    same residents do not queue on it; a later debit (cancellation, donation) would lock it to serialise
    debits and keep them in a table of its own, subtracted in the same sum."""

    __tablename__ = "personal_accounts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    account_number: Mapped[str] = mapped_column(String(20), unique=True)
    created_at: Mapped[datetime]


class BindingCode(Base):
    """A one-time code a source issues for its own user; only its SHA-256 is kept."""

    __tablename__ = "binding_codes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("data_sources.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    subject_hash: Mapped[bytes] = mapped_column(LargeBinary)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PersonalBinding(Base):
    """A resident's consent: records of this source's subject are credited to this account until unbound."""

    __tablename__ = "personal_bindings"
    __table_args__ = (
        Index("uq_personal_bindings_active", "source_id", "subject_hash", unique=True,
              postgresql_where=text("unbound_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("data_sources.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("personal_accounts.id"), index=True)
    subject_hash: Mapped[bytes] = mapped_column(LargeBinary)
    bound_at: Mapped[datetime]
    unbound_at: Mapped[datetime | None]


class BehaviourBatch(Base):
    """One push of a data source; its accounting is the case `behaviour-batch-{id}`."""

    __tablename__ = "behaviour_batches"
    __table_args__ = (UniqueConstraint("source_id", "request_key", name="uq_behaviour_batches_request_key"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("data_sources.id"), index=True)
    request_key: Mapped[str | None] = mapped_column(String(200))  # Idempotency-Key of the push
    received_at: Mapped[datetime]
    record_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # received | accounted
    accounted_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)  # outcomes when accounted


class BehaviourRecord(Base):
    """One behaviour record and its outcome. Partitioned by month of `occurred_at` (Asia/Shanghai months;
    partitions live in schema `behaviour_parts`, made on demand, detachable for archiving). The one index is
    the primary key, led by the batch: every accounting query reads one batch."""

    __tablename__ = "behaviour_records"
    __table_args__ = {"postgresql_partition_by": "RANGE (occurred_at)"}

    batch_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    # An invalid record whose time is unusable is kept under its batch's receipt time.
    occurred_at: Mapped[datetime] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(BigInteger)
    source_event_id: Mapped[str | None] = mapped_column(String(100))
    subject_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    behaviour_code: Mapped[str | None] = mapped_column(String(60))
    quantity_milli: Mapped[int | None] = mapped_column(BigInteger)  # thousandths of the behaviour's unit
    outcome: Mapped[str | None] = mapped_column(String(40))  # None until accounted
    reason: Mapped[str | None] = mapped_column(String(200))
    account_id: Mapped[int | None] = mapped_column(BigInteger)
    credited_milli: Mapped[int | None] = mapped_column(BigInteger)
    grams: Mapped[int | None] = mapped_column(BigInteger)


class BehaviourEventKey(Base):
    """Dedupe: a source's event id is accounted once, whatever month or batch it comes in. Not partitioned
    (a unique index on the partitioned records would have to include the month, and a re-sent event with
    another occurred_at would pass); rows older than the accepted age of a record can be purged."""

    __tablename__ = "behaviour_event_keys"

    source_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source_event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    batch_id: Mapped[int] = mapped_column(BigInteger)
    line_no: Mapped[int] = mapped_column(Integer)


class PersonalWaiting(Base):
    """A record of an unbound subject, waiting until `expires_at` for the resident to bind."""

    __tablename__ = "personal_waiting"
    __table_args__ = (Index("ix_personal_waiting_subject", "source_id", "subject_hash"),)

    batch_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[datetime]
    source_id: Mapped[int] = mapped_column(BigInteger)
    subject_hash: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime]


class PersonalDailyCredit(Base):
    """Per account, behaviour and Asia/Shanghai day: the quantity counted against the cap and the grams
    credited; the statement reads it, the cap query locks it."""

    __tablename__ = "personal_daily_credits"

    # No foreign key: its check would lock (FOR KEY SHARE) the account row of every day row written, i.e.
    # ~9,000 account rows per batch; the account ids come from `personal_bindings`, whose foreign key
    # checks them, and accounts are never deleted.
    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    behaviour_code: Mapped[str] = mapped_column(String(60), primary_key=True)
    local_day: Mapped[date] = mapped_column(primary_key=True)
    used_milli: Mapped[int] = mapped_column(BigInteger, default=0)
    grams: Mapped[int] = mapped_column(BigInteger, default=0)


class PersonalSubjectKey(Base):
    """The deployment's key of the subject hashes (made once, on first use)."""

    __tablename__ = "personal_subject_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[bytes] = mapped_column(LargeBinary)
