"""The ledger through HTTP (SPEC §2.6, Art. 25–31, 33): settled trades from the exchange, holdings
and statements, freezes, public totals and certificates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from api.certificate_pdf import render_certificate
from api.deps import CurrentUser, DbSession, require_roles
from api.routes.accounts import visible_account
from api.errors import not_found, unprocessable
from api.public import ONE_RESPONSES, public_answer
from api.schemas.ledger import (
    CertificateOut,
    CertificatePage,
    FreezeIn,
    FreezeOut,
    HoldingsOut,
    MovementPage,
    TotalsOut,
    TradeIn,
    TradeOut,
)
from domain.roles import Role
from store import audit, ledger, ledger_reports
from store.models.identity import User
from store.session import autocommit as single_statements

router = APIRouter(tags=["ledger"])

Exchange = Annotated[User, Depends(require_roles(Role.EXCHANGE))]
FreezingAuthority = Annotated[User, Depends(require_roles(Role.OPERATOR_ADMIN, Role.EXCHANGE))]

T = TypeVar("T")
# PostgreSQL breaks a deadlock by failing one transaction (40P01); a serialization failure (40001)
# likewise asks for a retry. Both are retried in a fresh transaction, a few times.
_RETRYABLE = {"40P01", "40001"}
ATTEMPTS = 5


def in_transaction(session: Session, work: Callable[[], T], *, autocommit: bool = False) -> T:
    """Run `work` and commit; retry it when PostgreSQL chose this transaction to break a deadlock.
    `autocommit`: `work` is one statement that is its own transaction (no BEGIN and COMMIT round
    trips, and locks held only while it runs)."""
    for attempt in range(ATTEMPTS):
        try:
            if autocommit:
                with single_statements(session):
                    return work()
            result = work()
            session.commit()
            return result
        except DBAPIError as exc:
            session.rollback()
            if getattr(exc.orig, "pgcode", None) not in _RETRYABLE or attempt == ATTEMPTS - 1:
                raise
        except BaseException:
            session.rollback()
            raise
    raise AssertionError("unreachable")


def parse_ranges(texts: list[str], field: str) -> tuple[ledger.SerialRange, ...]:
    out = []
    for i, t in enumerate(texts):
        try:
            out.append(ledger.parse_range(t))
        except ValueError as exc:
            raise unprocessable(f"{field}.{i}", "format", str(exc)) from None
    return tuple(out)


# --- trades -----------------------------------------------------------------------------------------


@router.post("/trades", response_model=TradeOut, status_code=201, summary="Record a trade the exchange settled",
             responses={200: {"description": "the same trade again: the first answer"},
                        409: {"description": "not enough usable units, frozen/reserved units, a suspended or "
                                             "terminated participant (Art. 33), or the reference reused"},
                        422: {"description": "unknown account, bad ranges"}})
def record_trade(body: TradeIn, session: DbSession, user: Exchange, response: Response):
    now = datetime.now(timezone.utc)
    assert user.organisation_id is not None
    order = ledger.TradeOrder(
        exchange_organisation_id=user.organisation_id, trade_ref=body.trade_ref,
        seller_account=body.seller_account.strip().upper(), buyer_account=body.buyer_account.strip().upper(),
        selection=ledger.Selection(quantity=None if body.serial_ranges else body.quantity, series=body.series,
                                   vintage=body.vintage, ranges=parse_ranges(body.serial_ranges, "serial_ranges")),
        settled_at=body.settled_at, recorded_at=now, recorded_by_user_id=user.id)
    if body.serial_ranges and body.quantity is not None:
        asked = sum(r.count for r in order.selection.ranges)
        if asked != body.quantity:
            raise unprocessable("quantity", "ledger.quantity_matches_ranges",
                                f"quantity {body.quantity} differs from the {asked} t in serial_ranges")
    outcome = in_transaction(session, lambda: ledger.settle_trade(session, order), autocommit=True)
    if outcome.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return outcome.result


# --- holdings and statements ---------------------------------------------------------------------------


@router.get("/accounts/{account_number}/holdings", response_model=HoldingsOut,
            summary="Blocks by series with their ranges and state (owner and authorities)")
def get_holdings(account_number: str, session: DbSession, user: CurrentUser):
    return ledger_reports.holdings(session, visible_account(session, user, account_number))


@router.get("/accounts/{account_number}/movements", response_model=MovementPage,
            summary="The account's statement, paged (owner and authorities)")
def get_movements(account_number: str, session: DbSession, user: CurrentUser,
                  page_size: Annotated[int, Query(ge=1, le=500)] = 100, page_token: str | None = None):
    account = visible_account(session, user, account_number)
    after = None
    if page_token is not None:
        if not page_token.isdigit() or len(page_token) > 18:
            raise unprocessable("page_token", "format", "page_token is the next_page_token of the previous page")
        after = int(page_token)
    items = ledger_reports.movements(session, account, after=after, limit=page_size + 1)
    more = len(items) > page_size
    items = items[:page_size]
    return {"items": items, "next_page_token": str(items[-1]["id"]) if more else None}


# --- freezes (Art. 33) --------------------------------------------------------------------------------


def _freeze(account_number: str, body: FreezeIn, session: Session, user: User, *, lift: bool) -> dict[str, Any]:
    account = ledger.find_account(session, account_number)
    if account is None:
        raise not_found(f"account {account_number}")
    ranges = parse_ranges(body.serial_ranges, "serial_ranges")
    now = datetime.now(timezone.utc)

    def work():
        fn = ledger.unfreeze if lift else ledger.freeze
        changed = fn(session, account, reason=body.reason, at=now, actor_user_id=user.id, ranges=ranges)
        audit.append(session, action="ledger.unfrozen" if lift else "ledger.frozen", entity_type="account",
                     entity_id=account.account_number, occurred_at=now, actor_user_id=user.id, actor_role=user.role,
                     details={"reason": body.reason, "serial_ranges": [r.text() for r in changed],
                              "whole_account": not ranges})
        return {"account_number": account.account_number, "frozen": account.frozen_at is not None,
                "frozen_reason": account.frozen_reason, "serial_ranges": [r.text() for r in changed]}
    return in_transaction(session, work)


@router.post("/accounts/{account_number}/freeze", response_model=FreezeOut,
             summary="Freeze an account or given serials (operator or exchange, Art. 33)")
def freeze_account(account_number: str, body: FreezeIn, session: DbSession, user: FreezingAuthority):
    return _freeze(account_number, body, session, user, lift=False)


@router.post("/accounts/{account_number}/unfreeze", response_model=FreezeOut,
             summary="Lift a freeze of an account or given serials (operator or exchange)")
def unfreeze_account(account_number: str, body: FreezeIn, session: DbSession, user: FreezingAuthority):
    return _freeze(account_number, body, session, user, lift=True)


# --- disclosure (Art. 30, 31) ---------------------------------------------------------------------------


@router.get("/public/ledger/totals", response_model=TotalsOut,
            summary="Tonnes issued, transferred and retired by year and methodology (public)",
            responses=ONE_RESPONSES)
def public_totals(request: Request, session: DbSession):
    def build() -> dict[str, Any]:
        rows = ledger_reports.totals(session)
        return {"rows": rows, **{k: sum(r[k] for r in rows) for k in ("issued", "transferred", "retired")}}

    return public_answer(request, session, LEDGER_TABLES, build)


# What certificates and totals are made of (api/public.py: cached under these tables' version).
# "ledger" is the one counter of every ledger table (migration 0017: bumped once per writing transaction).
LEDGER_TABLES = ("ledger", "projects")
CERTIFICATE_TABLES = ("ledger",)


PURPOSES_ZH = {"event": "活动碳中和 / offsetting an event", "annual_neutrality": "场景年度碳中和 / annual neutrality",
               "donation": "公益捐赠 / donation to public welfare", "other": "其他 / other"}
ANONYMOUS = "匿名 / anonymous"


def certificate_out(request: Request, cert, cancellation, account_number: str) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {"number": cert.number, "issued_at": cert.issued_at,
            "beneficiary": ANONYMOUS if cancellation.beneficiary_anonymous else cancellation.beneficiary_name,
            "purpose": PURPOSES_ZH[cancellation.purpose], "purpose_text": cancellation.purpose_text,
            "quantity": cert.quantity, "serial_ranges": list(cert.serial_ranges),
            "account_number": None if cancellation.beneficiary_anonymous else account_number,
            "verification_url": f"{base}/api/v1/public/certificates/{cert.number}",
            "pdf_url": f"{base}/api/v1/public/certificates/{cert.number}/pdf"}


@router.get("/public/certificates", response_model=CertificatePage,
            summary="Cancellation certificates, newest first (public)", responses=ONE_RESPONSES)
def list_certificates(request: Request, session: DbSession,
                      page_size: Annotated[int, Query(ge=1, le=200)] = 50, page_token: str | None = None):
    if page_token is not None and not ledger.CERTIFICATE_NUMBER.match(page_token):
        raise unprocessable("page_token", "format", "page_token is the next_page_token of the previous page")

    def build() -> dict[str, Any]:
        rows = ledger_reports.certificate_rows(session, after=page_token, limit=page_size + 1)
        more = len(rows) > page_size
        items = [certificate_out(request, *r) for r in rows[:page_size]]
        return {"items": items, "next_page_token": items[-1]["number"] if more else None}

    return public_answer(request, session, CERTIFICATE_TABLES, build)


def _certificate(request: Request, session: Session, number: str) -> dict[str, Any]:
    number = number.strip().upper()
    if not ledger.CERTIFICATE_NUMBER.match(number):
        raise unprocessable("number", "format", "a certificate number reads WH-C-YYYY-NNNNNN")
    rows = ledger_reports.certificate_rows(session, number=number, limit=1)
    if not rows:
        raise not_found(f"certificate {number}")
    return certificate_out(request, *rows[0])


@router.get("/public/certificates/{number}", response_model=CertificateOut,
            summary="Verify a cancellation certificate (public)", responses=ONE_RESPONSES)
def get_certificate(number: str, request: Request, session: DbSession):
    return public_answer(request, session, CERTIFICATE_TABLES, lambda: _certificate(request, session, number))


@router.get("/public/certificates/{number}/pdf", summary="The certificate as PDF (public)",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def get_certificate_pdf(number: str, request: Request, session: DbSession):
    cert = _certificate(request, session, number)
    return Response(render_certificate(cert), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{cert["number"]}.pdf"'})

