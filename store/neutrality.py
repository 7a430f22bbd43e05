"""Annual neutrality obligations (Art. 17): the rows the case writes, and the ledger's count of what
offsets them (confirmed cancellations with purpose annual_neutrality naming the scenario and year)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.contracts.neutrality import NeutralityFacts
from store.models.disclosure import NeutralityObligation
from store.models.ledger import Cancellation
from store.models.scenario import ScenarioLabel


def save(session: Session, f: NeutralityFacts) -> None:
    """Upsert the year's row from the case's state (a retried step writes the same)."""
    assert f.report_due is not None and f.due is not None
    values = {"scenario_id": f.scenario_id, "year": f.year, "case_id": f.case_id, "organisation_id": f.organisation_id,
              "report_due": f.report_due, "due": f.due, "emissions_tco2e": f.emissions_tco2e,
              "emissions_document_id": f.document_id, "reported_at": f.reported_at,
              "reported_late": f.reported_late, "cancelled_tonnes": f.cancelled_tonnes, "met_at": f.met_at,
              "status": f.status, "extension_reason": f.extension_reason,
              "overdue": f.status not in ("met", "late") and (
                  (f.report_overdue and f.emissions_tco2e is None) or f.offset_overdue)}
    stmt = insert(NeutralityObligation).values(**values)
    session.execute(stmt.on_conflict_do_update(
        constraint="uq_neutrality_scenario_year",
        set_={k: stmt.excluded[k] for k in values if k not in ("scenario_id", "year")}))


def cancelled_tonnes(session: Session, scenario_id: int, year: int) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(Cancellation.quantity), 0)).where(
        Cancellation.purpose == "annual_neutrality", Cancellation.scenario_id == scenario_id,
        Cancellation.neutrality_year == year, Cancellation.status == "confirmed", Cancellation.unit == "t")) or 0)


def labelled_until(session: Session, scenario_id: int) -> datetime | None:
    """The latest end of validity among the scenario's labels (None: never labelled)."""
    return session.scalar(select(func.max(ScenarioLabel.valid_until)).where(ScenarioLabel.scenario_id == scenario_id))


def obligation(session: Session, scenario_id: int, year: int) -> NeutralityObligation | None:
    return session.scalar(select(NeutralityObligation).where(
        NeutralityObligation.scenario_id == scenario_id, NeutralityObligation.year == year))
