"""Who is looking at a page (the session cookie), which roles a page admits, and CSRF on every form.

- Session cookie `tph_session`: HttpOnly, SameSite=Strict, Secure when the request came over TLS;
  its secret is stored only hashed (store/web_auth.py), checked on every request (idle timeout,
  lifetime, user active, organisation active).
- CSRF: a random `tph_csrf` cookie (HttpOnly, SameSite=Strict) and, in every form, a token that is an
  HMAC of that cookie and the session under the platform's secret key. A POST without the right token
  is refused with 403 before its handler runs; so is one whose Origin header names another site.
- A page admits the roles of the API route it stands on (`api.deps.check_roles`), nothing more.
"""

from __future__ import annotations

from types import SimpleNamespace

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request

from api.deps import DbSession, check_roles
from api.errors import Problem
from domain.roles import Role
from store import web_auth
from store.models.identity import User

SESSION_COOKIE = "tph_session"
CSRF_COOKIE = "tph_csrf"
CSRF_FIELD = "csrf_token"


class SignInRequired(Exception):
    """A page for signed-in people was asked for without a live session: go to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


def cookie_options(request: Request) -> dict:
    return {"httponly": True, "samesite": "strict", "secure": is_tls(request), "path": "/"}


def page_user(request: Request, session: DbSession) -> User | None:
    """The signed-in user of this request, or None (also remembered on request.state for the layout)."""
    settings = request.app.state.settings
    found = web_auth.live_session(session, request.cookies.get(SESSION_COOKIE),
                                  idle_minutes=settings.web_session_idle_minutes)
    user = found[1] if found else None
    # The layout reads a copy: an error page rendered after the request's transaction was rolled back
    # (or its session closed) must not touch an expired ORM row.
    request.state.user = SimpleNamespace(id=user.id, name=user.name, role=user.role,
                                         organisation_id=user.organisation_id) if user else None
    request.state.session_hash = found[0].token_hash if found else ""
    return user


PageUser = Annotated[User | None, Depends(page_user)]


def local_path(value: str | None, default: str = "/") -> str:
    """A redirect target on this site only (never //host or a scheme: no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def roles_page(*roles: Role) -> Callable[..., User]:
    """A dependency: the signed-in user if their role may use this page (else sign-in or 403)."""
    allowed = frozenset(roles)

    def check(request: Request, user: PageUser) -> User:
        if user is None:
            raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return check_roles(user, allowed)

    return check


def signed_in(request: Request, user: PageUser) -> User:
    if user is None:
        raise SignInRequired(request.url.path)
    return user


def sign_in_url(next_path: str) -> str:
    return "/sign-in?next=" + quote(local_path(next_path), safe="/")


# --- CSRF -------------------------------------------------------------------------------------------

def csrf_cookie(request: Request) -> str:
    """This browser's CSRF cookie value, made now if it has none (the response sets it)."""
    value = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not value or len(value) > 100:
        value = secrets.token_urlsafe(32)
        request.state.new_csrf = value
    return value


def _bound(request: Request, cookie: str) -> str:
    """The token for a CSRF cookie, bound to the session cookie sent with it (live or not: a page
    rendered and posted with the same cookies agrees; a token from another session does not)."""
    secret = request.cookies.get(SESSION_COOKIE)
    session_part = web_auth.session_hash(secret) if secret else ""
    key = request.app.state.settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"csrf|{cookie}|{session_part}".encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    return _bound(request, csrf_cookie(request))


def _refused(rule: str, detail: str) -> Problem:
    return Problem(403, "Forbidden", detail, field=CSRF_FIELD, rule=rule)


async def check_csrf(request: Request) -> None:
    """Every form POST of the pages: same-site origin and the token bound to cookie and session."""
    if request.method != "POST":
        return
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise _refused("csrf_origin", "the form was sent from another site")
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not isinstance(sent, str) or not hmac.compare_digest(_bound(request, cookie), sent):
        raise _refused("csrf", "the form has no valid CSRF token; reload the page and try again")
