"""Residents' pages (SPEC §2.5, Art. 15, 22): self-service sign-up and the personal account (/me) with
its balance in grams, the statement by day and behaviour, binding a data source's one-time code (consent)
and unbinding. Each calls the API's own route function (api/routes/personal.py): the same sign-up rules
(password policy, one account per e-mail), the same binding refusals, the same role check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from api.deps import DbSession, SettingsDep
from api.errors import Problem
from api.routes import personal as personal_routes
from api.schemas.personal import BindingIn, ResidentIn
from domain.roles import Role
from store import identity, web_auth
from store.models.identity import ApiToken, User
from web.auth import PageUser, roles_page
from web.pages.account import _signed_in_response
from web.pages.common import as_problem, body, form_of, home_of, page_router, see_other, text
from web.render import render

router = page_router()
Resident = Annotated[User, Depends(roles_page(Role.INDIVIDUAL))]


# --- sign-up -------------------------------------------------------------------------------------

@router.get("/sign-up")
def sign_up_page(request: Request, user: PageUser):
    if user is not None:
        return see_other(home_of(user.role))
    return render(request, "resident/sign_up.html", {"values": {}, "error": None})


@router.post("/sign-up")
async def sign_up(request: Request, session: DbSession, settings: SettingsDep):
    form = await form_of(request)
    values = {"name": text(form, "name"), "email": text(form, "email")}
    password = (form.get("password") or "").replace("\x00", "")

    def create() -> str:
        answer = personal_routes.sign_up(body(ResidentIn, password=password, **values), session, settings)
        # The API answers a bearer token for scripts and apps; a person in the browser has the session
        # cookie instead, so that unused token is revoked at once rather than left valid for weeks.
        user = session.get(User, answer["user_id"])
        token = session.scalar(select(ApiToken).where(ApiToken.token_hash == identity.hash_token(answer["token"])))
        identity.revoke_token(session, token, actor=user)
        secret = web_auth.start_session(session, user, max_hours=settings.web_session_max_hours)
        session.commit()
        return secret

    try:
        secret = await run_in_threadpool(create)
    except Problem as problem:
        session.rollback()
        return render(request, "resident/sign_up.html", {"values": values, "error": problem}, status=problem.status)
    return _signed_in_response(request, secret, "/me")


# --- the personal account ------------------------------------------------------------------------

def _me(request: Request, session, user: User, *, error: Problem | None = None, status: int = 200,
        bound: dict | None = None):
    account = personal_routes.my_personal_account(session, user)
    statement = personal_routes.my_statement(session, user)
    bindings = personal_routes.my_bindings(session, user)
    session.rollback()
    days: dict = {}
    for line in statement:
        days.setdefault(line["day"], []).append(line)
    return render(request, "resident/me.html", {
        "account": account, "days": sorted(days.items(), reverse=True),
        "total_statement": sum(line["grams"] for line in statement),
        "bindings": [b for b in bindings if b["unbound_at"] is None],
        "ended": [b for b in bindings if b["unbound_at"] is not None],
        "error": error, "bound": bound}, status=status)


@router.get("/me")
def me(request: Request, session: DbSession, user: Resident):
    return _me(request, session, user)


@router.post("/me/bindings")
async def bind(request: Request, session: DbSession, user: Resident):
    form = await form_of(request)

    def run():
        try:
            bound = personal_routes.bind(body(BindingIn, code=text(form, "code")), session, user)
        except Problem as problem:
            session.rollback()
            return _me(request, session, user, error=as_problem(problem), status=problem.status)
        return _me(request, session, user, bound=bound, status=201)

    return await run_in_threadpool(run)


@router.post("/me/bindings/{binding_id}/unbind")
async def unbind(request: Request, binding_id: int, session: DbSession, user: Resident):
    # Another resident's binding is a 404 page, as the API answers.
    await run_in_threadpool(personal_routes.unbind, binding_id, session, user)
    return see_other("/me#bindings")

