"""Projects and their eligibility (Art. 18, 23, 24), the bureau's reference lists, issuance cases.

Eligibility refusals raise `domain.rules.Refusal` (invalid) naming the field and the rule; the API answers 422.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, any_, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.clock import shanghai_today
from domain.issuance import Stage
from domain.roles import OrganisationStatus, OrganisationType
from domain.rules import Kind, Refusal, Rule
from store.models.identity import Organisation
from store.models.methodology import Methodology, MethodologyVersion
from store.models.issuance import (
    IssuanceCase,
    KeyEmitter,
    OtherSchemeRegistration,
    Project,
    PublicityNotice,
    VerifierAccreditation,
)

# A monitoring period of a case in these stages no longer claims its dates (Art. 24).
RELEASED_STAGES = (Stage.WITHDRAWN.value, Stage.REJECTED.value)


@dataclass(frozen=True)
class MethodologyRef:
    version_id: int
    code: str
    version_no: int


def published_project_methodology(session: Session, version_id: int) -> MethodologyRef:
    """The methodology version a project may register under: published, current, scope `project`
    (superseded versions stay with the projects that took them; new projects take the current one)."""
    row = session.execute(
        select(MethodologyVersion.id, MethodologyVersion.version_no, MethodologyVersion.status,
               Methodology.code, Methodology.scope, Methodology.status.label("methodology_status"))
        .join(Methodology, Methodology.id == MethodologyVersion.methodology_id)
        .where(MethodologyVersion.id == version_id)).mappings().first()
    if row is None:
        raise Refusal(Kind.INVALID, "published",
                      f"methodology version {version_id} is not a published methodology version", "methodology_version_id")
    if row["scope"] != "project":
        raise Refusal(Kind.INVALID, "project_scope",
                      f"methodology {row['code']} has scope '{row['scope']}'; projects need scope 'project'",
                      "methodology_version_id")
    if row["status"] != "current" or row["methodology_status"] != "active":
        raise Refusal(Kind.INVALID, "current",
                      f"methodology {row['code']} v{row['version_no']} is not the current version "
                      f"(version {row['status']}, methodology {row['methodology_status']})", "methodology_version_id")
    return MethodologyRef(version_id=row["id"], code=row["code"], version_no=row["version_no"])


def _overlaps(start_col, end_col, start: date, end: date | None):
    """SQL: [start_col, end_col] meets [start, end]; a NULL end is open-ended."""
    conditions = [or_(end_col.is_(None), end_col >= start)]
    if end is not None:
        conditions.append(start_col <= end)
    return and_(*conditions)


def key_emitter_boundary_conflict(
    session: Session, organisation_id: int, facility_id: str, start: date, end: date | None
) -> KeyEmitter | None:
    """Art. 23: the developer's key-emitter listing whose boundary holds the facility during [start, end]."""
    return session.scalars(select(KeyEmitter).where(
        KeyEmitter.organisation_id == organisation_id,
        literal(facility_id) == any_(KeyEmitter.boundary_facility_ids),
        _overlaps(KeyEmitter.effective_from, KeyEmitter.effective_until, start, end),
    ).order_by(KeyEmitter.id).limit(1)).first()


def accreditation_on(session: Session, organisation_id: int, on: date) -> VerifierAccreditation | None:
    """The accreditation that makes an organisation a commissionable verifier on a date, if any."""
    org = session.get(Organisation, organisation_id)
    if org is None or org.org_type != OrganisationType.VERIFICATION_BODY or org.status != OrganisationStatus.ACTIVE:
        return None
    return session.scalars(select(VerifierAccreditation).where(
        VerifierAccreditation.organisation_id == organisation_id, VerifierAccreditation.revoked_at.is_(None),
        VerifierAccreditation.valid_from <= on, VerifierAccreditation.valid_until >= on,
    ).order_by(VerifierAccreditation.valid_until.desc()).limit(1)).first()


@dataclass(frozen=True)
class OtherRegistration:
    scheme: str
    registration_id: str
    period_start: date
    period_end: date | None


@dataclass(frozen=True)
class ProjectDraft:
    organisation_id: int
    methodology_version_id: int
    name: str
    district: str
    site_address: str
    facility_id: str
    start_date: date
    description: str
    other_registrations: tuple[OtherRegistration, ...]


def register_project(session: Session, draft: ProjectDraft, *, user_id: int, at: datetime) -> Project:
    """Check eligibility before anything is written, then register (Art. 18, 23, 24)."""
    methodology = published_project_methodology(session, draft.methodology_version_id)
    emitter = key_emitter_boundary_conflict(session, draft.organisation_id, draft.facility_id, draft.start_date, None)
    if emitter is not None:
        # Art. 23: a key emitting unit's facilities inside its compliance boundary are not eligible.
        raise Refusal(Kind.INVALID, Rule.ART23_KEY_EMITTER_BOUNDARY,
                      f"the developer is a key emitting unit ({emitter.scheme} ETS) and facility "
                      f"{draft.facility_id} is inside its compliance boundary (Art. 23)", "facility_id")
    for i, reg in enumerate(draft.other_registrations):
        # The project claims from its start date on, so any other registration reaching that far overlaps.
        if reg.period_end is None or reg.period_end >= draft.start_date:
            # Art. 24: no double claiming across schemes.
            raise Refusal(Kind.INVALID, Rule.ART24_OTHER_SCHEME_OVERLAP,
                          f"facility {draft.facility_id} is registered in {reg.scheme} ({reg.registration_id}) "
                          f"for a period overlapping the project from {draft.start_date} (Art. 24)",
                          f"other_registrations.{i}")
    project = Project(
        organisation_id=draft.organisation_id, methodology_version_id=methodology.version_id,
        methodology_code=methodology.code, methodology_version=methodology.version_no, name=draft.name,
        district=draft.district, site_address=draft.site_address, facility_id=draft.facility_id,
        start_date=draft.start_date, description=draft.description, registered_by_user_id=user_id,
        registered_at=at,
        other_registrations=[OtherSchemeRegistration(scheme=r.scheme, registration_id=r.registration_id,
                                                     period_start=r.period_start, period_end=r.period_end)
                             for r in draft.other_registrations])
    session.add(project)
    session.flush()
    return project


def overlapping_period(session: Session, project_id: int, start: date, end: date) -> IssuanceCase | None:
    """An earlier, still-standing monitoring period of the project that meets [start, end] (Art. 24)."""
    return session.scalars(select(IssuanceCase).where(
        IssuanceCase.project_id == project_id, IssuanceCase.stage.not_in(RELEASED_STAGES),
        IssuanceCase.period_start <= end, IssuanceCase.period_end >= start,
    ).order_by(IssuanceCase.id).limit(1)).first()


def facility_claim(session: Session, facility_id: str, start: date, end: date) -> IssuanceCase | None:
    """A still-standing case of any project claiming the facility for a period that meets [start, end]
    (Art. 24; the exclusion constraint ex_issuance_cases_facility_period is the last word)."""
    return session.scalars(select(IssuanceCase).where(
        IssuanceCase.facility_id == facility_id, IssuanceCase.stage.not_in(RELEASED_STAGES),
        IssuanceCase.period_start <= end, IssuanceCase.period_end >= start,
    ).order_by(IssuanceCase.id).limit(1)).first()


def check_verifier(session: Session, organisation_id: int, field: str, today: date) -> None:
    """Art. 19: only a verification body accredited today may be commissioned."""
    if accreditation_on(session, organisation_id, today) is None:
        raise Refusal(Kind.INVALID, "accredited",
                      f"organisation {organisation_id} is not an active verification body accredited today", field)


def double_claim(other: IssuanceCase) -> Refusal:
    # Art. 24: reductions of one facility and period are claimed once, across projects and developers.
    return Refusal(Kind.CONFLICT, Rule.ART24_DOUBLE_CLAIM,
                   f"facility {other.facility_id} is already claimed for {other.period_start}..{other.period_end} "
                   f"by {other.case_id}; reductions may not be claimed twice (Art. 24)", "period_start")


@dataclass(frozen=True)
class AccountingReportDraft:
    period_start: date
    period_end: date
    claimed_grams: int
    benefit_sharing: str
    verifier_organisation_id: int


def file_accounting_report(session: Session, project: Project, draft: AccountingReportDraft, *, user_id: int,
                           at: datetime) -> IssuanceCase:
    """Check the accounting report of a monitoring period (Art. 19, 23, 24) before anything is written, then
    add its case row (`case_id` still provisional: the caller sets it from the row's id). The caller holds
    the project's row lock, so two overlapping periods of one project cannot both pass the check."""
    if draft.period_start < project.start_date:
        raise Refusal(Kind.INVALID, "after_project_start",
                      f"the monitoring period starts before the project ({project.start_date})", "period_start")
    today = shanghai_today(at)
    if draft.period_end > today:
        raise Refusal(Kind.INVALID, "not_in_future", f"the monitoring period cannot end after today ({today})",
                      "period_end")
    emitter = key_emitter_boundary_conflict(session, project.organisation_id, project.facility_id,
                                            draft.period_start, draft.period_end)
    if emitter is not None:
        # Art. 23: not while the developer is a key emitting unit whose boundary holds the facility.
        raise Refusal(Kind.INVALID, Rule.ART23_KEY_EMITTER_BOUNDARY,
                      f"during this period the developer is a key emitting unit ({emitter.scheme} ETS) "
                      f"with facility {project.facility_id} inside its boundary (Art. 23)", "period_start")
    earlier = overlapping_period(session, project.id, draft.period_start, draft.period_end)
    if earlier is not None:
        raise Refusal(Kind.INVALID, Rule.ART24_OVERLAPPING_PERIOD,
                      f"the period overlaps {earlier.case_id} ({earlier.period_start}..{earlier.period_end}); "
                      "reductions may not be claimed twice (Art. 24)", "period_start")
    check_verifier(session, draft.verifier_organisation_id, "verifier_organisation_id", today)
    claimed = facility_claim(session, project.facility_id, draft.period_start, draft.period_end)
    if claimed is not None:
        raise double_claim(claimed)
    case = IssuanceCase(
        case_id=f"new-{uuid.uuid4().hex}", project_id=project.id, organisation_id=project.organisation_id,
        facility_id=project.facility_id, period_start=draft.period_start, period_end=draft.period_end,
        claimed_grams=draft.claimed_grams, benefit_sharing=draft.benefit_sharing,
        verifier_organisation_id=draft.verifier_organisation_id, stage=Stage.AWAITING_VERIFIER.value,
        filed_by_user_id=user_id, filed_at=at, updated_at=at)
    session.add(case)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as err:
        # Another project claimed the facility's period at the same moment: the constraint decided.
        claimed = facility_claim(session, project.facility_id, draft.period_start, draft.period_end)
        if claimed is None or "ex_issuance_cases_facility_period" not in str(err.orig):
            raise
        raise double_claim(claimed) from None
    return case


def provisional_publicity_case_ids(session: Session) -> list[str]:
    """Cases whose open publicity ends at a provisionally computed instant (a calendar year missing)."""
    return list(session.scalars(select(IssuanceCase.case_id).join(
        PublicityNotice, PublicityNotice.issuance_case_id == IssuanceCase.id).where(
        PublicityNotice.closed_at.is_(None), PublicityNotice.provisional.is_(True)).order_by(IssuanceCase.case_id)))
