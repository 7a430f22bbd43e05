"""The generic case register (one row per process case) and who besides its owner may see it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class Case(Base):
    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(String(100), primary_key=True)  # = workflow id
    case_type: Mapped[str] = mapped_column(String(40), index=True)
    stage: Mapped[str] = mapped_column(String(60), index=True)
    owner_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    title: Mapped[str | None] = mapped_column(String(300))
    deadline: Mapped[datetime | None]
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # The last step of the case recorded (the kit numbers them): a retried or late step changes nothing.
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CaseParticipant(Base):
    __tablename__ = "case_participants"
    __table_args__ = (UniqueConstraint("case_id", "capacity", "user_id", "organisation_id",
                                       name="uq_case_participants_grant", postgresql_nulls_not_distinct=True),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id"), index=True)
    capacity: Mapped[str] = mapped_column(String(30))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    granted_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Deployment(Base):
    """One row: the id of this deployment, made with the database. Every case carries it; a worker
    whose database holds another id refuses the case's tasks (a stray worker on the same task queue)."""

    __tablename__ = "deployment"
    __table_args__ = (CheckConstraint("one_row", name="one_row"),)

    one_row: Mapped[bool] = mapped_column(primary_key=True, default=True, server_default=text("true"))
    deployment_id: Mapped[str] = mapped_column(String(36), unique=True,
                                               server_default=text("gen_random_uuid()::text"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
