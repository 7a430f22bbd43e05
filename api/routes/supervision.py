"""Supervision through HTTP (SPEC §2.7): reports (举报, Art. 34) by anyone, followed by receipt code,
handled by an assigned bureau or operator user; sanctions (Art. 33) by the operator or the exchange,
lifted by reinstatement; the public list of sanctions in force. Each report and each sanction is a
durable case (workflows/report.py, workflows/sanction.py).

Privacy (Art. 34 "为举报人保密"): the reporter's name, contact and account are sealed in the reports row
(store/sealing.py) and opened only in the answer to the assigned handler; they go into no workflow,
audit event, log line or search attribute.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.case_actions import Actions
from api.deps import Authority, Bureau, DbSession, OptionalUser, SettingsDep, require_roles
from api.errors import Problem, conflict, not_found, unprocessable
from api.schemas.supervision import (
    AssignmentIn,
    ConclusionIn,
    PublicSanctionOut,
    ReinstatementIn,
    ReportFiledOut,
    ReportIn,
    ReportOut,
    ReportProgressOut,
    Reporter,
    SanctionIn,
    SanctionOut,
)
from domain.contracts import report as rc
from domain.contracts import sanction as sc
from domain.contracts.cases import Actor
from domain.roles import AUTHORITIES, OrganisationType, Role
from store import cases, sealing, supervision
from store.models.identity import Organisation, User
from store.models.supervision import Report, Sanction

router = APIRouter(tags=["supervision"])
log = logging.getLogger(__name__)

Sanctioner = Annotated[User, Depends(require_roles(Role.OPERATOR_ADMIN, Role.EXCHANGE))]
Overseer = Annotated[User, Depends(require_roles(Role.BUREAU_ADMIN, Role.OPERATOR_ADMIN, Role.EXCHANGE))]


def _actor(user: User) -> Actor:
    return Actor(user_id=user.id, organisation_id=user.organisation_id, role=user.role)


def _source_hash(request: Request, secret: str) -> str:
    host = request.client.host if request.client else "unknown"
    return hashlib.sha256(f"{secret}:report:{host}".encode()).hexdigest()


# --- reports -------------------------------------------------------------------------------------

@router.post("/reports", status_code=201, response_model=ReportFiledOut,
             summary="Report a participant (anyone, no login needed); the receipt code is shown once",
             responses={429: {"description": "too many reports from this source or about this participant"}})
async def file_report(body: ReportIn, request: Request, session: DbSession, user: OptionalUser, actions: Actions,
                      settings: SettingsDep):
    source = _source_hash(request, settings.secret_key.get_secret_value())
    code = secrets.token_urlsafe(16)  # 128 random bits; only its hash is kept
    now = datetime.now(timezone.utc)
    sealed = None
    if body.reporter_name or body.contact or user is not None:
        sealed = sealing.seal(settings, {"name": body.reporter_name, "contact": body.contact,
                                         "user_id": user.id if user is not None else None})

    def store() -> tuple[Report, rc.ReportStart]:
        try:
            report = supervision.file_report(
                session, organisation_id=body.organisation_id, content=body.content,
                evidence_document_ids=body.evidence_document_ids, reporter_user=user, sealed=sealed, receipt=code,
                source_hash=source, now=now, per_source=settings.reports_per_source_per_hour,
                per_participant=settings.reports_per_participant_per_hour)
        except supervision.TooMany as exc:
            session.rollback()
            raise Problem(429, "Too many requests", exc.message, headers={"Retry-After": "3600"}) from None
        except Exception:
            session.rollback()
            raise
        start = _start_of(session, report)
        session.commit()
        return report, start

    report, start = await run_in_threadpool(store)
    try:
        await actions.start(rc.REPORT_WORKFLOW, start, id=start.case_id, task_queue=settings.task_queue)
    except Problem as exc:
        if exc.status not in (503, 504):
            raise
        # The report is stored and the reporter must get the receipt code (it is not kept to be shown
        # again): the case is started when the bureau assigns it (assign_report), its deadlines still
        # counted from the filing.
        log.warning("%s stored; its case starts at the assignment (Temporal answered %s)", start.case_id, exc.status)
    return ReportFiledOut(report_id=report.id, receipt_code=code, stage=report.stage, filed_at=report.filed_at)


def _start_of(session: Session, report: Report) -> rc.ReportStart:
    return rc.ReportStart(case_id=rc.case_id(report.id), deployment_id=cases.deployment_id(session),
                          report_id=report.id, reported_organisation_id=report.reported_organisation_id,
                          filed_at=report.filed_at)


def _progress(r: Report) -> dict[str, Any]:
    return {"report_id": r.id, "stage": r.stage, "filed_at": r.filed_at, "acknowledged_at": r.acknowledged_at,
            "concluded_at": r.concluded_at, "substantiated": r.substantiated, "conclusion": r.conclusion,
            "measures": r.measures}


@router.get("/reports/receipt/{receipt_code}", response_model=ReportProgressOut,
            summary="Follow a report by its receipt code (no login)")
def follow_report(receipt_code: str, session: DbSession):
    r = supervision.by_receipt(session, receipt_code[:100])
    if r is None:
        raise not_found("the report of this receipt code")
    return _progress(r)


def _out(r: Report, user: User, settings) -> dict[str, Any]:
    reporter = None
    # Art. 34: only the assigned handler sees who reported.
    if r.handler_user_id is not None and r.handler_user_id == user.id and r.reporter_sealed:
        opened = sealing.unseal(settings, r.reporter_sealed)
        reporter = Reporter(name=opened.get("name"), contact=opened.get("contact"),
                            signed_in_user_id=opened.get("user_id"))
    return {**_progress(r), "case_id": rc.case_id(r.id), "reported_organisation_id": r.reported_organisation_id,
            "content": r.content, "evidence_document_ids": r.evidence_document_ids,
            "handler_user_id": r.handler_user_id, "ack_due": r.ack_due, "conclude_due": r.conclude_due,
            "overdue": r.overdue, "reporter": reporter}


@router.get("/reports", response_model=list[ReportOut], summary="Reports (bureau and operator); no reporter data")
def list_reports(session: DbSession, user: Authority, settings: SettingsDep, stage: str | None = None):
    q = select(Report).order_by(Report.id.desc()).limit(500)
    if stage is not None:
        q = q.where(Report.stage == stage[:30])
    return [{**_out(r, user, settings), "reporter": None} for r in session.scalars(q)]


def _report(session: Session, report_id: int) -> Report:
    r = session.get(Report, report_id)
    if r is None:
        raise not_found(f"report {report_id}")
    return r


@router.get("/reports/{report_id}", response_model=ReportOut,
            summary="One report; the reporter is shown to its assigned handler only")
def get_report(report_id: int, session: DbSession, user: Authority, settings: SettingsDep):
    return _out(_report(session, report_id), user, settings)


async def _report_action(session: Session, user: User, actions, settings, report_id: int, update: str,
                         arg: Any) -> dict[str, Any]:
    step = await run_in_threadpool(lambda: (_report(session, report_id), cases.seq(session, rc.case_id(report_id)))[1])
    await actions.action(rc.case_id(report_id), update, arg, seq=step, result_type=rc.ReportState)
    return await actions.read(lambda s: _out(_report(s, report_id), user, settings))


@router.post("/reports/{report_id}/assignment", response_model=ReportOut,
             summary="The bureau assigns (or reassigns) the handler: a bureau or operator user, not of the reported")
async def assign_report(report_id: int, body: AssignmentIn, session: DbSession, user: Bureau, actions: Actions,
                        settings: SettingsDep):
    def handler() -> tuple[User, rc.ReportStart]:
        start = _start_of(session, _report(session, report_id))
        h = session.get(User, body.handler_user_id)
        if h is None or not h.active:
            raise unprocessable("handler_user_id", "exists", f"user {body.handler_user_id} does not exist")
        return h, start

    h, start = await run_in_threadpool(handler)
    # A case whose start was lost when the report was filed (Temporal away) starts now; otherwise nothing.
    await actions.start(rc.REPORT_WORKFLOW, start, id=start.case_id, task_queue=settings.task_queue)
    return await _report_action(session, user, actions, settings, report_id, rc.UPDATE_ASSIGN, rc.Assignment(
        actor=_actor(user), handler_user_id=h.id, handler_role=h.role, handler_organisation_id=h.organisation_id))


@router.post("/reports/{report_id}/acknowledgement", response_model=ReportOut,
             summary="The assigned handler acknowledges the report")
async def acknowledge_report(report_id: int, session: DbSession, user: Authority, actions: Actions,
                             settings: SettingsDep):
    return await _report_action(session, user, actions, settings, report_id, rc.UPDATE_ACKNOWLEDGE,
                                rc.Acknowledgement(actor=_actor(user)))


@router.post("/reports/{report_id}/conclusion", response_model=ReportOut,
             summary="The assigned handler concludes: substantiated or not, and the measures taken")
async def conclude_report(report_id: int, body: ConclusionIn, session: DbSession, user: Authority, actions: Actions,
                          settings: SettingsDep):
    return await _report_action(session, user, actions, settings, report_id, rc.UPDATE_CONCLUDE, rc.Conclusion(
        actor=_actor(user), substantiated=body.substantiated, conclusion=body.conclusion, measures=body.measures))


# --- sanctions -----------------------------------------------------------------------------------

def _sanction_out(s: Sanction) -> dict[str, Any]:
    return {"sanction_id": s.id, "case_id": sc.case_id(s.id), "organisation_id": s.organisation_id,
            "measure": s.measure, "reason": s.reason, "report_id": s.report_id, "stage": s.stage,
            "imposed_at": s.imposed_at, "froze_account": s.froze_account, "cases_told": s.cases_told,
            "lifted_at": s.lifted_at, "lift_reason": s.lift_reason}


@router.post("/sanctions", status_code=201, response_model=SanctionOut,
             summary="Suspend or terminate a participant (operator or exchange), optionally citing a report",
             responses={409: {"description": "a measure is already in force on this participant"}})
async def impose(body: SanctionIn, session: DbSession, user: Sanctioner, actions: Actions, settings: SettingsDep,
                 response: Response,
                 idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                                               max_length=150)] = None):
    now = datetime.now(timezone.utc)

    def create() -> tuple[dict[str, Any], sc.SanctionStart, bool]:
        org = session.get(Organisation, body.organisation_id)
        authority = session.scalar(select(User.id).where(User.organisation_id == body.organisation_id,
                                                         User.role.in_([r.value for r in AUTHORITIES])).limit(1))
        if org is not None and (org.org_type == OrganisationType.GOVERNMENT.value or authority is not None):
            raise unprocessable("organisation_id", "art33.participant",
                                "the authorities are not participants a sanction applies to")
        with transaction_of(session):
            s, new = supervision.create_sanction(
                session, organisation_id=body.organisation_id, measure=body.measure, reason=body.reason,
                report_id=body.report_id, actor=user, now=now,
                request_key=f"{user.id}:{idempotency_key}" if idempotency_key else _auto_key(session, user, body))
        start = sc.SanctionStart(case_id=sc.case_id(s.id), deployment_id=cases.deployment_id(session),
                                 sanction_id=s.id, organisation_id=s.organisation_id, measure=s.measure,
                                 reason=s.reason, report_id=s.report_id, actor=_actor(user), imposed_at=s.imposed_at)
        return _sanction_out(s), start, new

    out, start, new = await run_in_threadpool(create)
    await actions.start(sc.SANCTION_WORKFLOW, start, id=start.case_id, task_queue=settings.task_queue)
    if not new:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return out


def _auto_key(session: Session, user: User, body: SanctionIn) -> str:
    """Without an Idempotency-Key, the same request is the same sanction until it is lifted: a retry after
    a lost answer (or a start that failed, 503) finds it and starts its case, instead of a stuck row
    holding the participant's one measure in force. After a lift, the same words make a new sanction."""
    lifted = session.scalar(select(func.count()).select_from(Sanction).where(
        Sanction.organisation_id == body.organisation_id, Sanction.stage == "lifted"))
    digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()[:32]
    return f"auto:{user.id}:{body.organisation_id}:{lifted}:{digest}"


class transaction_of:
    """Commit the block's writes on the request's session, roll back on error."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def __enter__(self) -> Session:
        return self.session

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.session.commit()
        else:
            self.session.rollback()


@router.get("/sanctions", response_model=list[SanctionOut], summary="Sanctions (bureau, operator, exchange)")
def list_sanctions(session: DbSession, user: Overseer):
    return [_sanction_out(s) for s in session.scalars(select(Sanction).order_by(Sanction.id.desc()).limit(500))]


@router.get("/sanctions/{sanction_id}", response_model=SanctionOut, summary="One sanction and its progress")
def get_sanction(sanction_id: int, session: DbSession, user: Overseer):
    s = session.get(Sanction, sanction_id)
    if s is None:
        raise not_found(f"sanction {sanction_id}")
    return _sanction_out(s)


@router.post("/sanctions/{sanction_id}/reinstatement", response_model=SanctionOut,
             summary="Reinstate a suspended participant (operator or exchange): everything is undone")
async def reinstate(sanction_id: int, body: ReinstatementIn, session: DbSession, user: Sanctioner,
                    actions: Actions):
    def check() -> None:
        found = session.get(Sanction, sanction_id)
        if found is None:
            raise not_found(f"sanction {sanction_id}")
        # Also refused by the case; said here too, as an ended case answers no action.
        if found.measure == sc.TERMINATE:
            raise conflict("a termination is final / 终止不可恢复", rule="art33.termination_final", field="sanction")

    await run_in_threadpool(check)
    # A sanction is reinstated once: the update id does not follow the case's steps, so the same request
    # retried while the first is still under way (a worker died mid-way) joins it instead of being refused.
    await actions.action(sc.case_id(sanction_id), sc.UPDATE_REINSTATE,
                         sc.Reinstatement(actor=_actor(user), reason=body.reason), seq="once",
                         result_type=sc.SanctionState)
    return await actions.read(lambda s: _sanction_out(s.get(Sanction, sanction_id)))


@router.get("/public/sanctions", response_model=list[PublicSanctionOut],
            summary="Sanctions in force (public, Art. 30, 33): participant and measure")
def public_sanctions(session: DbSession):
    return [PublicSanctionOut(participant=org.name, organisation_id=org.id, measure=s.measure,
                              in_force_since=s.imposed_at) for s, org in supervision.sanctions_in_force(session)]
