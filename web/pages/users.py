"""The authorities' user page: people and their roles, creating a person (the API's `POST /users`) and
inviting them (`POST /users/{id}/invitations`): the one-time set-password link is shown once, on the
answer to the form, never stored in a page or a URL. The same rules as the API decide: only the
authorities, only roles they may manage (`domain.roles.may_manage_user`), the role's organisation
types, and whom an invitation may go to (`store.web_auth.invitation_refusal`)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from api.deps import DbSession, SettingsDep
from api.errors import Problem
from api.routes import identity as identity_routes
from api.schemas.identity import UserCreate
from domain.rules import Refusal
from domain.roles import OrganisationStatus, Role, may_manage_user
from store import web_auth
from store.models.identity import Organisation, User
from web.auth import roles_page
from web.pages.common import as_problem, body, form_of, page_router, text
from web.render import render

router = page_router()
Authority = Annotated[User, Depends(roles_page(Role.BUREAU_ADMIN, Role.OPERATOR_ADMIN))]
SYSTEMS = (Role.DATA_SOURCE, Role.EXCHANGE)  # bearer tokens only (the API's /users and tokens)


def _view(session, actor: User) -> dict[str, Any]:
    users = identity_routes.list_users(session, actor)
    orgs = list(session.scalars(select(Organisation).where(Organisation.status == OrganisationStatus.ACTIVE.value)
                                .order_by(Organisation.name)))
    names = {o.id: o.name for o in session.scalars(select(Organisation))}
    me = Role(actor.role)
    return {"users": users, "orgs": orgs, "org_names": names,
            "roles": [r for r in Role if r not in SYSTEMS and may_manage_user(me, r)],
            "invitable": {u.id for u in users if may_manage_user(me, Role(u.role))
                          and web_auth.invitation_refusal(u) is None}}


def _page(request: Request, session, actor: User, *, error: Problem | None = None, values: dict | None = None,
          invited: dict | None = None, status: int = 200):
    ctx = _view(session, actor)
    session.rollback()
    return render(request, "authority/users.html", {**ctx, "error": error, "values": values or {},
                                                     "invited": invited, "key": uuid.uuid4().hex}, status=status)


@router.get("/users")
def users_page(request: Request, session: DbSession, actor: Authority):
    return _page(request, session, actor)


def _invite(session, actor: User, user_id: int, settings) -> dict:
    answer = identity_routes.invite_user(user_id, session, actor, settings)
    user = session.get(User, user_id)
    # Shown in Asia/Shanghai like every time on the pages (the API answers UTC).
    return {**answer, "expires_at": datetime.fromisoformat(answer["expires_at"]), "name": user.name,
            "email": user.email}


@router.post("/users")
async def create_and_invite(request: Request, session: DbSession, actor: Authority, settings: SettingsDep):
    form = await form_of(request)
    values = {k: text(form, k) for k in ("name", "email", "role", "organisation_id")}
    key = text(form, "idempotency_key")[:200] or None

    def work() -> dict:
        parsed = body(UserCreate, name=values["name"], role=values["role"] or None,
                      email=values["email"] or None, organisation_id=values["organisation_id"] or None)
        if not parsed.email:  # checked before the user exists: a person without one could never sign in
            raise Problem(422, "Unprocessable request", "a person signs in with an e-mail", field="email",
                          rule="required")
        if parsed.role in SYSTEMS:  # systems get tokens through the API, never an invitation
            raise Problem(422, "Unprocessable request", "a system user gets a bearer token through the API",
                          field="role", rule="person")
        created = json.loads(identity_routes.create_user(parsed, session, actor, idempotency_key=key).body)
        return _invite(session, actor, created["id"], settings)

    try:
        invited = await run_in_threadpool(work)
    except (Problem, Refusal) as refused:
        session.rollback()
        problem = as_problem(refused)
        return await run_in_threadpool(_page, request, session, actor, error=problem, values=values,
                                       status=problem.status)
    return await run_in_threadpool(_page, request, session, actor, invited=invited, status=201)


@router.post("/users/{user_id}/invitation")
async def invite(request: Request, user_id: int, session: DbSession, actor: Authority, settings: SettingsDep):
    try:
        invited = await run_in_threadpool(_invite, session, actor, user_id, settings)
    except (Problem, Refusal) as refused:
        session.rollback()
        problem = as_problem(refused)
        if problem.status == 404:
            raise
        return await run_in_threadpool(_page, request, session, actor, error=problem, status=problem.status)
    return await run_in_threadpool(_page, request, session, actor, invited=invited)
