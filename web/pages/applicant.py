"""The applicant's pages: its own cases with their stage and what each waits for; submitting a
methodology or an accounting report with documents. Lists and submissions are the API's own route
functions (api/routes/methodologies.py, issuance.py), with the form's idempotency key, so a
double-clicked submit creates one case."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from starlette.datastructures import UploadFile

from api.case_actions import CaseActions
from api.deps import DbSession, SettingsDep, get_temporal
from api.errors import Problem
from api.routes import issuance, methodologies, projects
from api.schemas.issuance import AccountingReport
from api.schemas.methodology import MethodologyIn, MethodologyResubmissionIn
from domain.documents import DocumentKind
from domain.clock import now_utc, shanghai_today
from domain.methodology import MethodologyDomain, Scope
from domain.rules import Refusal
from domain.roles import OrganisationStatus, OrganisationType, Role
from store import documents
from store.issuance import accreditation_on
from store.models.cases import Case
from store.models.identity import Organisation, User
from web.auth import roles_page
from web.pages.common import as_problem, body, form_of, page_router, see_other, text
from web.render import render

router = page_router()
ApplicantUser = Annotated[User, Depends(roles_page(Role.APPLICANT))]
CaseViewer = Annotated[User, Depends(roles_page(Role.APPLICANT, Role.VERIFIER))]
MAX_FILES = 10


@router.get("/my/cases")
def my_cases(request: Request, session: DbSession, user: CaseViewer):
    methodology_cases = [] if user.role == Role.VERIFIER else methodologies.list_methodologies(
        session, user, stage=None, scope=None, domain=None, after=None, limit=100).items
    issuance_cases = issuance.list_cases(session, user, None)
    deadlines = {c.case_id: c.deadline for c in session.scalars(select(Case).where(
        Case.case_id.in_([c.case_id for c in issuance_cases])))}
    return render(request, "applicant/cases.html", {"methodology_cases": methodology_cases,
                                                    "issuance_cases": issuance_cases, "deadlines": deadlines})


async def upload(request: Request, session, user: User, settings) -> list[int]:
    """Store the form's files as the documents API does (type and size checks, content-addressed)."""
    files = [f for f in (await request.form()).getlist("files") if isinstance(f, UploadFile) and f.filename]
    if len(files) > MAX_FILES:
        raise Problem(422, "Unprocessable request", f"at most {MAX_FILES} files", field="files", rule="max_items")

    def store() -> list[int]:
        ids = []
        for f in files:
            content = documents.store_content(f.file, documents_dir=settings.documents_dir, filename=f.filename,
                                              declared_type=f.content_type, max_bytes=settings.max_upload_bytes)
            ids.append(documents.create(session, content, kind=DocumentKind.REPORT, user=user).id)
        session.commit()
        return ids

    try:
        return await run_in_threadpool(store)
    except Refusal as exc:
        raise as_problem(exc) from None


def behaviour_rows(raw: str) -> list[dict]:
    """Behaviour table rows typed one a line: code, name, unit, factor, daily cap (comma or tab)."""
    rows = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.replace("\t", ",").split(",")]
        parts += [""] * (5 - len(parts))
        rows.append({"code": parts[0], "name": parts[1], "unit": parts[2], "factor": parts[3],
                     "daily_cap": parts[4] if parts[4] else None})
    return rows


@router.get("/my/methodologies/new")
def new_methodology(request: Request, user: ApplicantUser):
    return render(request, "applicant/new_methodology.html", {
        "values": {}, "error": None, "key": uuid.uuid4().hex, "scopes": list(Scope), "domains": list(MethodologyDomain)})


@router.post("/my/methodologies/new")
async def submit_methodology(request: Request, session: DbSession, user: ApplicantUser, settings: SettingsDep):
    form = await form_of(request)
    values = {k: text(form, k) for k in ("title", "code_suggestion", "scope", "domain", "summary", "behaviours")}
    key = text(form, "idempotency_key")[:200] or None
    try:
        parsed = body(MethodologyIn, title=values["title"], code_suggestion=values["code_suggestion"] or None,
                      scope=values["scope"] or None, domain=values["domain"] or None, summary=values["summary"],
                      behaviours=behaviour_rows(values["behaviours"]),
                      document_ids=await upload(request, session, user, settings))
        response = await methodologies.create_methodology(parsed, session, user, CaseActions(request, await get_temporal(request)),
                                                          settings, idempotency_key=key)
    except Problem as problem:
        session.rollback()
        return render(request, "applicant/new_methodology.html", {
            "values": values, "error": problem, "key": key or uuid.uuid4().hex, "scopes": list(Scope),
            "domains": list(MethodologyDomain)}, status=problem.status)
    import json

    return see_other(f"/cases/{json.loads(response.body)['case_id']}")


def accredited_verifiers(session) -> list[Organisation]:
    """Verification bodies a developer may commission today (active and accredited, Art. 21)."""
    today = shanghai_today(now_utc())
    return [o for o in session.scalars(select(Organisation).where(
        Organisation.org_type == OrganisationType.VERIFICATION_BODY.value,
        Organisation.status == OrganisationStatus.ACTIVE.value).order_by(Organisation.name))
        if accreditation_on(session, o.id, today) is not None]


def _report_choices(session, user: User) -> dict:
    own = projects.projects_of(session, organisation_id=user.organisation_id)
    return {"projects": own, "verifiers": accredited_verifiers(session)}


@router.get("/my/reports/new")
def new_report(request: Request, session: DbSession, user: ApplicantUser):
    return render(request, "applicant/new_report.html", {
        **_report_choices(session, user), "values": {}, "error": None, "key": uuid.uuid4().hex})


@router.post("/my/reports/new")
async def file_report(request: Request, session: DbSession, user: ApplicantUser, settings: SettingsDep):
    form = await form_of(request)
    names = ("project_id", "period_start", "period_end", "claimed_tco2e", "benefit_sharing", "verifier_organisation_id")
    values = {k: text(form, k) for k in names}
    key = text(form, "idempotency_key")[:200] or None
    try:
        if not values["project_id"].isdigit():
            raise Problem(422, "Unprocessable request", "choose a project", field="project_id", rule="required")
        parsed = body(AccountingReport, period_start=values["period_start"] or None,
                      period_end=values["period_end"] or None, claimed_tco2e=values["claimed_tco2e"] or None,
                      benefit_sharing=values["benefit_sharing"],
                      verifier_organisation_id=values["verifier_organisation_id"] or None,
                      document_ids=await upload(request, session, user, settings))
        response = await issuance.file_accounting_report(int(values["project_id"]), parsed, session, user,
                                                         CaseActions(request, await get_temporal(request)), settings, idempotency_key=key)
    except Problem as problem:
        session.rollback()
        return render(request, "applicant/new_report.html", {
            **_report_choices(session, user), "values": values, "error": problem, "key": key or uuid.uuid4().hex},
            status=problem.status)
    import json

    return see_other(f"/cases/{json.loads(response.body)['case_id']}")


# --- resubmission of a returned or sent-back methodology (SPEC §2.2) ---

RESUBMITTABLE = ("returned", "revision")
Resubmitter = Annotated[User, Depends(roles_page(Role.APPLICANT, Role.BUREAU_ADMIN))]  # the API's roles


def _case_values(case) -> dict:
    rows = [", ".join([b.code, b.name, b.unit, b.factor, str(b.daily_cap)]) for b in case.behaviours]
    return {"title": case.title, "code_suggestion": case.code_suggestion or "", "scope": case.scope.value,
            "domain": case.domain.value, "summary": case.summary, "behaviours": "\n".join(rows), "note": ""}


def _resubmission_page(request: Request, session, user: User, case_id: str, *, values: dict | None = None,
                       error: Problem | None = None, key: str | None = None, status: int = 200):
    from web.pages.cases import methodology_case_out  # the case page's own visibility rule

    case = methodology_case_out(session, user, case_id)
    session.rollback()
    return render(request, "applicant/new_methodology.html", {
        "values": values or _case_values(case), "error": error, "key": key or uuid.uuid4().hex, "case": case,
        "scopes": list(Scope), "domains": list(MethodologyDomain)}, status=status)


@router.get("/cases/{case_id}/methodology/resubmission")
def resubmission_form(request: Request, case_id: str, session: DbSession, user: Resubmitter):
    return _resubmission_page(request, session, user, case_id)


@router.post("/cases/{case_id}/methodology/resubmission")
async def resubmit_methodology(request: Request, case_id: str, session: DbSession, user: Resubmitter,
                               settings: SettingsDep):
    from web.pages.cases import methodology_case_out

    form = await form_of(request)
    values = {k: text(form, k) for k in ("title", "code_suggestion", "scope", "domain", "summary", "behaviours",
                                         "note")}
    key = text(form, "idempotency_key")[:200] or None
    try:
        case = await run_in_threadpool(methodology_case_out, session, user, case_id)
        session.rollback()
        # The documents already on the case stay with the amended submission; new uploads join them.
        parsed = body(MethodologyResubmissionIn, title=values["title"], code_suggestion=values["code_suggestion"] or None,
                      scope=values["scope"] or None, domain=values["domain"] or None, summary=values["summary"],
                      behaviours=behaviour_rows(values["behaviours"]), note=values["note"] or None,
                      document_ids=case.document_ids + await upload(request, session, user, settings))
        await methodologies.resubmit(case.id, parsed, session, user, CaseActions(request, await get_temporal(request)))
    except (Problem, Refusal) as refused:
        session.rollback()
        problem = as_problem(refused)
        if problem.status == 404:
            raise
        return await run_in_threadpool(lambda: _resubmission_page(
            request, session, user, case_id, values=values, error=problem, key=key, status=problem.status))
    return see_other(f"/cases/{case_id}")
