"""Cancellation (注销, Art. 29) through HTTP: the holder applies (units reserved at once) and may
withdraw; the operator confirms (retired, certificate) or rejects (released). Each application is a
durable case `cancellation-{n}` (workflows/cancellation.py)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio.service import RPCError

from api.case_actions import Actions, CaseActions
from api.case_actions import actor_of as _actor  # the one Actor of a signed-in user
from api.deps import CurrentUser, DbSession, SettingsDep, ensure_may_act
from api.errors import Problem, not_found, unprocessable
from api.routes.accounts import may_see_account
from api.routes.ledger import in_transaction, parse_ranges
from api.schemas.ledger import CancellationIn, CancellationOut, CancellationDecisionIn
from domain.contracts import cancellation as c
from domain.contracts import neutrality
from domain.roles import AUTHORITIES, Role
from store import cases, ledger
from store.models.cases import Case
from store.models.identity import User
from store.models.ledger import Cancellation, Certificate, InstitutionalAccount

router = APIRouter(tags=["cancellation"])
log = logging.getLogger(__name__)


def _out(session: Session, x: Cancellation) -> dict[str, Any]:
    account = session.get(InstitutionalAccount, x.account_id)
    assert account is not None
    case = session.get(Case, c.case_id(x.id))
    cert = session.scalar(select(Certificate.number).where(Certificate.cancellation_id == x.id))
    return {"cancellation_id": x.id, "case_id": c.case_id(x.id), "account_number": account.account_number,
            "quantity": x.quantity, "serial_ranges": ledger.cancellation_ranges(session, x.id)
            if x.status in ("reserved", "confirmed") else [],
            "purpose": x.purpose, "purpose_text": x.purpose_text, "beneficiary_name": x.beneficiary_name,
            "beneficiary_anonymous": x.beneficiary_anonymous, "scenario_id": x.scenario_id,
            "neutrality_year": x.neutrality_year, "status": x.status, "applied_at": x.applied_at,
            "decided_at": x.decided_at, "decision_reason": x.decision_reason,
            "due": case.deadline if case is not None and x.status == "reserved" else None,
            "certificate_number": cert}


def _is_holder(user: User, account: InstitutionalAccount) -> bool:
    if account.organisation_id is not None:
        return user.organisation_id == account.organisation_id
    return user.id == account.user_id


def _visible(session: Session, user: User, cancellation_id: int) -> tuple[Cancellation, InstitutionalAccount]:
    x = session.get(Cancellation, cancellation_id)
    account = session.get(InstitutionalAccount, x.account_id) if x is not None else None
    if x is None or account is None or not may_see_account(user, account):
        raise not_found(f"cancellation {cancellation_id}")
    return x, account


@router.post("/cancellations", response_model=CancellationOut, status_code=201,
             summary="Apply to cancel units (holder); they are reserved at once",
             responses={409: {"description": "not enough held units, frozen account/units, suspended participant"}})
async def apply(body: CancellationIn, session: DbSession, user: CurrentUser, actions: Actions,
                settings: SettingsDep, response: Response,
                idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None):
    ensure_may_act(user)
    ranges = parse_ranges(body.serial_ranges, "serial_ranges")
    now = datetime.now(timezone.utc)

    def reserve() -> tuple[dict[str, Any], c.CancellationStart, bool]:
        account = ledger.find_account(session, body.account_number)
        if account is None or not _is_holder(user, account):
            raise not_found(f"account {body.account_number}")
        app = ledger.CancellationApplication(
            account_number=account.account_number, applicant_user_id=user.id,
            request_key=idempotency_key or f"auto-{uuid.uuid4()}",
            selection=ledger.Selection(quantity=body.quantity, ranges=ranges), purpose=body.purpose,
            purpose_text=body.purpose_text, beneficiary_name=body.beneficiary_name,
            beneficiary_anonymous=body.beneficiary_anonymous, scenario_id=body.scenario_id,
            neutrality_year=body.neutrality_year, applied_at=now)
        x, new = in_transaction(session, lambda: ledger.apply_for_cancellation(session, app))
        same = (x.account_id, x.quantity, x.purpose, x.beneficiary_name) == (
            account.id, body.quantity or sum(r.count for r in ranges), body.purpose, body.beneficiary_name)
        if not same:
            raise Problem(422, "Unprocessable request", "Idempotency-Key was already used with a different request",
                          field="Idempotency-Key", rule="reused_with_different_payload")
        start = c.CancellationStart(
            case_id=c.case_id(x.id), deployment_id=cases.deployment_id(session), cancellation_id=x.id,
            applicant=_actor(user),
            holder_organisation_id=account.organisation_id, holder_user_id=account.user_id,
            account_number=account.account_number, quantity=x.quantity, applied_at=x.applied_at)
        return _out(session, x), start, new

    out, start, new = await run_in_threadpool(reserve)
    # Also on a replayed request: a start lost after the commit is made good (no connection held meanwhile).
    await actions.start(c.CANCELLATION_WORKFLOW, start, id=start.case_id, task_queue=settings.task_queue)
    if not new:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return out


@router.get("/cancellations", response_model=list[CancellationOut],
            summary="Cancellations the caller may see (holders: their own; authorities: all)")
def list_cancellations(session: DbSession, user: CurrentUser, status: str | None = None):
    q = select(Cancellation).join(InstitutionalAccount, InstitutionalAccount.id == Cancellation.account_id)
    if Role(user.role) not in AUTHORITIES:
        q = q.where((InstitutionalAccount.organisation_id == user.organisation_id) if user.organisation_id
                    else (InstitutionalAccount.user_id == user.id))
    if status is not None:
        q = q.where(Cancellation.status == status)
    return [_out(session, x) for x in session.scalars(q.order_by(Cancellation.id).limit(500))]


@router.get("/cancellations/{cancellation_id}", response_model=CancellationOut, summary="One cancellation")
def get_cancellation(cancellation_id: int, session: DbSession, user: CurrentUser):
    return _out(session, _visible(session, user, cancellation_id)[0])


async def _send(session: Session, user: User, actions, cancellation_id: int, update: str, arg: Any) -> Any:
    """Send the action with the kit's update id (action, case, its last step, payload): an identical
    retry answers the first result, also after the case ended; another payload is refused (409)."""
    def seq() -> int:
        _visible(session, user, cancellation_id)
        return cases.seq(session, c.case_id(cancellation_id))

    step = await run_in_threadpool(seq)
    await actions.action(c.case_id(cancellation_id), update, arg, seq=step, result_type=c.CancellationState)
    return await run_in_threadpool(lambda: _out(session, session.get(Cancellation, cancellation_id)))


@router.post("/cancellations/{cancellation_id}/confirm", response_model=CancellationOut,
             summary="Confirm (operator): the units are retired for ever and a certificate issued")
async def confirm(cancellation_id: int, session: DbSession, user: CurrentUser, actions: Actions):
    ensure_may_act(user)
    out = await _send(session, user, actions, cancellation_id, c.UPDATE_DECIDE,
                      c.Decision(actor=_actor(user), confirm=True))
    if out["purpose"] == "annual_neutrality" and out["scenario_id"] and out["status"] == "confirmed":
        await _tell_neutrality(actions, out["scenario_id"])
    return out


async def _tell_neutrality(actions, scenario_id: int) -> None:
    """Art. 17: the scenario's obligation counts its cancellations now. Best effort: it also counts weekly
    and on its due day, so a lost signal (no obligation running, Temporal busy) delays nothing that matters."""
    handle = actions.client.get_workflow_handle(neutrality.case_id(scenario_id))
    try:
        await actions.wait(handle.signal(neutrality.SIGNAL_CANCELLATIONS), what=neutrality.case_id(scenario_id))
    except (Problem, RPCError) as exc:
        log.info("annual neutrality of scenario %s not told: %s", scenario_id, exc)


@router.post("/cancellations/{cancellation_id}/reject", response_model=CancellationOut,
             summary="Reject with a reason (operator): the units are released")
async def reject(cancellation_id: int, body: CancellationDecisionIn, session: DbSession, user: CurrentUser,
                 actions: Actions):
    ensure_may_act(user)
    if not (body.reason or "").strip():
        raise unprocessable("reason", "required", "a rejection needs a reason / 驳回须说明理由")
    return await _send(session, user, actions, cancellation_id, c.UPDATE_DECIDE,
                       c.Decision(actor=_actor(user), confirm=False, reason=body.reason))


@router.post("/cancellations/{cancellation_id}/withdraw", response_model=CancellationOut,
             summary="Withdraw before the decision (holder): the units are released")
async def withdraw(cancellation_id: int, body: CancellationDecisionIn, session: DbSession, user: CurrentUser,
                   actions: Actions):
    ensure_may_act(user)
    return await _send(session, user, actions, cancellation_id, c.UPDATE_WITHDRAW,
                       c.Withdrawal(actor=_actor(user), reason=body.reason))
