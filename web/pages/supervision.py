"""Supervision and disclosure pages, public (no sign-in): the report form (举报, Art. 34) with its
receipt code shown once, following a report by its receipt code, the sanctions in force (Art. 33), and
the disclosure lists (Art. 30, 31: statistics by year, district and methodology; annual-neutrality
compliance per year, Art. 17) with the API's CSV downloads. Each calls the API's own route function
(api/routes/supervision.py) or the store function behind the public disclosure route (store/disclosure.py),
so a page shows and does exactly what the public API does."""

from __future__ import annotations

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import exists, select

from api.case_actions import CaseActions
from api.deps import DbSession, SettingsDep, get_temporal
from api.errors import Problem
from api.routes import supervision as supervision_routes
from api.schemas.supervision import ReportIn
from domain.clock import now_utc
from domain.roles import AUTHORITIES, OrganisationStatus, OrganisationType
from domain.rules import Refusal
from store import disclosure
from store.models.identity import Organisation, User
from web.auth import PageUser
from web.pages.common import as_problem, body, form_of, page_router, text
from web.render import render

router = page_router()
NEUTRALITY_ROWS = 200
API = "/api/v1"


def participants(session) -> list[Organisation]:
    """Whom a report may be about, as the sanction rule sees participants (api/routes/supervision.impose,
    art33.participant): organisations that are not the government and have no authority user."""
    authority = exists().where(User.organisation_id == Organisation.id,
                               User.role.in_([r.value for r in AUTHORITIES]))
    return list(session.scalars(select(Organisation).where(
        Organisation.org_type != OrganisationType.GOVERNMENT.value, ~authority,
        Organisation.status.in_([OrganisationStatus.ACTIVE.value, OrganisationStatus.SUSPENDED.value]))
        .order_by(Organisation.name).limit(2000)))


def _report_page(request: Request, session, *, error: Problem | None = None, values: dict | None = None,
                 filed=None, status: int = 200):
    return render(request, "supervision/report.html", {
        "participants": participants(session), "error": error, "values": values or {}, "filed": filed},
        status=status)


@router.get("/report")
def report_form(request: Request, session: DbSession, user: PageUser):
    return _report_page(request, session)


@router.post("/report")
async def file_report(request: Request, session: DbSession, settings: SettingsDep, user: PageUser):
    form = await form_of(request)
    values = {"organisation_id": text(form, "organisation_id"), "content": text(form, "content"),
              "reporter_name": text(form, "reporter_name") or None, "contact": text(form, "contact") or None}
    try:
        filed = await supervision_routes.file_report(
            body(ReportIn, organisation_id=values["organisation_id"] or None, content=values["content"],
                 reporter_name=values["reporter_name"], contact=values["contact"]),
            request, session, user, CaseActions(request, await get_temporal(request)), settings)
    except (Problem, Refusal) as refused:
        session.rollback()
        problem = as_problem(refused)
        return await run_in_threadpool(lambda: _report_page(request, session, error=problem, values=values,
                                                            status=problem.status))
    # The receipt code is shown in this answer only (never in a URL, a redirect or a later page): the
    # API keeps only its hash.
    return await run_in_threadpool(lambda: _report_page(request, session, filed=filed, status=201))


@router.get("/report/follow")
def follow_form(request: Request, user: PageUser):
    return render(request, "supervision/follow.html", {"found": None, "error": None})


@router.post("/report/follow")
async def follow(request: Request, session: DbSession, user: PageUser):
    # A form POST, not a GET with the code in the query: the code stays out of URLs, history and logs.
    form = await form_of(request)
    code = text(form, "receipt_code")
    error, found = None, None
    try:
        found = await run_in_threadpool(supervision_routes.follow_report, code, session)
    except Problem as problem:
        error = problem
    return render(request, "supervision/follow.html", {"found": found, "error": error},
                  status=error.status if error else 200)


@router.get("/sanctions")
def sanctions_in_force(request: Request, session: DbSession, user: PageUser):
    return render(request, "supervision/sanctions.html",
                  {"items": supervision_routes.public_sanctions(session)})


@router.get("/disclosure")
def disclosure_page(request: Request, session: DbSession, user: PageUser, year: int | None = None):
    if year is not None and not 2000 <= year <= 2100:
        raise Problem(422, "Unprocessable request", "year: 2000–2100", field="year", rule="range")
    neutrality_year = year
    return render(request, "supervision/disclosure.html", {
        "by_year": disclosure.statistics(session, by=("year",), year=None),
        "by_district": disclosure.statistics(session, by=("year", "district"), year=year),
        "by_methodology": disclosure.statistics(session, by=("year", "methodology"), year=year),
        "neutrality": disclosure.neutrality(session, year=neutrality_year, limit=NEUTRALITY_ROWS, offset=0),
        "year": year, "this_year": now_utc().year,
        "csv": {
            "statistics": f"{API}/disclosure/statistics?format=csv",
            "by_district": f"{API}/disclosure/statistics?format=csv&by=year&by=district"
                           + (f"&year={year}" if year else ""),
            "by_methodology": f"{API}/disclosure/statistics?format=csv&by=year&by=methodology"
                              + (f"&year={year}" if year else ""),
            "neutrality": f"{API}/disclosure/neutrality?format=csv" + (f"&year={year}" if year else ""),
        }})
