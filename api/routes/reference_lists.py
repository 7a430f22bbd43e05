"""Reference lists the bureau keeps: accredited verification bodies (Art. 19) and key emitting units
under the national or Hubei ETS with their compliance boundaries (Art. 23)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from sqlalchemy import select

from api.deps import Authority, Bureau, DbSession
from api.schemas.types import IsoDate
from api.errors import not_found, unprocessable
from api.idempotency import run_once
from api.schemas.issuance import (
    AccreditationCreate,
    AccreditationOut,
    KeyEmitterChange,
    KeyEmitterCreate,
    KeyEmitterOut,
    Revocation,
    VerificationBodyOut,
)
from domain.clock import shanghai_today
from domain.clock import now_utc
from domain.roles import OrganisationStatus, OrganisationType
from store import audit
from store.issuance import accreditation_on
from store.models.identity import Organisation
from store.models.issuance import KeyEmitter, VerifierAccreditation

router = APIRouter(tags=["reference lists"])


@router.post("/verification-bodies/{organisation_id}/accreditations", status_code=201,
             response_model=AccreditationOut, summary="Accredit a verification body for a validity period")
def accredit(
    organisation_id: int,
    body: AccreditationCreate,
    session: DbSession,
    actor: Bureau,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
):
    def create():
        org = session.get(Organisation, organisation_id)
        if org is None:
            raise not_found(f"organisation {organisation_id}")
        if org.org_type != OrganisationType.VERIFICATION_BODY:
            raise unprocessable("organisation_id", "verification_body",
                                f"organisation {org.id} is a {org.org_type}, not a verification body")
        acc = VerifierAccreditation(organisation_id=org.id, reference=body.reference, valid_from=body.valid_from,
                                    valid_until=body.valid_until, granted_by_user_id=actor.id)
        session.add(acc)
        session.flush()
        audit.record(session, action="verifier.accredited", entity_type="organisation", entity_id=org.id,
                     occurred_at=now_utc(), actor_user_id=actor.id, actor_role=actor.role,
                     details={"accreditation_id": acc.id, "reference": body.reference,
                              "valid_from": body.valid_from.isoformat(), "valid_until": body.valid_until.isoformat()})
        return AccreditationOut.model_validate(acc)

    return run_once(session, user=actor, scope=f"accreditations:{organisation_id}", key=idempotency_key,
                    payload=body.model_dump(mode="json"), create=create)


@router.post("/accreditations/{accreditation_id}/revocation", response_model=AccreditationOut,
             summary="Revoke an accreditation (no new engagements from now on)")
def revoke_accreditation(accreditation_id: int, body: Revocation, session: DbSession, actor: Bureau):
    acc = session.get(VerifierAccreditation, accreditation_id)
    if acc is None:
        raise not_found(f"accreditation {accreditation_id}")
    if acc.revoked_at is None:
        acc.revoked_at = now_utc()
        acc.revocation_reason = body.reason
        audit.record(session, action="verifier.accreditation_revoked", entity_type="organisation",
                     entity_id=acc.organisation_id, occurred_at=acc.revoked_at, actor_user_id=actor.id,
                     actor_role=actor.role, details={"accreditation_id": acc.id, "reason": body.reason})
        session.commit()
    return acc


@router.get("/verification-bodies", response_model=list[VerificationBodyOut],
            summary="Public list of verification bodies accredited on a date (default today)")
def list_verification_bodies(session: DbSession, on: IsoDate | None = None):
    day = on or shanghai_today(now_utc())
    orgs = session.scalars(select(Organisation).where(
        Organisation.org_type == OrganisationType.VERIFICATION_BODY.value,
        Organisation.status == OrganisationStatus.ACTIVE.value).order_by(Organisation.id)).all()
    out = []
    for org in orgs:
        acc = accreditation_on(session, org.id, day)
        if acc is not None:
            out.append(VerificationBodyOut(organisation_id=org.id, name=org.name,
                                           accreditation=AccreditationOut.model_validate(acc)))
    return out


@router.post("/key-emitters", status_code=201, response_model=KeyEmitterOut,
             summary="List a key emitting unit and the facilities inside its compliance boundary")
def create_key_emitter(
    body: KeyEmitterCreate,
    session: DbSession,
    actor: Bureau,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
):
    def create():
        if session.get(Organisation, body.organisation_id) is None:
            raise unprocessable("organisation_id", "exists", f"organisation {body.organisation_id} does not exist")
        emitter = KeyEmitter(**body.model_dump(), created_by_user_id=actor.id)
        session.add(emitter)
        session.flush()
        audit.record(session, action="key_emitter.listed", entity_type="key_emitter", entity_id=emitter.id,
                     occurred_at=now_utc(), actor_user_id=actor.id, actor_role=actor.role,
                     details=body.model_dump(mode="json"))
        return KeyEmitterOut.model_validate(emitter)

    return run_once(session, user=actor, scope="key-emitters", key=idempotency_key,
                    payload=body.model_dump(mode="json"), create=create)


@router.patch("/key-emitters/{emitter_id}", response_model=KeyEmitterOut,
              summary="Change a key emitter's boundary facilities or end its listing")
def change_key_emitter(emitter_id: int, body: KeyEmitterChange, session: DbSession, actor: Bureau):
    emitter = session.get(KeyEmitter, emitter_id)
    if emitter is None:
        raise not_found(f"key emitter {emitter_id}")
    changes = body.model_dump(exclude_unset=True, mode="json")
    if not changes:
        raise unprocessable("body", "required", "nothing to change")
    if "boundary_facility_ids" in changes and body.boundary_facility_ids is None:
        raise unprocessable("boundary_facility_ids", "required", "a key emitter has at least one boundary facility")
    if body.effective_until is not None and body.effective_until < emitter.effective_from:
        raise unprocessable("effective_until", "effective", "effective_until must not be before effective_from")
    for key, value in body.model_dump(exclude_unset=True).items():
        setattr(emitter, key, value)
    audit.record(session, action="key_emitter.changed", entity_type="key_emitter", entity_id=emitter.id,
                 occurred_at=now_utc(), actor_user_id=actor.id, actor_role=actor.role, details=changes)
    session.commit()
    return emitter


@router.get("/key-emitters", response_model=list[KeyEmitterOut], summary="The key emitter list")
def list_key_emitters(session: DbSession, _: Authority, organisation_id: int | None = None):
    query = select(KeyEmitter).order_by(KeyEmitter.id)
    if organisation_id is not None:
        query = query.where(KeyEmitter.organisation_id == organisation_id)
    return session.scalars(query).all()
