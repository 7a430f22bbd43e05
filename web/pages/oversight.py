"""The authorities' supervision pages (SPEC §2.7, Art. 17, 33, 34): reports (the bureau assigns a
handler; the assigned handler acknowledges and concludes, and only they see who reported, as the API
answers), sanctions (the operator suspends or terminates a participant and reinstates a suspended one)
and the annual-neutrality obligations with the overdue ones first. Each calls the API's own route
function (api/routes/supervision.py, neutrality.py): the same roles, validators, workflow updates and
refusals; a page offers a form only to whom the API lets use it."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from api.case_actions import CaseActions
from api.deps import DbSession, SettingsDep, get_temporal
from api.errors import Problem
from api.routes import neutrality as neutrality_routes
from api.routes import supervision as supervision_routes
from api.schemas.supervision import AssignmentIn, ConclusionIn, ReinstatementIn, SanctionIn
from domain.roles import AUTHORITIES, Role
from domain.rules import Refusal
from store.models.identity import Organisation, User
from web.auth import roles_page
from web.pages.common import as_problem, body, form_of, page_router, see_other, text
from web.pages.supervision import participants
from web.render import render

router = page_router()
AuthorityUser = Annotated[User, Depends(roles_page(Role.BUREAU_ADMIN, Role.OPERATOR_ADMIN))]
# The web serves people; the exchange (also a sanctioner in the API) is a system with a bearer token.
SanctionerUser = Annotated[User, Depends(roles_page(Role.OPERATOR_ADMIN))]


def _names(session, ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))).all())


def dashboard_sections(session, user: User, settings) -> dict[str, Any]:
    """The dashboard's supervision sections: reports awaiting a handler, overdue reports, sanctions in force."""
    reports = supervision_routes.list_reports(session, user, settings)
    sanctions = [s for s in supervision_routes.list_sanctions(session, user) if s["stage"] not in ("lifted",)]
    names = _names(session, [r["reported_organisation_id"] for r in reports] + [s["organisation_id"] for s in sanctions])
    return {"reports_unassigned": [r for r in reports if r["stage"] == "awaiting_assignment"],
            "reports_overdue": [r for r in reports if r["overdue"] and r["stage"] != "concluded"],
            "sanctions_in_force": sanctions, "org_names": names}


# --- reports -------------------------------------------------------------------------------------

def _handlers(session) -> list[User]:
    return list(session.scalars(select(User).where(User.role.in_([r.value for r in AUTHORITIES]), User.active)
                                .order_by(User.role, User.name).limit(500)))


def _report_page(request: Request, session, user: User, settings, report_id: int, *, error: Problem | None = None,
                 status: int = 200):
    r = supervision_routes.get_report(report_id, session, user, settings)
    is_handler = r["handler_user_id"] == user.id
    handler = session.get(User, r["handler_user_id"]) if r["handler_user_id"] else None
    ctx = {"r": r, "org_name": _names(session, [r["reported_organisation_id"]]).get(r["reported_organisation_id"]),
           "handler": handler, "is_handler": is_handler,
           # The forms the API lets this user use at this stage.
           "may_assign": user.role == Role.BUREAU_ADMIN.value and r["stage"] != "concluded",
           "may_acknowledge": is_handler and r["stage"] == "awaiting_acknowledgement",
           "may_conclude": is_handler and r["stage"] == "investigating",
           "handlers": _handlers(session), "error": error}
    session.rollback()
    return render(request, "oversight/report.html", ctx, status=status)


@router.get("/supervision/reports")
def reports_list(request: Request, session: DbSession, user: AuthorityUser, settings: SettingsDep):
    reports = supervision_routes.list_reports(session, user, settings)
    return render(request, "oversight/reports.html", {
        "items": reports, "org_names": _names(session, [r["reported_organisation_id"] for r in reports])})


@router.get("/supervision/reports/{report_id}")
def report_page(request: Request, report_id: int, session: DbSession, user: AuthorityUser, settings: SettingsDep):
    return _report_page(request, session, user, settings, report_id)


async def _report_action(request: Request, session, user: User, settings, report_id: int, call):
    try:
        await call(CaseActions(request, await get_temporal(request)))
    except (Problem, Refusal) as refused:
        session.rollback()
        problem = as_problem(refused)
        if problem.status == 404:
            raise problem from None
        return await run_in_threadpool(_report_page, request, session, user, settings, report_id, error=problem,
                                       status=problem.status)
    return see_other(f"/supervision/reports/{report_id}")


@router.post("/supervision/reports/{report_id}/assignment")
async def assign(request: Request, report_id: int, session: DbSession, user: AuthorityUser, settings: SettingsDep):
    form = await form_of(request)

    async def call(actions):
        from api.deps import check_roles
        check_roles(user, frozenset({Role.BUREAU_ADMIN}))  # the API's Bureau dependency
        await supervision_routes.assign_report(
            report_id, body(AssignmentIn, handler_user_id=text(form, "handler_user_id") or None), session, user,
            actions, settings)
    return await _report_action(request, session, user, settings, report_id, call)


@router.post("/supervision/reports/{report_id}/acknowledgement")
async def acknowledge(request: Request, report_id: int, session: DbSession, user: AuthorityUser,
                      settings: SettingsDep):
    return await _report_action(request, session, user, settings, report_id, lambda actions: (
        supervision_routes.acknowledge_report(report_id, session, user, actions, settings)))


@router.post("/supervision/reports/{report_id}/conclusion")
async def conclude(request: Request, report_id: int, session: DbSession, user: AuthorityUser, settings: SettingsDep):
    form = await form_of(request)
    substantiated = {"yes": True, "no": False}.get(text(form, "substantiated"))

    async def call(actions):
        await supervision_routes.conclude_report(report_id, body(
            ConclusionIn, substantiated=substantiated, conclusion=text(form, "conclusion"),
            measures=text(form, "measures") or None), session, user, actions, settings)
    return await _report_action(request, session, user, settings, report_id, call)


# --- sanctions -----------------------------------------------------------------------------------

def _sanctions_page(request: Request, session, user: User, *, error: Problem | None = None,
                    values: dict | None = None, status: int = 200):
    items = supervision_routes.list_sanctions(session, user)
    ctx = {"items": items, "org_names": _names(session, [s["organisation_id"] for s in items]),
           "participants": participants(session), "may_sanction": user.role == Role.OPERATOR_ADMIN.value,
           "error": error, "values": values or {}, "key": uuid.uuid4().hex}
    session.rollback()
    return render(request, "oversight/sanctions.html", ctx, status=status)


@router.get("/supervision/sanctions")
def sanctions(request: Request, session: DbSession, user: AuthorityUser):
    return _sanctions_page(request, session, user)


async def _sanction_action(request: Request, session, user: User, call, values: dict | None = None):
    try:
        await call(CaseActions(request, await get_temporal(request)))
    except (Problem, Refusal) as refused:
        session.rollback()
        problem = as_problem(refused)
        return await run_in_threadpool(lambda: _sanctions_page(request, session, user, error=problem, values=values,
                                                               status=problem.status))
    return see_other("/supervision/sanctions")


@router.post("/supervision/sanctions")
async def impose(request: Request, session: DbSession, user: SanctionerUser, settings: SettingsDep):
    form = await form_of(request)
    values = {k: text(form, k) for k in ("organisation_id", "measure", "reason", "report_id")}
    key = text(form, "idempotency_key")[:150] or None

    async def call(actions):
        await supervision_routes.impose(body(
            SanctionIn, organisation_id=values["organisation_id"] or None, measure=values["measure"] or None,
            reason=values["reason"], report_id=values["report_id"] or None), session, user, actions, settings,
            Response(), idempotency_key=key)
    return await _sanction_action(request, session, user, call, values)


@router.post("/supervision/sanctions/{sanction_id}/reinstatement")
async def reinstate(request: Request, sanction_id: int, session: DbSession, user: SanctionerUser):
    form = await form_of(request)

    async def call(actions):
        await supervision_routes.reinstate(sanction_id, body(ReinstatementIn, reason=text(form, "reason")), session,
                                           user, actions)
    return await _sanction_action(request, session, user, call)


# --- annual neutrality ---------------------------------------------------------------------------

@router.get("/supervision/neutrality")
def obligations(request: Request, session: DbSession, user: AuthorityUser, overdue: bool | None = None):
    items = neutrality_routes.list_obligations(session, user, year=None, overdue=overdue)
    return render(request, "oversight/neutrality.html", {
        "items": items, "overdue_only": overdue is True, "overdue_count": sum(1 for o in items if o["overdue"])})
