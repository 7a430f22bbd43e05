"""Rendering a page: the Jinja2 environment, the request's language, the layout's context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from domain.roles import Role
from web import i18n, labels
from web.i18n import N_
from web.auth import CSRF_COOKIE, CSRF_FIELD, cookie_options, csrf_token

TEMPLATES = Path(__file__).parent / "templates"

env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                  trim_blocks=True, lstrip_blocks=True)
env.filters["local"] = i18n.local_time
env.filters["day"] = lambda v: i18n.local_time(v, with_time=False)


def nav(user) -> list[tuple[str, str]]:
    """(path, label msgid) of the menu: public registers for everyone, then the user's own pages."""
    items = [("/", N_("Registers"))]
    if user is None:
        return items
    role = Role(user.role)
    if role == Role.EXPERT:
        items.append(("/expert/tasks", N_("My review tasks")))
    if role in (Role.BUREAU_ADMIN, Role.OPERATOR_ADMIN):
        items.append(("/dashboard", N_("Dashboard")))
        items.append(("/supervision/reports", N_("Supervision")))
    if role in (Role.APPLICANT, Role.VERIFIER):
        items.append(("/my/cases", N_("My cases")))
        if role == Role.APPLICANT:
            items.append(("/my/scenarios", N_("My scenarios")))
        items.append(("/my/account", N_("Account")))
    if role == Role.INDIVIDUAL:
        items.append(("/me", N_("My grams")))
    if role in (Role.BUREAU_ADMIN, Role.OPERATOR_ADMIN):
        items.append(("/users", N_("Users")))
    return items


def render(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
    tr = i18n.translations(lang)
    user = getattr(request.state, "user", None)
    ctx = {
        "request": request, "lang": lang, "_": tr.gettext, "ngettext": tr.ngettext, "user": user,
        "nav": nav(user), "csrf_field": CSRF_FIELD, "csrf_token": csrf_token(request),
        "path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "stage_label": lambda c: tr.gettext(labels.stage(c)),
        "case_type_label": lambda c: tr.gettext(labels.case_type(c)),
        "role_label": lambda c: tr.gettext(labels.role(c)), "vote_label": lambda c: tr.gettext(labels.vote(c)),
        "ledger_label": lambda c: tr.gettext(labels.ledger(c)),
        "category_label": lambda c: tr.gettext(labels.category(c)),
        "district_label": lambda c: tr.gettext(labels.district(c)),
        "supervision_label": lambda c: tr.gettext(labels.supervision(c)),
        "waiting_for": lambda c: tr.gettext(labels.waiting_for(c)) if labels.waiting_for(c) else "",
        **(context or {}),
    }
    html = env.get_template(template).render(ctx)
    response = HTMLResponse(html, status_code=status, headers={
        # Pages are never framed, run no foreign script, and are not cached by shared caches.
        "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
        **(headers or {})})
    new = getattr(request.state, "new_csrf", None)
    if new:
        response.set_cookie(CSRF_COOKIE, new, **cookie_options(request))
    return response
