"""Disclosure (Art. 30, 31): the write counters public reads are cached under; aggregate queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, and_, case, extract, func, literal, select, text
from sqlalchemy.orm import Session

from domain import serials
from domain.working_days import WorkingDayCalendar, working_days_left
from store.models.disclosure import NeutralityObligation
from store.models.identity import Organisation
from store.models.issuance import Project, PublicityNotice
from store.models.ledger import Cancellation, Certificate, Issuance, Trade, UnitBlock
from store.models.methodology import Methodology, MethodologyVersion
from store.models.review import Expert
from store.models.scenario import Scenario, ScenarioLabel


def public_versions(session: Session, tables: Sequence[str]) -> tuple[tuple[int, ...], datetime | None]:
    """The version of each table (sum of its shards; 0 before any write) and the last write among them.

    Read it before the data: a commit after this statement makes the version differ next time."""
    rows = session.execute(text(
        "SELECT table_name, sum(version), max(changed_at) FROM public_versions "
        "WHERE table_name = ANY(:t) GROUP BY table_name"), {"t": list(tables)}).all()
    found = {name: (int(total), changed) for name, total, changed in rows}
    version = tuple(found.get(t, (0, None))[0] for t in tables)
    changes = [changed for _, changed in found.values() if changed is not None]
    return version, max(changes) if changes else None


# --- the disclosure lists (Art. 30, 31): each a query, paged with its total -------------------------------


ALL = None  # limit for a CSV download: every row


def _page(session: Session, stmt: Select, limit: int | None, offset: int) -> dict[str, Any]:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    return {"total": total, "limit": limit, "offset": offset,
            "items": [dict(row) for row in session.execute(stmt).mappings()]}


def _local_year(column):
    return extract("year", func.timezone("Asia/Shanghai", column)).cast(Integer)


def committee(session: Session, *, active: bool | None, limit: int | None, offset: int) -> dict[str, Any]:
    """The expert committee (Art. 5, 30): names, affiliation and fields; no contact data, no user account."""
    stmt = (select(Expert.name, Organisation.name.label("affiliation"), Expert.expertise, Expert.active)
            .outerjoin(Organisation, Organisation.id == Expert.affiliation_organisation_id).order_by(Expert.id))
    if active is not None:
        stmt = stmt.where(Expert.active == active)
    return _page(session, stmt, limit, offset)


def methodologies(session: Session, *, include_retired: bool, limit: int | None, offset: int) -> dict[str, Any]:
    current = (select(MethodologyVersion).where(MethodologyVersion.status == "current").subquery())
    stmt = (select(Methodology.code, Methodology.scope, Methodology.domain, Methodology.status,
                   Methodology.published_at, Methodology.retired_at, current.c.version_no.label("current_version"),
                   current.c.title, current.c.reevaluation_due)
            .outerjoin(current, current.c.methodology_id == Methodology.id).order_by(Methodology.code))
    if not include_retired:
        stmt = stmt.where(Methodology.status == "active")
    return _page(session, stmt, limit, offset)


def scenarios(session: Session, *, year: int, district: str | None, limit: int | None,
              offset: int) -> dict[str, Any]:
    """Labelled scenarios with the label and the neutrality compliance of `year` (Art. 14, 17)."""
    duty = select(NeutralityObligation).where(NeutralityObligation.year == year).subquery()
    stmt = (select(ScenarioLabel.code.label("label_code"), Scenario.id.label("scenario_id"),
                   Scenario.name.label("scenario_name"), Organisation.name.label("organisation_name"),
                   Scenario.category, Scenario.district, ScenarioLabel.valid_from, ScenarioLabel.valid_until,
                   case((ScenarioLabel.expired_at.is_(None), "valid"), else_="expired").label("label_status"),
                   literal(year).label("neutrality_year"), duty.c.emissions_tco2e, duty.c.cancelled_tonnes,
                   func.coalesce(duty.c.status, "none").label("neutrality_status"))
            .join(Scenario, Scenario.id == ScenarioLabel.scenario_id)
            .join(Organisation, Organisation.id == Scenario.organisation_id)
            .outerjoin(duty, duty.c.scenario_id == Scenario.id)
            .order_by(ScenarioLabel.year, ScenarioLabel.seq))
    if district is not None:
        stmt = stmt.where(Scenario.district == district)
    return _page(session, stmt, limit, offset)


def projects(session: Session, *, district: str | None, limit: int | None, offset: int) -> dict[str, Any]:
    stmt = (select(Project.id, Project.name, Organisation.name.label("developer_name"), Project.district,
                   Project.methodology_code, Project.methodology_version, Project.start_date, Project.registered_at)
            .join(Organisation, Organisation.id == Project.organisation_id).order_by(Project.id))
    if district is not None:
        stmt = stmt.where(Project.district == district)
    return _page(session, stmt, limit, offset)


def notices(session: Session, calendar: WorkingDayCalendar, now: datetime, *, status: str | None,
            limit: int | None, offset: int) -> dict[str, Any]:
    stmt = (select(PublicityNotice.id, PublicityNotice.project_name, PublicityNotice.district,
                   PublicityNotice.developer_name, PublicityNotice.round_no, PublicityNotice.verified_grams,
                   PublicityNotice.starts_at, PublicityNotice.ends_at, PublicityNotice.closed_at,
                   PublicityNotice.outcome).order_by(PublicityNotice.id.desc()))
    if status == "open":
        stmt = stmt.where(PublicityNotice.closed_at.is_(None))
    elif status == "closed":
        stmt = stmt.where(PublicityNotice.closed_at.is_not(None))
    page = _page(session, stmt, limit, offset)
    for n in page["items"]:
        is_open = n["closed_at"] is None
        n["verified_tco2e"] = str(serials.grams_to_tonnes(n.pop("verified_grams")))
        n["open"] = is_open
        n["remaining_seconds"] = max(0, int((n["ends_at"] - now).total_seconds())) if is_open else 0
        n["remaining_working_days"] = working_days_left(calendar, now, n["ends_at"]) if is_open else 0
    return page


def issuances(session: Session, *, year: int | None, limit: int | None, offset: int) -> dict[str, Any]:
    stmt = (select(Issuance.issuance_key.label("case_id"), Project.id.label("project_id"),
                   Project.name.label("project_name"), Organisation.name.label("developer_name"), Project.district,
                   Project.methodology_code, Issuance.vintage, Issuance.tonnes, Issuance.issued_at)
            .join(Project, Project.id == Issuance.project_id)
            .join(Organisation, Organisation.id == Project.organisation_id).order_by(Issuance.id))
    if year is not None:
        stmt = stmt.where(_local_year(Issuance.issued_at) == year)
    return _page(session, stmt, limit, offset)


def transfers(session: Session, *, limit: int | None, offset: int) -> dict[str, Any]:
    """Transfers in aggregate only (Art. 30): per month, how many trades and tonnes; never who traded."""
    month = func.to_char(func.timezone("Asia/Shanghai", Trade.settled_at), "YYYY-MM")
    stmt = (select(month.label("month"), func.count().label("trades"),
                   func.sum(Trade.quantity).cast(Integer).label("tonnes"))
            .group_by(month).order_by(month))
    return _page(session, stmt, limit, offset)


def cancellations(session: Session, *, year: int | None, limit: int | None, offset: int) -> dict[str, Any]:
    """Confirmed cancellations with their certificates; an anonymous beneficiary stays anonymous."""
    stmt = (select(Certificate.number.label("certificate_number"), Certificate.issued_at, Certificate.quantity,
                   Cancellation.purpose, Cancellation.purpose_text,
                   case((Cancellation.beneficiary_anonymous, "匿名 / anonymous"),
                        else_=Cancellation.beneficiary_name).label("beneficiary"),
                   Cancellation.scenario_id, Cancellation.neutrality_year, Certificate.serial_ranges)
            .join(Cancellation, Cancellation.id == Certificate.cancellation_id)
            .order_by(Certificate.issued_at, Certificate.number))
    if year is not None:
        stmt = stmt.where(Certificate.year == year)
    return _page(session, stmt, limit, offset)


GROUPS = ("year", "district", "methodology")


def statistics(session: Session, *, by: tuple[str, ...], year: int | None) -> list[dict[str, Any]]:
    """Tonnes issued and retired, projects and issuances counted, by year, district and methodology (Art. 31).
    `by` names the dimensions kept; the others are summed over."""
    issued = (select(_local_year(Issuance.issued_at).label("year"), Project.district.label("district"),
                     Project.methodology_code.label("methodology"), Issuance.tonnes.label("issued"),
                     literal(0).label("retired"), Issuance.id.label("issuance_id"),
                     Project.id.label("project_id"))
              .join(Project, Project.id == Issuance.project_id))
    retired = (select(_local_year(Cancellation.decided_at).label("year"), Project.district.label("district"),
                      Project.methodology_code.label("methodology"), literal(0).label("issued"),
                      (UnitBlock.serial_end - UnitBlock.serial_start + 1).label("retired"),
                      literal(None).label("issuance_id"), literal(None).label("project_id"))
               .join(UnitBlock, and_(UnitBlock.cancellation_id == Cancellation.id, UnitBlock.state == "retired"))
               .join(Project, Project.id == UnitBlock.project_id))
    both = issued.union_all(retired).subquery()
    dims = [both.c[d] for d in by]
    stmt = (select(*dims, func.sum(both.c.issued).cast(Integer).label("issued_tonnes"),
                   func.sum(both.c.retired).cast(Integer).label("retired_tonnes"),
                   func.count(func.distinct(both.c.issuance_id)).label("issuances"),
                   func.count(func.distinct(both.c.project_id)).label("projects"))
            .group_by(*dims).order_by(*dims))
    if year is not None:
        stmt = stmt.where(both.c.year == year)
    return [dict(r) for r in session.execute(stmt).mappings()]


def neutrality(session: Session, *, year: int | None, limit: int | None, offset: int) -> dict[str, Any]:
    """Art. 17 compliance per scenario and year: met, late, unmet (or still open)."""
    stmt = (select(NeutralityObligation.year, Scenario.id.label("scenario_id"), Scenario.name.label("scenario_name"),
                   Organisation.name.label("organisation_name"), NeutralityObligation.emissions_tco2e,
                   NeutralityObligation.cancelled_tonnes, NeutralityObligation.report_due, NeutralityObligation.due,
                   NeutralityObligation.status, NeutralityObligation.met_at,
                   (NeutralityObligation.extension_reason.is_not(None)).label("extended"))
            .join(Scenario, Scenario.id == NeutralityObligation.scenario_id)
            .join(Organisation, Organisation.id == NeutralityObligation.organisation_id)
            .order_by(NeutralityObligation.year.desc(), Scenario.id))
    if year is not None:
        stmt = stmt.where(NeutralityObligation.year == year)
    return _page(session, stmt, limit, offset)
