"""Disclosure (Art. 30, 31): the counters the public-read cache compares, and scenarios' annual
neutrality obligations (Art. 17)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, SmallInteger, String, Text, UniqueConstraint, false, func
from sqlalchemy.orm import Mapped, mapped_column

from store.base import Base


class PublicVersion(Base):
    """One shard of a table's write counter, bumped by a statement trigger in the writing transaction
    (migration 0017). A table's version is the sum of its shards."""

    __tablename__ = "public_versions"

    table_name: Mapped[str] = mapped_column(String(63), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime]


class NeutralityObligation(Base):
    """Art. 17: a published scenario offsets its own emissions of `year` by cancelling carbon-inclusion
    reductions. One row per scenario and year, kept by the ScenarioNeutrality workflow."""

    __tablename__ = "neutrality_obligations"
    __table_args__ = (
        UniqueConstraint("scenario_id", "year", name="uq_neutrality_scenario_year"),
        CheckConstraint("emissions_tco2e IS NULL OR emissions_tco2e >= 0", name="ck_neutrality_emissions"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id"))
    year: Mapped[int] = mapped_column(Integer)
    case_id: Mapped[str] = mapped_column(String(100), index=True)  # neutrality-{scenario}: a row per year
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    report_due: Mapped[date]
    due: Mapped[date]
    emissions_tco2e: Mapped[int | None] = mapped_column(BigInteger)
    emissions_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    reported_at: Mapped[datetime | None]
    reported_late: Mapped[bool] = mapped_column(server_default=false())
    cancelled_tonnes: Mapped[int] = mapped_column(BigInteger, server_default="0")
    met_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), server_default="open")  # open, met, late, unmet
    # A day has passed with the report or the offset missing (set by the case, on its own clock).
    overdue: Mapped[bool] = mapped_column(server_default=false())
    extension_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
