"""Case register: the steps of every case (the kit's record_case_step), who may see a case, and the
deployment id."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.contracts.cases import CaseAccessGrant, CaseMirror, CaseStep
from domain.roles import AUTHORITIES, Role
from store import audit, notifications
from store.models.cases import Case, CaseParticipant, Deployment
from store.models.identity import User

# A process's facts writer: stores the step's facts (its own tables) in the step's transaction.
FactsWriter = Callable[[Session, CaseStep], None]


def _upsert_statement(*, by_seq: bool):
    """Insert or update the case row; only newer news: a higher seq (steps), a later time (mirror)."""
    table = Case.__table__
    stmt = insert(table)
    newer = table.c.seq < stmt.excluded.seq if by_seq else table.c.updated_at <= stmt.excluded.updated_at
    return stmt.on_conflict_do_update(
        index_elements=[table.c.case_id],
        set_={
            "stage": stmt.excluded.stage,
            "deadline": stmt.excluded.deadline,
            "title": func.coalesce(stmt.excluded.title, table.c.title),
            "owner_organisation_id": func.coalesce(stmt.excluded.owner_organisation_id, table.c.owner_organisation_id),
            "details": table.c.details.op("||")(stmt.excluded.details),
            "seq": stmt.excluded.seq,
            "updated_at": stmt.excluded.updated_at,
        },
        where=newer,
    ).returning(table.c.seq)


# Built once: every step of every case runs it (building a statement costs more than executing it).
_STEP = _upsert_statement(by_seq=True)
_MIRROR = _upsert_statement(by_seq=False)  # processes not on the kit yet


def record_step(session: Session, step: CaseStep, facts_writer: FactsWriter | None, *, now: datetime) -> bool:
    """Write one step of a case, in the caller's transaction: the case row first (it orders the steps:
    a step whose seq is not above the stored one changes nothing and returns False), then the process's
    facts, access grants, notifications, and the audit event last (it holds the chain's lock to commit).
    `now` is the wall clock webhooks are due from."""
    m = step.mirror
    written = session.execute(_STEP, {
        "case_id": m.case_id, "case_type": m.case_type, "stage": m.stage, "owner_organisation_id": m.owner_organisation_id,
        "title": m.title, "deadline": m.deadline, "details": m.details, "seq": step.seq,
        "created_at": m.occurred_at, "updated_at": m.occurred_at}).first()
    if written is None:
        return False
    if step.facts is not None:
        if facts_writer is None:
            raise LookupError(f"no facts writer for case type {m.case_type}")
        facts_writer(session, step)
    for g in step.grants:
        grant(session, g)
    for n in step.notifications:
        notifications.notify(session, n, now=now)
    if step.audit is not None:
        audit.append(session, **step.audit.model_dump())
    return True


def seq(session: Session, case_id: str) -> int:
    """The case's last recorded step (0 before its first): human actions name it in their update ids."""
    return session.scalar(select(Case.seq).where(Case.case_id == case_id)) or 0


_DEPLOYMENTS: dict[str, str] = {}


def deployment_id(session: Session) -> str:
    """This database's deployment id (made by migration 0010; read once per database)."""
    url = str(session.get_bind().url)
    found = _DEPLOYMENTS.get(url)
    if found is None:
        found = session.scalar(select(Deployment.deployment_id))
        if found is None:
            raise LookupError("the deployment table is empty: run the migrations (tanpuhui migrate)")
        _DEPLOYMENTS[url] = found
    return found


def mirror(session: Session, m: CaseMirror) -> None:
    """Insert or update the case row; older news (an earlier occurred_at) never overwrites newer."""
    values = m.model_dump()
    occurred = values.pop("occurred_at")
    session.execute(_MIRROR, {**values, "seq": 0, "created_at": occurred, "updated_at": occurred})


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
