"""Case register: mirror stages from workflows; answer who may see a case."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.contracts.cases import CaseAccessGrant, CaseMirror
from domain.roles import AUTHORITIES, Role
from store.models.cases import Case, CaseParticipant
from store.models.identity import User


def _mirror_statement():
    table = Case.__table__
    stmt = insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.case_id],
        set_={
            "stage": stmt.excluded.stage,
            "deadline": stmt.excluded.deadline,
            "title": func.coalesce(stmt.excluded.title, table.c.title),
            "owner_organisation_id": func.coalesce(stmt.excluded.owner_organisation_id, table.c.owner_organisation_id),
            "details": table.c.details.op("||")(stmt.excluded.details),
            "updated_at": stmt.excluded.updated_at,
        },
        where=table.c.updated_at <= stmt.excluded.updated_at,
    )


# Built once: every stage change of every process runs it, and building a statement (and its cache
# key) costs more than executing it.
_MIRROR = _mirror_statement()


def mirror(session: Session, m: CaseMirror) -> None:
    """Insert or update the case row; older news (an earlier occurred_at) never overwrites newer."""
    values = m.model_dump()
    occurred = values.pop("occurred_at")
    session.execute(_MIRROR, {**values, "created_at": occurred, "updated_at": occurred})


def grant(session: Session, g: CaseAccessGrant) -> None:
    existing = session.scalar(select(CaseParticipant).where(
        CaseParticipant.case_id == g.case_id, CaseParticipant.capacity == g.capacity,
        CaseParticipant.user_id.is_(None) if g.user_id is None else CaseParticipant.user_id == g.user_id,
        CaseParticipant.organisation_id.is_(None) if g.organisation_id is None
        else CaseParticipant.organisation_id == g.organisation_id))
    if g.revoke:
        if existing is not None and existing.revoked_at is None:
            existing.revoked_at = g.granted_at
        return
    if existing is None:
        session.add(CaseParticipant(case_id=g.case_id, capacity=g.capacity, user_id=g.user_id,
                                    organisation_id=g.organisation_id, granted_at=g.granted_at))
    elif existing.revoked_at is not None and existing.revoked_at < g.granted_at:
        existing.revoked_at = None


def may_see(session: Session, user: User, case_id: str) -> bool:
    """Authorities see every case; the owner organisation and granted participants see theirs."""
    if Role(user.role) in AUTHORITIES:
        return True
    case = session.get(Case, case_id)
    if case is None:
        return False
    if user.organisation_id is not None and case.owner_organisation_id == user.organisation_id:
        return True
    conditions = [CaseParticipant.user_id == user.id]
    if user.organisation_id is not None:
        conditions.append(CaseParticipant.organisation_id == user.organisation_id)
    return session.scalar(select(CaseParticipant.id).where(
        CaseParticipant.case_id == case_id, CaseParticipant.revoked_at.is_(None), or_(*conditions)).limit(1)) is not None
