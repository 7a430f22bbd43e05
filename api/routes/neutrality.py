"""Scenario annual neutrality (Art. 17) through HTTP: the scenario's organisation reports its emissions,
the operator extends a day with a reason, authorities see every obligation (overdue first); the public
compliance list is GET /disclosure/neutrality. The case is `neutrality-{scenario_id}`
(workflows/neutrality.py), started when the scenario's label is published."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.case_actions import Actions
from api.deps import Applicant, Authority, CurrentUser, DbSession, Operator, ensure_may_act
from api.errors import conflict, not_found, unprocessable
from api.schemas.disclosure import EmissionsReportIn, ExtensionIn, ObligationOut
from domain.contracts import neutrality as n
from domain.contracts.cases import Actor
from domain.rules import Refusal
from domain.roles import AUTHORITIES, Role
from store import cases, documents, neutrality
from store.models.disclosure import NeutralityObligation
from store.models.identity import User
from store.models.scenario import Scenario

router = APIRouter(tags=["neutrality"])


def _actor(user: User) -> Actor:
    return Actor(user_id=user.id, organisation_id=user.organisation_id, role=user.role)


def _out(o: NeutralityObligation) -> dict[str, Any]:
    return {c: getattr(o, c) for c in ObligationOut.model_fields}


def _scenario(session: Session, user: User, scenario_id: int) -> Scenario:
    """The scenario if the caller may see its obligations: authorities and its own organisation (404 alike)."""
    scenario = session.get(Scenario, scenario_id)
    if scenario is None or (Role(user.role) not in AUTHORITIES and scenario.organisation_id != user.organisation_id):
        raise not_found(f"scenario {scenario_id}")
    return scenario


def _obligation(session: Session, user: User, scenario_id: int, year: int) -> NeutralityObligation:
    _scenario(session, user, scenario_id)
    o = neutrality.obligation(session, scenario_id, year)
    if o is None:
        raise not_found(f"annual neutrality {year} of scenario {scenario_id}")
    return o


@router.get("/neutrality-obligations", response_model=list[ObligationOut],
            summary="Every annual-neutrality obligation, overdue first (operator, bureau)")
def list_obligations(session: DbSession, _: Authority, year: int | None = None, overdue: bool | None = None):
    q = select(NeutralityObligation).order_by(NeutralityObligation.year.desc(), NeutralityObligation.scenario_id)
    if year is not None:
        q = q.where(NeutralityObligation.year == year)
    if overdue is not None:
        q = q.where(NeutralityObligation.overdue == overdue)
    return [_out(o) for o in session.scalars(q.order_by(None).order_by(
        NeutralityObligation.overdue.desc(), NeutralityObligation.year.desc(), NeutralityObligation.scenario_id)
        .limit(5000))]


@router.get("/scenarios/{scenario_id}/neutrality", response_model=list[ObligationOut],
            summary="A scenario's annual-neutrality obligations (its organisation, authorities)")
def scenario_obligations(scenario_id: int, session: DbSession, user: CurrentUser):
    _scenario(session, user, scenario_id)
    return [_out(o) for o in session.scalars(select(NeutralityObligation).where(
        NeutralityObligation.scenario_id == scenario_id).order_by(NeutralityObligation.year))]


async def _send(session: Session, user: User, actions, scenario_id: int, year: int, update: str, arg: Any,
                before=None) -> dict[str, Any]:
    def prepare() -> int:
        o = _obligation(session, user, scenario_id, year)
        later = session.scalar(select(NeutralityObligation.id).where(
            NeutralityObligation.scenario_id == scenario_id, NeutralityObligation.year > year).limit(1))
        if o.status in ("met", "late") or later is not None:
            # Art. 17: a settled year (the case has moved on to the next one) takes no more actions.
            raise conflict(f"annual neutrality {year} is settled ({o.status}) / 该年度碳中和已结束",
                           field="year", rule="art17.obligation_closed")
        if before is not None:
            before()
        step = cases.seq(session, n.case_id(scenario_id))
        session.commit()
        return step

    step = await run_in_threadpool(prepare)
    await actions.action(n.case_id(scenario_id), update, arg, seq=step, result_type=n.NeutralityState)
    return await actions.read(lambda s: _out(_obligation(s, user, scenario_id, year)))


@router.post("/scenarios/{scenario_id}/neutrality/{year}/report", response_model=ObligationOut,
             summary="Report the year's emissions in whole tonnes with a document (the scenario, Art. 17)")
async def report_emissions(scenario_id: int, year: int, body: EmissionsReportIn, session: DbSession,
                           user: Applicant, actions: Actions):
    ensure_may_act(user)

    def attach() -> None:
        try:
            documents.attach(session, [body.document_id], n.case_id(scenario_id), user)
        except Refusal as refusal:
            raise unprocessable("document_id", "art17.report_document", refusal.message) from None

    return await _send(session, user, actions, scenario_id, year, n.UPDATE_REPORT, n.EmissionsReport(
        actor=_actor(user), year=year, emissions_tco2e=body.emissions_tco2e, document_id=body.document_id),
        before=attach)


@router.post("/scenarios/{scenario_id}/neutrality/{year}/extension", response_model=ObligationOut,
             summary="Extend the report day or the due day with a reason (operator, audited)")
async def grant_extension(scenario_id: int, year: int, body: ExtensionIn, session: DbSession, user: Operator,
                          actions: Actions):
    ensure_may_act(user)
    if not body.reason.strip():
        raise unprocessable("reason", "required", "an extension needs a reason / 延期须说明理由")
    return await _send(session, user, actions, scenario_id, year, n.UPDATE_EXTEND, n.Extension(
        actor=_actor(user), year=year, reason=body.reason, report_due=body.report_due, due=body.due))
