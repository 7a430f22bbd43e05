"""Sign-in for people on the pages: invitations (one-time, expiring), password sign-in with lockout and
back-off, the session cookie's attributes, CSRF on forms, sign-out, and sessions revoked when the
organisation is suspended (they stay revoked after reinstatement)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from api.app import create_app
from domain.clock import now_utc
from domain.roles import OrganisationType, Role
from store import web_auth
from store.models.identity import User
from store.models.web import SignInThrottle, WebInvitation
from tests.web_helpers import PASSWORD, person


@pytest.fixture
async def web(settings, session_factory):
    app = create_app(settings, session_factory=session_factory, temporal_client=None)

    def client(base: str = "http://test") -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)
    return client


def token_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)


async def sign_in(c: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await c.get("/sign-in")
    return await c.post("/sign-in", data={"email": email, "password": password, "csrf_token": token_of(page.text)})


async def test_sign_in_sets_a_strict_http_only_cookie_secure_over_tls(web, session_factory, make_org):
    expert = person(session_factory, Role.EXPERT, make_org(org_type=OrganisationType.PUBLIC_INSTITUTION))
    async with web() as c:
        r = await sign_in(c, expert.user.email.upper(), PASSWORD)  # e-mails match in any case
        assert r.status_code == 303 and r.headers["location"] == "/expert/tasks"
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("tph_session="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        assert (await c.get("/expert/tasks")).status_code == 200
        # Sign-out ends the session: the same cookie no longer opens the page.
        page = await c.get("/expert/tasks")
        kept = c.cookies.get("tph_session")
        assert (await c.post("/sign-out", data={"csrf_token": token_of(page.text)})).status_code == 303
        c.cookies.set("tph_session", kept)
        again = await c.get("/expert/tasks")
        assert again.status_code == 303 and again.headers["location"].startswith("/sign-in")
    async with web("https://test") as c:
        r = await sign_in(c, expert.user.email, PASSWORD)
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("tph_session="))
        assert "Secure" in cookie


async def test_forms_without_the_csrf_token_are_refused(web, session_factory, make_org):
    expert = person(session_factory, Role.EXPERT, make_org(org_type=OrganisationType.PUBLIC_INSTITUTION))
    async with web() as c:
        await c.get("/sign-in")
        r = await c.post("/sign-in", data={"email": expert.user.email, "password": PASSWORD})
        assert r.status_code == 403 and "text/html" in r.headers["content-type"] and "tph_session" not in r.cookies
        r = await c.post("/sign-in", data={"email": expert.user.email, "password": PASSWORD, "csrf_token": "0" * 64})
        assert r.status_code == 403
        page = await c.get("/sign-in")
        r = await c.post("/sign-in", headers={"Origin": "https://evil.example"},
                         data={"email": expert.user.email, "password": PASSWORD, "csrf_token": token_of(page.text)})
        assert r.status_code == 403
        # A token of this browser before sign-in is not valid for the signed-in session.
        old = token_of((await c.get("/sign-in")).text)
        assert (await sign_in(c, expert.user.email, PASSWORD)).status_code == 303
        assert (await c.post("/sign-out", data={"csrf_token": old})).status_code == 403


async def test_lockout_backs_off_and_a_success_clears_it(web, session_factory, make_org):
    expert = person(session_factory, Role.EXPERT, make_org(org_type=OrganisationType.PUBLIC_INSTITUTION))
    async with web() as c:
        for _ in range(web_auth.FREE_FAILURES - 1):
            assert (await sign_in(c, expert.user.email, "wrong password!")).status_code == 401
        r = await sign_in(c, expert.user.email, "wrong password!")
        assert r.status_code == 429 and int(r.headers["retry-after"]) <= 60
        # Locked: even the right password is refused until the lock ends.
        assert (await sign_in(c, expert.user.email, PASSWORD)).status_code == 429
        with session_factory() as s, s.begin():
            s.execute(update(SignInThrottle).values(locked_until=now_utc() - timedelta(seconds=1)))
        r = await sign_in(c, expert.user.email, "wrong password!")  # the next failure locks twice as long
        assert r.status_code == 429 and 60 < int(r.headers["retry-after"]) <= 120
        with session_factory() as s, s.begin():
            s.execute(update(SignInThrottle).values(locked_until=now_utc() - timedelta(seconds=1)))
        assert (await sign_in(c, expert.user.email, PASSWORD)).status_code == 303
    with session_factory() as s:
        assert s.get(SignInThrottle, expert.id).failures == 0
    async with web() as c:  # unknown e-mails answer like wrong passwords
        assert (await sign_in(c, "nobody@example.cn", PASSWORD)).status_code == 401


async def test_invitations_are_one_time_and_expire(web, session_factory, make_org):
    expert = person(session_factory, Role.EXPERT, make_org(org_type=OrganisationType.PUBLIC_INSTITUTION),
                    password=None)
    with session_factory() as s, s.begin():
        _, first = web_auth.create_invitation(s, s.get(User, expert.id), ttl_hours=1, actor=None)
        _, link = web_auth.create_invitation(s, s.get(User, expert.id), ttl_hours=1, actor=None)
    async with web() as c:
        assert (await c.get(f"/invitation/{first}")).status_code == 404  # replaced by the newer one
        page = await c.get(f"/invitation/{link}")
        assert page.status_code == 200
        short = await c.post(f"/invitation/{link}", data={"password": "short", "password2": "short",
                                                          "csrf_token": token_of(page.text)})
        assert short.status_code == 422 and "10" in short.text
        r = await c.post(f"/invitation/{link}", data={"password": "a long new password",
                                                      "password2": "a long new password",
                                                      "csrf_token": token_of(page.text)})
        assert r.status_code == 303 and r.headers["location"] == "/expert/tasks"
        assert (await c.get(f"/invitation/{link}")).status_code == 404  # spent
    async with web() as c:
        assert (await sign_in(c, expert.user.email, "a long new password")).status_code == 303
    with session_factory() as s, s.begin():
        _, late = web_auth.create_invitation(s, s.get(User, expert.id), ttl_hours=1, actor=None)
        s.execute(update(WebInvitation).where(WebInvitation.used_at.is_(None))
                  .values(expires_at=now_utc() - timedelta(seconds=1)))
    async with web() as c:
        assert (await c.get(f"/invitation/{late}")).status_code == 404


async def test_suspending_the_organisation_revokes_its_sessions(web, session_factory, make_org, bureau):
    org = make_org()
    applicant = person(session_factory, Role.APPLICANT, org)
    async with web() as c:
        assert (await sign_in(c, applicant.user.email, PASSWORD)).status_code == 303
        assert (await c.get("/my/cases")).status_code == 200
        r = await c.post(f"/api/v1/organisations/{org.id}/suspend", headers=bureau.headers,
                         json={"reason": "Art. 33 breach"})
        assert r.status_code == 200, r.text
        r = await c.get("/my/cases")
        assert r.status_code == 303 and r.headers["location"].startswith("/sign-in")
        assert (await sign_in(c, applicant.user.email, PASSWORD)).status_code == 403
        await c.post(f"/api/v1/organisations/{org.id}/reinstate", headers=bureau.headers, json={"reason": "ok"})
        assert (await c.get("/my/cases")).status_code == 303  # the old session stays revoked
        assert (await sign_in(c, applicant.user.email, PASSWORD)).status_code == 303


async def test_a_page_admits_only_the_roles_of_its_api(web, session_factory, make_org):
    applicant = person(session_factory, Role.APPLICANT, make_org())
    async with web() as c:
        assert (await c.get("/dashboard")).status_code == 303  # not signed in: to the sign-in page
        await sign_in(c, applicant.user.email, PASSWORD)
        for path in ("/dashboard", "/expert/tasks"):
            r = await c.get(path)
            assert r.status_code == 403 and "text/html" in r.headers["content-type"]
        assert (await c.get("/cases/methodology-999999")).status_code == 404
        assert (await c.get("/api/v1/me")).headers["content-type"] == "application/problem+json"


async def test_an_invitation_follows_the_rule_of_managing_the_user(web, session_factory, make_org):
    """An invitation resets a password: an operator may not invite (take over) a bureau administrator,
    nobody invites a system or a deactivated user; the bureau may invite its own administrators."""
    bureau_org = make_org(org_type=OrganisationType.GOVERNMENT)
    bureau = person(session_factory, Role.BUREAU_ADMIN, bureau_org)
    other_admin = person(session_factory, Role.BUREAU_ADMIN, bureau_org, password=None)
    operator = person(session_factory, Role.OPERATOR_ADMIN, make_org(org_type=OrganisationType.PUBLIC_INSTITUTION))
    system = person(session_factory, Role.DATA_SOURCE, make_org(), password=None)
    async with web() as c:
        r = await c.post(f"/api/v1/users/{other_admin.id}/invitations", headers=operator.headers)
        assert r.status_code == 403, r.text
        r = await c.post(f"/api/v1/users/{system.id}/invitations", headers=bureau.headers)
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "person"
        r = await c.post(f"/api/v1/users/{other_admin.id}/invitations", headers=bureau.headers)
        assert r.status_code == 201 and "/invitation/inv_" in r.json()["link"]
        with session_factory() as s, s.begin():
            s.get(User, other_admin.id).active = False
        r = await c.post(f"/api/v1/users/{other_admin.id}/invitations", headers=bureau.headers)
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "active"


async def test_users_page_creates_only_people_with_an_email(web, session_factory, make_org):
    from sqlalchemy import func, select

    bureau = person(session_factory, Role.BUREAU_ADMIN, make_org(org_type=OrganisationType.GOVERNMENT))
    firm = make_org()
    async with web() as c:
        await sign_in(c, bureau.user.email, PASSWORD)
        page = await c.get("/users")
        assert page.status_code == 200
        token = token_of(page.text)
        with session_factory() as s:
            before = s.scalar(select(func.count(User.id)))
        # Without an e-mail (the browser requires it; a forged form does not): refused, nobody created.
        r = await c.post("/users", data={"csrf_token": token, "name": "X", "role": "applicant",
                                         "organisation_id": str(firm.id)})
        assert r.status_code == 422 and "email" in r.text
        # A system role is never invited from the page (tokens through the API).
        r = await c.post("/users", data={"csrf_token": token, "name": "Meter", "email": "m@example.cn",
                                         "role": "data_source", "organisation_id": str(firm.id)})
        assert r.status_code == 422 and "person" in r.text
        with session_factory() as s:
            assert s.scalar(select(func.count(User.id))) == before
        # A person: created, and the one-time link shown in the answer.
        r = await c.post("/users", data={"csrf_token": token, "name": "Qian", "email": "qian@example.cn",
                                         "role": "applicant", "organisation_id": str(firm.id)})
        assert r.status_code == 201 and "/invitation/inv_" in r.text
