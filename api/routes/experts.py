"""The expert committee roster (SPEC §2.1, Art. 5): kept by the bureau, public to everyone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import Bureau, DbSession
from api.errors import conflict, not_found, unprocessable
from api.idempotency import run_once
from api.public import ONE_RESPONSES, public_answer
from api.schemas.review import ExpertCreate, ExpertOut, ExpertPublic, ExpertUpdate
from domain.roles import Role
from store import review
from store.models.identity import Organisation, User
from store.models.review import Expert

router = APIRouter(prefix="/experts", tags=["experts"])


def _public(e: Expert, org: Organisation | None) -> dict:
    return {"id": e.id, "name": e.name, "affiliation_organisation_id": e.affiliation_organisation_id,
            "affiliation": org.name if org else None, "expertise": list(e.expertise), "active": e.active}


def _out(session: Session, e: Expert) -> ExpertOut:
    org = session.get(Organisation, e.affiliation_organisation_id) if e.affiliation_organisation_id else None
    return ExpertOut(**_public(e, org), user_id=e.user_id,
                     declared_conflict_organisation_ids=list(e.declared_conflict_organisation_ids))


def _check_organisations(session: Session, affiliation: int | None, conflicts: list[int] | None) -> None:
    if affiliation is not None and session.get(Organisation, affiliation) is None:
        raise unprocessable("affiliation_organisation_id", "exists", f"organisation {affiliation} does not exist")
    if conflicts:
        known = set(session.scalars(select(Organisation.id).where(Organisation.id.in_(conflicts))))
        missing = sorted(set(conflicts) - known)
        if missing:
            raise unprocessable("declared_conflict_organisation_ids", "exists",
                                f"organisations {missing} do not exist")


PUBLIC_TABLES = ("experts", "organisations")


@router.get("", response_model=list[ExpertPublic], summary="The public expert committee roster (no login)",
            responses=ONE_RESPONSES)
def list_experts(request: Request, session: DbSession, active: bool | None = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Annotated[int, Query(ge=0)] = 0):
    def build() -> list[dict]:
        stmt = select(Expert, Organisation).outerjoin(Organisation,
                                                      Organisation.id == Expert.affiliation_organisation_id)
        if active is not None:
            stmt = stmt.where(Expert.active == active)
        rows = session.execute(stmt.order_by(Expert.id).limit(limit).offset(offset))
        return [_public(e, org) for e, org in rows]

    return public_answer(request, session, PUBLIC_TABLES, build)


@router.post("", status_code=201, response_model=ExpertOut, summary="Add an expert to the committee roster")
def create_expert(body: ExpertCreate, session: DbSession, actor: Bureau,
                  idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None):
    def create():
        user = session.get(User, body.user_id)
        if user is None:
            raise unprocessable("user_id", "exists", f"user {body.user_id} does not exist")
        if user.role != Role.EXPERT:
            raise unprocessable("user_id", "role_expert", f"user {body.user_id} has role '{user.role}', not expert")
        if review.expert_for_user(session, user.id) is not None:
            raise conflict(f"user {user.id} is already on the roster", field="user_id", rule="unique")
        affiliation = body.affiliation_organisation_id or user.organisation_id
        _check_organisations(session, affiliation, body.declared_conflict_organisation_ids)
        expert = review.create_expert(session, actor=actor, user_id=user.id, name=body.name,
                                      affiliation_organisation_id=affiliation, expertise=body.expertise,
                                      declared_conflict_organisation_ids=body.declared_conflict_organisation_ids,
                                      active=True)
        return _out(session, expert)

    return run_once(session, user=actor, scope="experts", key=idempotency_key, payload=body.model_dump(),
                    create=create)


@router.patch("/{expert_id}", response_model=ExpertOut, summary="Change a roster entry (conflicts, active…)")
def update_expert(expert_id: int, body: ExpertUpdate, session: DbSession, actor: Bureau):
    expert = session.get(Expert, expert_id)
    if expert is None:
        raise not_found(f"expert {expert_id}")
    changes = body.model_dump(exclude_unset=True)
    for field in ("name", "expertise", "declared_conflict_organisation_ids", "active"):
        if field in changes and changes[field] is None:
            raise unprocessable(field, "not_null", f"{field} cannot be null")
    _check_organisations(session, changes.get("affiliation_organisation_id"),
                         changes.get("declared_conflict_organisation_ids"))
    review.update_expert(session, expert, changes, actor=actor)
    session.commit()
    return _out(session, expert)
