"""Public pages, no sign-in: the methodology register with its documents, scenario labels, publicity
notices (remaining working time, objection form), issued reductions, serial lookup. Each reads through
the public API route of the same name, so a page shows exactly what the public API shows."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from api.case_actions import CaseActions
from api.deps import DbSession, SettingsDep, get_temporal
from api.errors import Problem
from api.routes import accounts, issuance, methodologies, scenarios
from api.schemas.issuance import ObjectionIn
from api.schemas.methodology import ReevaluationIn
from domain.clock import now_utc
from domain.rules import Refusal
from domain.roles import Role
from domain.working_days import working_days_left
from store import calendar
from store.models.documents import Document
from store.models.methodology import Methodology, MethodologyReevaluation
from store.models.identity import User
from web.auth import PageUser, roles_page
from web.pages.common import as_problem, body, form_of, page_router, see_other, text
from web.render import render

router = page_router()
BureauUser = Annotated[User, Depends(roles_page(Role.BUREAU_ADMIN))]


@router.get("/")
def index(request: Request, user: PageUser):
    return render(request, "index.html")


@router.get("/register/methodologies")
def methodology_register(request: Request, session: DbSession, user: PageUser):
    items = methodologies.published_methodologies(session, include_retired=True)
    return render(request, "public/methodologies.html", {"items": items})


def _public_documents(session, ids: list[int]) -> list[Document]:
    # Documents of a published version are public with it (the register publishes them, Art. 14).
    return list(session.scalars(select(Document).where(Document.id.in_(ids)).order_by(Document.id))) if ids else []


def _methodology_page(request: Request, session, user, code: str, version: int | None = None, *,
                      error: Problem | None = None, status: int = 200):
    m = methodologies.published_methodology(session, code)
    chosen = version or (m.current_version.version_no if m.current_version else m.versions[-1].version_no)
    v = methodologies.published_version(session, code, chosen)
    # The bureau (only) may open a re-evaluation of the current version (Art. 11; the API's Bureau role).
    may_reevaluate = user is not None and user.role == Role.BUREAU_ADMIN.value and m.current_version is not None
    # One re-evaluation at a time (the API's one_open_reevaluation): while one is open, link it instead.
    open_case = session.scalar(select(MethodologyReevaluation.case_id).join(
        Methodology, Methodology.id == MethodologyReevaluation.methodology_id).where(
        Methodology.code == m.code, MethodologyReevaluation.stage.in_(("open", "panel_review")))) \
        if may_reevaluate else None
    return render(request, "public/methodology.html", {
        "m": m, "v": v, "documents": _public_documents(session, v.document_ids), "may_reevaluate": may_reevaluate,
        "open_reevaluation": open_case, "error": error, "key": uuid.uuid4().hex}, status=status)


@router.get("/register/methodologies/{code}")
def methodology_page(request: Request, code: str, session: DbSession, user: PageUser, version: int | None = None):
    return _methodology_page(request, session, user, code, version)


@router.post("/register/methodologies/{code}/reevaluations")
async def open_reevaluation(request: Request, code: str, session: DbSession, settings: SettingsDep,
                            user: BureauUser):
    form = await form_of(request)
    key = text(form, "idempotency_key")[:200] or None
    try:
        answer = await methodologies.open_reevaluation(
            body(ReevaluationIn, code=code, reason=text(form, "reason")), session, user,
            CaseActions(request, await get_temporal(request)), settings, idempotency_key=key)
    except (Problem, Refusal) as refused:
        session.rollback()
        if refused.status == 404:
            raise
        return await run_in_threadpool(lambda: _methodology_page(request, session, user, code,
                                                                 error=as_problem(refused), status=refused.status))
    return see_other(f"/cases/{json.loads(answer.body)['case_id']}")


@router.get("/register/scenario-labels")
def scenario_labels(request: Request, session: DbSession, user: PageUser):
    return render(request, "public/labels.html", {"items": scenarios.labels(session)})


@router.get("/publicity")
def notices(request: Request, session: DbSession, user: PageUser):
    now = now_utc()
    cal = calendar.current(session)
    items = issuance.notices(session)
    return render(request, "public/notices.html", {
        "items": items, "left": {n.id: working_days_left(cal, now, n.ends_at) for n in items}})


def _notice_page(request: Request, session, notice_id: int, *, error: Problem | None = None,
                 filed: int | None = None, values: dict | None = None, status: int = 200):
    notice = issuance.notice_of(session, notice_id)
    left = working_days_left(calendar.current(session), now_utc(), notice.ends_at)
    return render(request, "public/notice.html", {"n": notice, "left": left, "error": error, "filed": filed,
                                                  "values": values or {}}, status=status)


@router.get("/publicity/{notice_id}")
def notice(request: Request, notice_id: int, session: DbSession, user: PageUser, filed: int | None = None):
    return _notice_page(request, session, notice_id, filed=filed)


@router.post("/publicity/{notice_id}/objections")
async def object_to(request: Request, notice_id: int, session: DbSession, settings: SettingsDep, user: PageUser):
    form = await form_of(request)
    values = {"content": text(form, "content"), "name": text(form, "name") or None,
              "contact": text(form, "contact") or None}
    try:
        filed = await issuance.file_objection(notice_id, body(ObjectionIn, **values), request, session,
                                              CaseActions(request, await get_temporal(request)), settings)
    except Problem as problem:
        session.rollback()
        return await run_in_threadpool(_notice_page, request, session, notice_id, error=problem, values=values,
                                       status=problem.status)
    return see_other(f"/publicity/{notice_id}?filed={filed.objection_id}")




@router.get("/register/issued")
def issued(request: Request, session: DbSession, user: PageUser):
    return render(request, "public/issued.html", {"items": issuance.issued(session)})


@router.get("/serials")
def serial_lookup(request: Request, session: DbSession, user: PageUser, serial: str = ""):
    found, error = None, None
    serial = serial.strip()[:100]
    if serial:
        try:
            found = accounts.serial_history(session, serial)
        except Problem as problem:
            error = problem
    return render(request, "public/serials.html", {"serial": serial, "found": found, "error": error},
                  status=error.status if error else 200)
