"""Test helpers for projects and issuance: rows written directly where a test is not about how they
are made (ledger tests need a project and a verified case, not the process that produced them)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import select

from store.models.issuance import IssuanceCase, Project
from store.models.methodology import Methodology, MethodologyVersion
from tests.methodology_rows import publish_methodology

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


def make_project(session_factory, organisation_id: int, user_id: int, *, code: str = "WH-M-PV-001",
                 version: int = 1, facility_id: str = "FAC-1", start: date = date(2025, 1, 1)) -> Project:
    with session_factory() as s:
        version_id = s.scalar(select(MethodologyVersion.id).join(Methodology).where(
            Methodology.code == code, MethodologyVersion.version_no == version))
    if version_id is None:
        version_id = publish_methodology(session_factory, code=code, version_no=version)
    with session_factory() as s, s.begin():
        p = Project(organisation_id=organisation_id, methodology_version_id=version_id, methodology_code=code,
                    methodology_version=version, name=f"project at {facility_id}", district="Jiang'an",
                    site_address="1 Test Road", facility_id=facility_id, start_date=start, description="test",
                    registered_by_user_id=user_id, registered_at=T0)
        s.add(p)
    return p


def make_verified_case(session_factory, project: Project, user_id: int, verifier_org_id: int, *,
                       verified_grams: int, period: tuple[date, date] = (date(2025, 1, 1), date(2025, 12, 31)),
                       stage: str = "published") -> IssuanceCase:
    with session_factory() as s, s.begin():
        c = IssuanceCase(case_id="pending", project_id=project.id, organisation_id=project.organisation_id,
                         facility_id=project.facility_id,
                         period_start=period[0], period_end=period[1], claimed_grams=verified_grams + 1,
                         benefit_sharing="shared", verifier_organisation_id=verifier_org_id,
                         verified_grams=verified_grams, verification_conclusion="ok", stage=stage,
                         filed_by_user_id=user_id, filed_at=T0, updated_at=T0)
        s.add(c)
        s.flush()
        c.case_id = f"issuance-{c.id}"
    return c
