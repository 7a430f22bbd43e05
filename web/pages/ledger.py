"""The ledger's pages (SPEC §2.6, Art. 25–31): the public certificate lookup and a certificate's page
with its PDF; an account's page (its owner's people and the authorities) with balance, holdings by
series and serial block, and its cancellations; the holder's cancellation request (注销, Art. 29) and
its withdrawal. Each calls the API's own route function (api/routes/accounts.py, ledger.py,
cancellations.py): the same visibility (`visible_account`), holder check, validators, idempotency key
and case workflow."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from api.case_actions import CaseActions
from api.deps import DbSession, SettingsDep, ensure_may_act, get_temporal
from api.errors import Problem
from api.routes import accounts, cancellations, ledger as ledger_routes
from api.schemas.ledger import CancellationDecisionIn, CancellationIn
from domain.rules import Refusal
from domain.roles import OrganisationStatus
from store import ledger_reports
from store.models.identity import User
from store.models.ledger import Cancellation
from web.auth import PageUser, signed_in
from web.pages.common import as_problem, body, form_of, page_router, see_other, text
from web.render import render

router = page_router()
Person = Annotated[User, Depends(signed_in)]
PURPOSES = ("event", "annual_neutrality", "donation", "other")
CERTIFICATES_SHOWN = 20


# --- certificates (public, no sign-in) ---

@router.get("/certificates")
def certificate_lookup(request: Request, session: DbSession, user: PageUser, number: str = ""):
    number = number.strip()[:40]
    error = None
    if number:
        try:
            found = ledger_routes._certificate(request, session, number)
            return see_other(f"/certificates/{found['number']}")
        except Problem as problem:
            error = problem
    # The public routes answer a cached Response (api/public.py); the page builds the same items the
    # route's own builder does.
    latest = [ledger_routes.certificate_out(request, *r)
              for r in ledger_reports.certificate_rows(session, after=None, limit=CERTIFICATES_SHOWN)]
    return render(request, "public/certificates.html", {"number": number, "error": error, "items": latest},
                  status=error.status if error else 200)


@router.get("/certificates/{number}")
def certificate_page(request: Request, number: str, session: DbSession, user: PageUser):
    cert = ledger_routes._certificate(request, session, number)
    # The PDF is the public API's own rendering; the link stays on this site whatever the base URL.
    return render(request, "public/certificate.html", {
        "c": cert, "pdf": f"/api/v1/public/certificates/{cert['number']}/pdf"})


# --- an account ---

@router.get("/my/account")
def my_account(request: Request, session: DbSession, user: Person):
    # The API's own "my account" (opens it on first use, as the API does).
    return see_other(f"/accounts/{accounts.my_account(session, user).account_number}")


def _account_view(request: Request, session, user: User, number: str) -> dict[str, Any]:
    account = accounts.visible_account(session, user, number)  # owner or authority, else 404
    rows = session.scalars(select(Cancellation).where(Cancellation.account_id == account.id)
                           .order_by(Cancellation.id.desc()).limit(100))
    holder = cancellations._is_holder(user, account)
    org = user.organisation
    return {"account": accounts._account_out(session, account),
            "holdings": ledger_reports.holdings(session, account),
            "cancellations": [cancellations._out(session, x) for x in rows],
            # The form is offered to whom the API lets apply: the holder, of an active organisation.
            "may_cancel": holder and (org is None or org.status == OrganisationStatus.ACTIVE.value), "purposes": PURPOSES}


def _account_page(request: Request, session, user: User, number: str, *, error: Problem | None = None,
                  values: dict | None = None, key: str | None = None, status: int = 200):
    ctx = _account_view(request, session, user, number)
    session.rollback()
    return render(request, "ledger/account.html", {**ctx, "error": error, "values": values or {},
                                                    "key": key or uuid.uuid4().hex}, status=status)


@router.get("/accounts/{number}")
def account_page(request: Request, number: str, session: DbSession, user: Person):
    return _account_page(request, session, user, number)


def _lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.replace(",", "\n").splitlines() if line.strip()]


@router.post("/accounts/{number}/cancellations")
async def request_cancellation(request: Request, number: str, session: DbSession, user: Person,
                               settings: SettingsDep):
    form = await form_of(request)
    names = ("quantity", "serial_ranges", "purpose", "purpose_text", "beneficiary_name", "neutrality_year",
             "scenario_id")
    values: dict[str, Any] = {k: text(form, k) for k in names}
    values["beneficiary_anonymous"] = text(form, "beneficiary_anonymous") == "yes"
    key = text(form, "idempotency_key")[:200] or None
    try:
        await run_in_threadpool(accounts.visible_account, session, user, number)  # 404 page for others
        session.rollback()
        parsed = body(CancellationIn, account_number=number, quantity=values["quantity"] or None,
                      serial_ranges=_lines(values["serial_ranges"]), purpose=values["purpose"] or None,
                      purpose_text=values["purpose_text"] or None, beneficiary_name=values["beneficiary_name"],
                      beneficiary_anonymous=values["beneficiary_anonymous"],
                      neutrality_year=values["neutrality_year"] or None, scenario_id=values["scenario_id"] or None)
        await cancellations.apply(parsed, session, user, CaseActions(request, await get_temporal(request)),
                                  settings, Response(), idempotency_key=key)
    except (Problem, Refusal) as refused:
        session.rollback()
        problem = as_problem(refused)
        if problem.status == 404:
            raise
        return await run_in_threadpool(_account_page, request, session, user, number, error=problem,
                                       values=values, key=key, status=problem.status)
    return see_other(f"/accounts/{number}#cancellations")


@router.post("/accounts/{number}/cancellations/{cancellation_id}/withdrawal")
async def withdraw_cancellation(request: Request, number: str, cancellation_id: int, session: DbSession,
                                user: Person):
    form = await form_of(request)
    try:
        def check() -> None:
            account = accounts.visible_account(session, user, number)
            x, _ = cancellations._visible(session, user, cancellation_id)
            if x.account_id != account.id:
                raise Problem(404, "Not found", f"cancellation {cancellation_id}")
            ensure_may_act(user)
            session.rollback()
        await run_in_threadpool(check)
        await cancellations.withdraw(cancellation_id, body(CancellationDecisionIn, reason=text(form, "reason") or None),
                                     session, user, CaseActions(request, await get_temporal(request)))
    except (Problem, Refusal) as refused:
        session.rollback()
        problem = as_problem(refused)
        if problem.status == 404:
            raise
        return await run_in_threadpool(_account_page, request, session, user, number, error=problem,
                                       status=problem.status)
    return see_other(f"/accounts/{number}#cancellations")
