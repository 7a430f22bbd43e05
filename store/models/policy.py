"""Policy parameter changes (SPEC §3): the bureau sets a parameter's value from an effective instant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class PolicyChange(Base):
    __tablename__ = "policy_changes"
    __table_args__ = (Index("ix_policy_changes_parameter_effective_from", "parameter", "effective_from"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    parameter: Mapped[str] = mapped_column(String(60))  # a field of domain.policy.PolicyParameters
    value: Mapped[int]
    effective_from: Mapped[datetime]
    changed_by: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
