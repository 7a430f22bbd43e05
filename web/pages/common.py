"""What every page module uses: the router with CSRF on every form, form helpers, redirects."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError

from api.errors import Problem, title_for
from domain.rules import Refusal
from domain.roles import Role
from web.auth import check_csrf


def page_router() -> APIRouter:
    # Every POST of every page passes the CSRF check before its handler runs.
    return APIRouter(dependencies=[Depends(check_csrf)])


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def home_of(role: str) -> str:
    match Role(role):
        case Role.EXPERT:
            return "/expert/tasks"
        case Role.BUREAU_ADMIN | Role.OPERATOR_ADMIN:
            return "/dashboard"
        case Role.APPLICANT | Role.VERIFIER:
            return "/my/cases"
        case Role.INDIVIDUAL:
            return "/me"
    return "/"


async def form_of(request: Request) -> dict[str, Any]:
    """The posted form's text fields (files are read where a page takes them)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def text(form: dict[str, Any], name: str) -> str:
    return (form.get(name) or "").replace("\x00", "").strip()


def body(model: type[BaseModel], **values: Any) -> Any:
    """The API's own request model from form values: its refusals are the API's (422 naming the field)."""
    try:
        return model(**values)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(x) for x in e.get("loc", ())), "rule": e.get("type", "invalid"),
                   "message": e.get("msg", "")} for e in exc.errors()]
        first = errors[0]
        raise Problem(422, "Unprocessable request", f"{first['field']}: {first['message']}", errors=errors) from None


def as_problem(exc: Problem | Refusal) -> Problem:
    """A store refusal (domain.rules.Refusal) as the API answers it, to show on the form's page."""
    if isinstance(exc, Problem):
        return exc
    return Problem(exc.status, title_for(exc.status), exc.message, field=exc.field, rule=exc.rule)
