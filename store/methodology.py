"""Methodology store: cases mirrored from workflows, publication of versions, version look-ups.

Projects and personal accounting may only start using a published, current version (SPEC §2.2):
`current_version` answers which one; a superseded version stays readable with `version` for the
users who took it before.
"""

from __future__ import annotations

import zlib
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from domain.contracts.cases import CaseMirror
from domain.contracts.methodology import (
    CASE_TYPE,
    REEVALUATION_CASE_TYPE,
    BehaviourType,
    MethodologyContent,
    MethodologyMirror,
    PublishedVersion,
    PublishRequest,
    ReevaluationMirror,
    methodology_case_id,
    reevaluation_case_id,
)
from domain.methodology import MethodologyDomain, ReevaluationStage, VersionStatus, methodology_code
from store import cases
from store.models.methodology import (
    Methodology,
    MethodologyBehaviour,
    MethodologyCase,
    MethodologyReevaluation,
    MethodologyVersion,
)


def _content_columns(content: MethodologyContent) -> dict:
    return {
        "title": content.title,
        "code_suggestion": content.code_suggestion,
        "scope": content.scope.value,
        "domain": content.domain.value,
        "summary": content.summary,
        "behaviours": [b.model_dump() for b in content.behaviours],
        "document_ids": list(content.document_ids),
    }


def case_content(case: MethodologyCase) -> MethodologyContent:
    return MethodologyContent(
        title=case.title, code_suggestion=case.code_suggestion, scope=case.scope, domain=case.domain,
        summary=case.summary, behaviours=[BehaviourType(**b) for b in case.behaviours],
        document_ids=list(case.document_ids))


def version_content(version: MethodologyVersion) -> MethodologyContent:
    m = version.methodology
    return MethodologyContent(
        title=version.title, code_suggestion=m.code, scope=m.scope, domain=m.domain, summary=version.summary,
        behaviours=[BehaviourType(code=b.code, name=b.name, unit=b.unit, factor_e4=b.factor_e4,
                                  daily_cap=b.daily_cap) for b in version.behaviours],
        document_ids=list(version.document_ids))


def create_case(session: Session, *, applicant_organisation_id: int | None, commissioned: bool,
                created_by_user_id: int, content: MethodologyContent, now: datetime) -> MethodologyCase:
    """The case row, before its workflow starts; its case_id is the workflow id."""
    case_no = session.scalar(select(func.nextval(text("'methodology_cases_id_seq'"))))
    case = MethodologyCase(
        id=case_no, case_id=methodology_case_id(case_no), applicant_organisation_id=applicant_organisation_id,
        commissioned=commissioned, created_by_user_id=created_by_user_id, stage="completeness_check",
        submission_no=1, round_no=0, reasons=[], created_at=now, updated_at=now, **_content_columns(content))
    session.add(case)
    session.flush()
    return case


def mirror(session: Session, m: MethodologyMirror) -> None:
    """Upsert the stage (and current content) of a case; older news never overwrites newer."""
    session.execute(
        update(MethodologyCase)
        .where(MethodologyCase.case_id == m.case_id, MethodologyCase.updated_at <= m.occurred_at)
        .values(stage=m.stage.value, submission_no=m.submission_no, round_no=m.round_no, deadline=m.deadline,
                review_id=m.review_id, reasons=list(m.reasons), version_id=m.version_id,
                updated_at=m.occurred_at, **_content_columns(m.content)))
    cases.mirror(session, CaseMirror(
        case_id=m.case_id, case_type=CASE_TYPE, stage=m.stage.value, occurred_at=m.occurred_at,
        owner_organisation_id=m.owner_organisation_id, title=m.content.title, deadline=m.deadline,
        details={"scope": m.content.scope.value, "domain": m.content.domain.value, "round": m.round_no}))


def _lock(session: Session, key: str) -> None:
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(key.encode())})


def _published(version: MethodologyVersion, superseded_id: int | None = None) -> PublishedVersion:
    return PublishedVersion(methodology_id=version.methodology_id, code=version.methodology.code,
                            version_id=version.id, version_no=version.version_no,
                            reevaluation_due=version.reevaluation_due, superseded_version_id=superseded_id)


def publish(session: Session, req: PublishRequest) -> PublishedVersion:
    """Publish the case's version once: a new methodology with v1, or the next version of one.

    A revision supersedes the current version (users who took it keep it).
    """
    existing = session.scalar(select(MethodologyVersion).where(MethodologyVersion.case_id == req.case_id))
    if existing is not None:  # a retried activity
        return _published(existing)
    content = req.content
    superseded_id = None
    if req.methodology_id is None:
        # Codes are numbered per domain: serialise publications of one domain.
        _lock(session, f"methodology-code-{content.domain.value}")
        seq = session.scalar(select(func.count()).select_from(Methodology)
                             .where(Methodology.domain == content.domain.value)) + 1
        methodology = Methodology(code=methodology_code(MethodologyDomain(content.domain), seq),
                                  scope=content.scope.value, domain=content.domain.value,
                                  owner_organisation_id=req.owner_organisation_id, status="active",
                                  origin_case_id=req.case_id, published_at=req.published_at)
        session.add(methodology)
        session.flush()
        version_no = 1
    else:
        methodology = session.get(Methodology, req.methodology_id, with_for_update=True)
        current = session.scalar(select(MethodologyVersion).where(
            MethodologyVersion.methodology_id == methodology.id,
            MethodologyVersion.status == VersionStatus.CURRENT.value))
        if current is not None:
            current.status = VersionStatus.SUPERSEDED.value
            current.superseded_at = req.published_at
            superseded_id = current.id
            session.flush()  # before the new current row: one current version per methodology
        version_no = (session.scalar(select(func.max(MethodologyVersion.version_no))
                                     .where(MethodologyVersion.methodology_id == methodology.id)) or 0) + 1
    version = MethodologyVersion(
        methodology_id=methodology.id, version_no=version_no, status=VersionStatus.CURRENT.value,
        title=content.title, summary=content.summary, document_ids=list(content.document_ids),
        case_id=req.case_id, published_at=req.published_at, reevaluation_due=req.reevaluation_due)
    session.add(version)
    session.flush()
    session.add_all(MethodologyBehaviour(version_id=version.id, position=i, **b.model_dump())
                    for i, b in enumerate(content.behaviours))
    session.flush()
    session.refresh(version)
    return _published(version, superseded_id)


def create_reevaluation(session: Session, *, version: MethodologyVersion, reason: str, opened_by_user_id: int,
                        now: datetime) -> MethodologyReevaluation:
    no = session.scalar(select(func.nextval(text("'methodology_reevaluations_id_seq'"))))
    row = MethodologyReevaluation(id=no, case_id=reevaluation_case_id(no), methodology_id=version.methodology_id,
                                  version_id=version.id, stage=ReevaluationStage.OPEN.value, reason=reason,
                                  opened_by_user_id=opened_by_user_id, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row


def mirror_reevaluation(session: Session, m: ReevaluationMirror) -> None:
    row = session.scalar(select(MethodologyReevaluation).where(MethodologyReevaluation.case_id == m.case_id)
                         .with_for_update())
    if row is not None and row.updated_at <= m.occurred_at:
        row.stage = m.stage.value
        row.decision_reason = m.reason
        row.new_version_id = m.new_version_id
        row.decided_by_user_id = m.decided_by_user_id
        row.updated_at = m.occurred_at
    version = session.get(MethodologyVersion, m.version_id, with_for_update=True)
    if m.stage == ReevaluationStage.CONFIRMED and m.next_reevaluation_due is not None:
        version.reevaluation_due = max(version.reevaluation_due, m.next_reevaluation_due)
    elif m.stage == ReevaluationStage.RETIRED and version.status != VersionStatus.RETIRED.value:
        version.status = VersionStatus.RETIRED.value
        version.retired_at = m.occurred_at
        methodology = version.methodology
        methodology.status = "retired"
        methodology.retired_at = m.occurred_at
    session.flush()
    cases.mirror(session, CaseMirror(
        case_id=m.case_id, case_type=REEVALUATION_CASE_TYPE, stage=m.stage.value, occurred_at=m.occurred_at,
        owner_organisation_id=m.owner_organisation_id, title=f"re-evaluation of {version.methodology.code}",
        details={"methodology_id": m.methodology_id, "version_id": m.version_id}))


def current_version(session: Session, methodology: int | str) -> MethodologyVersion | None:
    """The version new projects and personal accounting must use: published, current, not retired.

    `methodology` is its id or its code (e.g. WH-M-TRAVEL-001).
    """
    query = select(MethodologyVersion).join(Methodology).where(
        MethodologyVersion.status == VersionStatus.CURRENT.value, Methodology.status == "active")
    by = Methodology.id if isinstance(methodology, int) else Methodology.code
    query = query.where(by == methodology)
    return session.scalar(query)


def version(session: Session, code: str, version_no: int) -> MethodologyVersion | None:
    """Any published version (current or superseded), for users who took it before a revision."""
    return session.scalar(select(MethodologyVersion).join(Methodology).where(
        Methodology.code == code, MethodologyVersion.version_no == version_no))


def published_document(session: Session, document_id: int) -> bool:
    """Whether the document belongs to a published version: the public register publishes it (Art. 14)."""
    from sqlalchemy.dialects.postgresql import JSONB

    return session.scalar(select(MethodologyVersion.id).where(
        MethodologyVersion.document_ids.op("@>")(func.cast(f"[{int(document_id)}]", JSONB))).limit(1)) is not None
