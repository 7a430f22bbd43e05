"""Admin API: organisations, users, tokens (issue: identity and roles)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.deps import Authority, CallerColumns, CurrentUser, DbSession, SettingsDep, ensure_may_act
from api.errors import conflict, forbidden, not_found, unprocessable
from api.idempotency import run_once
from api.schemas.identity import (
    OrganisationCreate,
    OrganisationCreated,
    OrganisationOut,
    StatusChange,
    TokenCreate,
    TokenIssued,
    TokenOut,
    UserCreate,
    UserOut,
)
from domain.roles import (
    AUTHORITIES,
    OrganisationStatus,
    OrganisationType,
    Role,
    may_manage_user,
    role_organisation_error,
)
from store import identity
from store.models.identity import ApiToken, Organisation, User

router = APIRouter(tags=["identity"])



@router.get("/me", response_model=UserOut, summary="The caller")
async def me(user: CallerColumns) -> User:
    # async: it does no I/O (the caller's columns are loaded, UserOut has no relationship), and FastAPI runs a
    # plain `def` route on the thread pool and then its answer's validation there too (two hops). A cached
    # token needs no session at all (api.deps.caller_columns).
    return user


@router.post("/organisations", status_code=201, response_model=OrganisationCreated,
             summary="Register an organisation (pending until approved)")
def create_organisation(
    body: OrganisationCreate,
    session: DbSession,
    actor: Authority,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
):
    def create():
        if session.scalar(select(Organisation.id).where(Organisation.name == body.name)) is not None:
            raise conflict(f"an organisation named '{body.name}' exists", field="name", rule="unique")
        org = identity.create_organisation(
            session, name=body.name, org_type=body.org_type, credit_code=body.credit_code,
            webhook_url=str(body.webhook_url) if body.webhook_url else None, actor=actor)
        return OrganisationCreated.model_validate(org, from_attributes=True)

    try:
        return run_once(session, user=actor, scope="organisations", key=idempotency_key,
                        payload=body.model_dump(mode="json"), create=create)
    except IntegrityError:
        raise conflict("the credit code is already registered", field="credit_code", rule="unique")


@router.get("/organisations", response_model=list[OrganisationOut], summary="Organisations the caller may see")
def list_organisations(session: DbSession, user: CurrentUser, status: OrganisationStatus | None = None):
    query = select(Organisation).order_by(Organisation.id)
    if Role(user.role) not in AUTHORITIES:
        query = query.where(Organisation.id == user.organisation_id)
    if status is not None:
        query = query.where(Organisation.status == status.value)
    return session.scalars(query).all()


def _visible_org(session, user: User, org_id: int) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None or (Role(user.role) not in AUTHORITIES and user.organisation_id != org_id):
        raise not_found(f"organisation {org_id}")
    return org


@router.get("/organisations/{org_id}", response_model=OrganisationOut)
def get_organisation(org_id: int, session: DbSession, user: CurrentUser):
    return _visible_org(session, user, org_id)


_TRANSITIONS = {
    "approve": ({OrganisationStatus.PENDING}, OrganisationStatus.ACTIVE),
    "suspend": ({OrganisationStatus.ACTIVE}, OrganisationStatus.SUSPENDED),
    "reinstate": ({OrganisationStatus.SUSPENDED}, OrganisationStatus.ACTIVE),
    "terminate": ({OrganisationStatus.PENDING, OrganisationStatus.ACTIVE, OrganisationStatus.SUSPENDED},
                  OrganisationStatus.TERMINATED),
}


def _change_status(session, actor: User, org_id: int, action: str, reason: str | None) -> Organisation:
    _visible_org(session, actor, org_id)
    # The row lock serialises concurrent changes; the transition is checked against the status as it is now
    # (populate_existing: not the copy loaded with the caller), so each real change is audited once.
    org = session.get(Organisation, org_id, with_for_update=True, populate_existing=True)
    allowed_from, target = _TRANSITIONS[action]
    if org.status == target.value:
        return org  # retried call: already done
    if action == "reinstate":
        # Art. 33: a sanction's suspension is lifted by its case (which also unfreezes and resumes), never
        # by the status alone, or the sanction would be half undone.
        from store.models.supervision import Sanction

        sanction = session.scalar(select(Sanction.id).where(Sanction.organisation_id == org.id,
                                                            Sanction.stage != "lifted"))
        if sanction is not None:
            raise conflict(f"sanction-{sanction} is in force: POST /api/v1/sanctions/{sanction}/reinstatement",
                           rule="art33.measure_in_force", field="org_id")
    if OrganisationStatus(org.status) not in allowed_from:
        raise conflict(f"cannot {action} an organisation that is {org.status}")
    if org.id == actor.organisation_id and target != OrganisationStatus.ACTIVE:
        raise forbidden("an authority cannot suspend or terminate its own organisation")
    identity.set_organisation_status(session, org, target, actor=actor, reason=reason)
    session.commit()
    return org


@router.post("/organisations/{org_id}/approve", response_model=OrganisationOut)
def approve_organisation(org_id: int, session: DbSession, actor: Authority):
    return _change_status(session, actor, org_id, "approve", None)


@router.post("/organisations/{org_id}/suspend", response_model=OrganisationOut,
             summary="Suspend access (administrative): its users can no longer act. An Art. 33 sanction, which "
                     "also pauses its cases and freezes its account, is POST /sanctions")
def suspend_organisation(org_id: int, body: StatusChange, session: DbSession, actor: Authority):
    return _change_status(session, actor, org_id, "suspend", body.reason)


@router.post("/organisations/{org_id}/reinstate", response_model=OrganisationOut)
def reinstate_organisation(org_id: int, body: StatusChange, session: DbSession, actor: Authority):
    return _change_status(session, actor, org_id, "reinstate", body.reason)


@router.post("/organisations/{org_id}/terminate", response_model=OrganisationOut)
def terminate_organisation(org_id: int, body: StatusChange, session: DbSession, actor: Authority):
    return _change_status(session, actor, org_id, "terminate", body.reason)


@router.post("/users", status_code=201, response_model=UserOut, summary="Create a user with one role")
def create_user(
    body: UserCreate,
    session: DbSession,
    actor: Authority,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
):
    def create():
        org = None
        if body.organisation_id is not None:
            org = session.get(Organisation, body.organisation_id)
            if org is None:
                raise unprocessable("organisation_id", "exists", f"organisation {body.organisation_id} does not exist")
        error = role_organisation_error(body.role, OrganisationType(org.org_type) if org else None)
        if error is not None:
            raise unprocessable("organisation_id", *error)
        if not may_manage_user(Role(actor.role), body.role):
            raise forbidden("only the bureau creates bureau administrators")
        if body.email and session.scalar(select(User.id).where(User.email == body.email)) is not None:
            raise conflict(f"a user with email {body.email} exists", field="email", rule="unique")
        user = identity.create_user(session, name=body.name, role=body.role, organisation=org,
                                    email=body.email, actor=actor)
        return UserOut.model_validate(user)

    return run_once(session, user=actor, scope="users", key=idempotency_key,
                    payload=body.model_dump(mode="json"), create=create)


@router.get("/users", response_model=list[UserOut])
def list_users(session: DbSession, actor: Authority, organisation_id: int | None = None, role: Role | None = None):
    query = select(User).order_by(User.id)
    if organisation_id is not None:
        query = query.where(User.organisation_id == organisation_id)
    if role is not None:
        query = query.where(User.role == role.value)
    return session.scalars(query).all()


def _managed_user(session, actor: User, user_id: int, *, lock: bool = False) -> User:
    """The user `actor` may administer: themself, or one of a role `actor` may create (domain.roles)."""
    if actor.id != user_id:
        if Role(actor.role) not in AUTHORITIES:
            raise forbidden("only authorities manage other users")
        ensure_may_act(actor)
    user = session.get(User, user_id, with_for_update={"of": User} if lock else None, populate_existing=lock)
    if user is None:
        raise not_found(f"user {user_id}")
    if actor.id != user.id and not may_manage_user(Role(actor.role), Role(user.role)):
        raise forbidden(f"a {actor.role} may not create a {user.role}, so may not manage one either")
    return user


@router.post("/users/{user_id}/tokens", status_code=201, response_model=TokenIssued,
             summary="Issue a bearer token (a user for themself; an authority for users of roles it may create)")
def issue_token(user_id: int, body: TokenCreate, session: DbSession, actor: CurrentUser, settings: SettingsDep):
    user = _managed_user(session, actor, user_id)
    token, secret = identity.issue_token(session, user, ttl_days=body.ttl_days or settings.token_ttl_days,
                                         label=body.label, actor=actor)
    out = TokenIssued(**TokenOut.model_validate(token).model_dump(), token=secret)
    session.commit()
    return out


@router.post("/users/{user_id}/invitations", status_code=201,
             summary="Invite a person to set a password for the web pages (one-time link, shown once)")
def invite_user(user_id: int, session: DbSession, actor: Authority, settings: SettingsDep) -> dict[str, str]:
    from store import web_auth

    # An invitation also resets a password, so it follows the rule of managing a user (domain.roles):
    # an operator may not take over a bureau administrator's sign-in.
    user = _managed_user(session, actor, user_id)
    refusal = web_auth.invitation_refusal(user)
    if refusal is not None:
        raise unprocessable(*refusal)
    row, secret = web_auth.create_invitation(session, user, ttl_hours=settings.invitation_ttl_hours, actor=actor)
    session.commit()
    return {"link": f"{settings.public_url.rstrip('/')}/invitation/{secret}", "expires_at": row.expires_at.isoformat()}


@router.get("/users/{user_id}/tokens", response_model=list[TokenOut])
def list_tokens(user_id: int, session: DbSession, actor: CurrentUser):
    _managed_user(session, actor, user_id)
    return session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)).all()


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="Revoke a token")
def revoke_token(token_id: int, session: DbSession, actor: CurrentUser):
    token = session.get(ApiToken, token_id)
    if token is None or (Role(actor.role) not in AUTHORITIES and token.user_id != actor.id):
        raise not_found(f"token {token_id}")
    _managed_user(session, actor, token.user_id)
    identity.revoke_token(session, token, actor=actor)
    session.commit()
    return token


def _set_active(session, actor: User, user_id: int, active: bool, reason: str) -> User:
    if actor.id == user_id:
        raise conflict("nobody deactivates or reactivates themself", rule="self")
    user = _managed_user(session, actor, user_id, lock=True)  # the lock: one audit event per real change
    identity.set_user_active(session, user, active, actor=actor, reason=reason)
    session.commit()
    return user


@router.post("/users/{user_id}/deactivation", response_model=UserOut,
             summary="Deactivate a user: its tokens stop working at once (authorities, as for creating it)")
def deactivate_user(user_id: int, body: StatusChange, session: DbSession, actor: Authority):
    return _set_active(session, actor, user_id, False, body.reason)


@router.post("/users/{user_id}/reactivation", response_model=UserOut, summary="Reactivate a deactivated user")
def reactivate_user(user_id: int, body: StatusChange, session: DbSession, actor: Authority):
    return _set_active(session, actor, user_id, True, body.reason)
