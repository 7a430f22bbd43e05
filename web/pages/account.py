"""Sign-in, invitations (set the password), sign-out and the language switch."""

from __future__ import annotations

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from api.deps import DbSession
from store import web_auth
from web import i18n
from web.auth import CSRF_COOKIE, SESSION_COOKIE, PageUser, cookie_options, local_path
from web.pages.common import form_of, home_of, page_router, see_other, text
from web.render import render

router = page_router()


def _signed_in_response(request: Request, secret: str, target: str) -> RedirectResponse:
    response = see_other(target)
    max_age = request.app.state.settings.web_session_max_hours * 3600
    response.set_cookie(SESSION_COOKIE, secret, max_age=max_age, **cookie_options(request))
    # A new CSRF cookie with the new session: no token from before sign-in stays valid.
    import secrets

    response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(32), **cookie_options(request))
    return response


@router.get("/sign-in")
def sign_in_page(request: Request, user: PageUser, next: str = "/"):
    if user is not None:
        return see_other(local_path(next, home_of(user.role)) if next != "/" else home_of(user.role))
    return render(request, "sign_in.html", {"next": local_path(next), "email": "", "message": None})


@router.post("/sign-in")
async def sign_in(request: Request, session: DbSession):
    form = await form_of(request)
    email, password, target = text(form, "email"), form.get("password") or "", local_path(form.get("next"))
    settings = request.app.state.settings
    tr = i18n.translations(i18n.language(request.cookies.get(i18n.LANG_COOKIE)))

    def attempt():
        result = web_auth.sign_in(session, email, password)
        secret = web_auth.start_session(session, result.user, max_hours=settings.web_session_max_hours) \
            if result.user else None
        session.commit()  # a failure's count is kept too
        return result, secret

    result, secret = await run_in_threadpool(attempt)
    if result.user is not None:
        return _signed_in_response(request, secret, target if target != "/" else home_of(result.user.role))
    headers = {}
    if result.refused == "locked" or (result.locked_until is not None):
        until = i18n.local_time(result.locked_until)
        message = tr.gettext("Too many failed attempts. Try again after %(time)s.") % {"time": until}
        status = 429
        headers["Retry-After"] = str(max(1, int((result.locked_until - web_auth.now_utc()).total_seconds())))
    elif result.refused == "bad_credentials":
        message, status = tr.gettext("The e-mail or the password is wrong."), 401
    else:
        message, status = tr.gettext("This account cannot sign in now (user deactivated or organisation not active)."), 403
    return render(request, "sign_in.html", {"next": target, "email": email, "message": message},
                  status=status, headers=headers)


@router.post("/sign-out")
async def sign_out(request: Request, session: DbSession):
    def end():
        web_auth.end_session(session, request.cookies.get(SESSION_COOKIE))
        session.commit()

    await run_in_threadpool(end)
    response = see_other("/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _invited(session, token: str):
    row = web_auth.open_invitation(session, token)
    if row is None:
        return None
    from store.models.identity import User

    return session.get(User, row.user_id)


@router.get("/invitation/{token}")
def invitation_page(request: Request, token: str, session: DbSession):
    invited = _invited(session, token)
    return render(request, "invitation.html", {"invited": invited, "message": None},
                  status=200 if invited else 404, headers={"Referrer-Policy": "no-referrer"})


@router.post("/invitation/{token}")
async def accept_invitation(request: Request, token: str, session: DbSession):
    form = await form_of(request)
    password = form.get("password") or ""
    settings = request.app.state.settings
    tr = i18n.translations(i18n.language(request.cookies.get(i18n.LANG_COOKIE)))

    def accept():
        invited = _invited(session, token)
        if invited is None:
            return None, None, None
        if password != (form.get("password2") or ""):
            return invited, None, tr.gettext("The two passwords differ.")
        try:
            user = web_auth.accept_invitation(session, token, password)
        except web_auth.InvitationRefused as refused:
            session.rollback()
            return invited, None, refused.message
        secret = web_auth.start_session(session, user, max_hours=settings.web_session_max_hours)
        session.commit()
        return user, secret, None

    user, secret, message = await run_in_threadpool(accept)
    if user is None:
        return render(request, "invitation.html", {"invited": None, "message": None}, status=404)
    if secret is None:
        return render(request, "invitation.html", {"invited": user, "message": message}, status=422)
    return _signed_in_response(request, secret, home_of(user.role))


@router.get("/lang")
def switch_language(request: Request, to: str = i18n.DEFAULT, next: str = "/"):
    response = see_other(local_path(next))
    response.set_cookie(i18n.LANG_COOKIE, i18n.language(to), max_age=365 * 24 * 3600, **cookie_options(request))
    return response
