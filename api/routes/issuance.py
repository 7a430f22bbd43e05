"""Issuance cases (SPEC §2.4): the accounting report, the verifier's actions, objections and rulings,
the registration application, the bureau's decision, issuance, withdrawal; public publicity notices
and the public register of issued reductions."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from api.case_actions import Actions, CaseActions
from api.case_actions import actor_of as _actor  # the one Actor of a signed-in user
from api.deps import (
    Applicant,
    Authority,
    Bureau,
    CurrentUser,
    DbSession,
    Operator,
    SettingsDep,
    require_roles,
)
from api.errors import Problem, conflict, not_found, unprocessable
from api.idempotency import run_once
from api.public import MAX_AGE_SECONDS, ONE_RESPONSES, public_answer
from api.routes.documents import file_response
from api.schemas.issuance import (
    AccountingReport,
    AmendmentIn,
    ObjectionAnswerIn,
    ApplicationIn,
    IssuanceCaseOut,
    CommentsIn,
    CommissionIn,
    IssuanceDecisionIn,
    IssuedReductionOut,
    NoticeOut,
    ObjectionFiledOut,
    ObjectionIn,
    ObjectionOut,
    ReasonIn,
    RulingIn,
    VerificationReportIn,
    VerifierResponseIn,
)
from api.temporal import announce_calendar_loaded
from domain import serials
from domain.clock import now_utc, shanghai_today
from domain.contracts import issuance as c
from domain.issuance import Stage
from domain.roles import AUTHORITIES, Role
from domain.rules import Rule
from store import audit, cases, documents, ledger
from store.issuance import AccountingReportDraft, check_verifier, provisional_publicity_case_ids
from store.issuance import file_accounting_report as file_report
from store.models.cases import Case
from store.models.documents import Document
from store.models.identity import Organisation, User
from store.models.issuance import IssuanceCase, Objection, Project, PublicityNotice
from store.models.ledger import InstitutionalAccount, Issuance
from settings import Settings

router = APIRouter(tags=["issuance"])
Verifier = Annotated[User, Depends(require_roles(Role.VERIFIER))]



def _tonnes(grams: int | None) -> str | None:
    return None if grams is None else str(serials.grams_to_tonnes(grams))


def _visible(session: Session, user: User, case_id: str) -> tuple[IssuanceCase, int]:
    """The case if the user may see it, with its last step (the kit's seq; 0 before the first)."""
    row = session.execute(select(IssuanceCase, Case.seq).outerjoin(Case, Case.case_id == IssuanceCase.case_id)
                          .where(IssuanceCase.case_id == case_id)).first()
    case = row[0] if row is not None else None
    if case is None or not (Role(user.role) in AUTHORITIES or user.organisation_id in (
            case.organisation_id, case.verifier_organisation_id)):
        raise not_found(f"issuance case {case_id}")
    return case, row[1] or 0


def _visible_case(session: Session, user: User, case_id: str) -> IssuanceCase:
    return _visible(session, user, case_id)[0]


async def _state(actions: CaseActions, case_id: str) -> c.IssuanceState:
    return await actions.query(case_id, c.ISSUANCE_STATE_QUERY, c.IssuanceState)


def _document_ids(session: Session, case_ids: list[str]) -> dict[str, list[int]]:
    """Document ids of several cases in one query (a list page must not ask once per case)."""
    found: dict[str, list[int]] = {case_id: [] for case_id in case_ids}
    for case_id, document_id in session.execute(select(Document.case_id, Document.id)
                                                .where(Document.case_id.in_(case_ids)).order_by(Document.id)):
        found[case_id].append(document_id)
    return found


def _case_out(session: Session, case: IssuanceCase, state: c.IssuanceState | None,
              document_ids: list[int] | None = None) -> IssuanceCaseOut:
    if document_ids is None:
        document_ids = _document_ids(session, [case.case_id])[case.case_id]
    return IssuanceCaseOut(
        document_ids=document_ids,
        case_id=case.case_id, project_id=case.project_id, organisation_id=case.organisation_id,
        period_start=case.period_start, period_end=case.period_end, claimed_tco2e=_tonnes(case.claimed_grams),
        benefit_sharing=case.benefit_sharing, verifier_organisation_id=case.verifier_organisation_id,
        verified_tco2e=_tonnes(case.verified_grams), verification_conclusion=case.verification_conclusion,
        stage=state.stage.value if state else case.stage, state=state.model_dump(mode="json") if state else None)


# --- the accounting report starts the case ---------------------------------------------------------

@router.post("/projects/{project_id}/issuance-cases", status_code=201, response_model=IssuanceCaseOut,
             summary="File the accounting report of a monitoring period and commission an accredited verifier")
async def file_accounting_report(
    project_id: int,
    body: AccountingReport,
    session: DbSession,
    actor: Applicant,
    actions: Actions,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
):
    def create() -> IssuanceCaseOut:
        # The project row lock serialises filings, so two overlapping periods cannot both pass the check.
        project = session.get(Project, project_id, with_for_update=True)
        if project is None or project.organisation_id != actor.organisation_id:
            raise not_found(f"project {project_id}")
        at = now_utc()
        case = file_report(session, project, AccountingReportDraft(
            period_start=body.period_start, period_end=body.period_end, claimed_grams=body.claimed_grams,
            benefit_sharing=body.benefit_sharing, verifier_organisation_id=body.verifier_organisation_id),
            user_id=actor.id, at=at)
        case.case_id = c.case_id_for(case.id)
        audit.record(session, action="issuance.accounting_report_filed", entity_type="issuance_case",
                     entity_id=case.case_id, case_id=case.case_id, occurred_at=at, actor_user_id=actor.id,
                     actor_role=actor.role, details={"project_id": project.id, "claimed_grams": case.claimed_grams,
                                                     "period": f"{case.period_start}..{case.period_end}",
                                                     "verifier_organisation_id": case.verifier_organisation_id})
        documents.attach(session, body.document_ids, case.case_id, actor)
        return _case_out(session, case, None)

    def file() -> tuple[Any, str, str]:
        response = run_once(session, user=actor, scope=f"issuance-cases:{project_id}", key=idempotency_key,
                            payload=body.model_dump(mode="json"), create=create)
        project = session.get(Project, project_id)
        assert project is not None
        return response, project.name, cases.deployment_id(session)

    response, project_name, deployment_id = await run_in_threadpool(file)
    out = IssuanceCaseOut.model_validate_json(response.body)
    # Also on a replayed request: a start lost after the commit is made good.
    await actions.start(
        c.ISSUANCE_WORKFLOW,
        c.IssuanceStart(case_id=out.case_id, deployment_id=deployment_id, project_id=project_id,
                        project_name=project_name, developer_organisation_id=out.organisation_id,
                        verifier_organisation_id=out.verifier_organisation_id,
                        claimed_grams=serials.tonnes_to_grams(body.claimed_tco2e), filed_by_user_id=actor.id),
        id=out.case_id, task_queue=settings.task_queue)
    return response


@router.get("/issuance-cases", response_model=list[IssuanceCaseOut], summary="Issuance cases the caller may see")
def list_cases(session: DbSession, user: CurrentUser, project_id: int | None = None):
    q = select(IssuanceCase).order_by(IssuanceCase.id)
    if Role(user.role) not in AUTHORITIES:
        q = q.where((IssuanceCase.organisation_id == user.organisation_id)
                    | (IssuanceCase.verifier_organisation_id == user.organisation_id))
    if project_id is not None:
        q = q.where(IssuanceCase.project_id == project_id)
    found = list(session.scalars(q))
    documents = _document_ids(session, [case.case_id for case in found])
    return [_case_out(session, case, None, documents[case.case_id]) for case in found]


@router.get("/issuance-cases/{case_id}", response_model=IssuanceCaseOut, summary="One case with its live state")
async def get_case(case_id: str, session: DbSession, user: CurrentUser, actions: Actions):
    case = await run_in_threadpool(_visible_case, session, user, case_id)
    try:
        state = await _state(actions, case_id)
    except Problem as unanswered:
        if unanswered.status not in (503, 504):
            raise
        state = None  # the case cannot answer now: its mirrored stage, and no live state
    return await actions.read(_case_out, case, state)


# --- the verifier and the developer --------------------------------------------------------------

async def _act(session, user, actions: CaseActions, case_id: str, update: str, arg: Any, result_type=c.IssuanceState, *,
               attach: tuple[Stage, list[int]] | None = None):
    """Send a human action as an update (the kit's ids: a retry answers the first result, another payload
    under the same step is refused). With `attach`, the caller's documents are attached first if the
    case is at that stage.
    """
    def prepare() -> int:
        case, seq = _visible(session, user, case_id)
        if attach is not None and attach[1] and case.stage == attach[0]:
            documents.attach(session, attach[1], case_id, user)
            session.commit()
        return seq

    seq = await run_in_threadpool(prepare)
    return await actions.action(case_id, update, arg, seq=seq, result_type=result_type)


@router.post("/issuance-cases/{case_id}/verifier-response", response_model=c.IssuanceState,
             summary="The commissioned verifier accepts or declines the engagement")
async def verifier_response(case_id: str, body: VerifierResponseIn, session: DbSession, user: Verifier,
                            actions: Actions):
    return await _act(session, user, actions, case_id, c.UPDATE_VERIFIER_RESPONSE,
                      c.VerifierResponse(actor=_actor(user), **body.model_dump()))


@router.post("/issuance-cases/{case_id}/verifier", response_model=c.IssuanceState,
             summary="Commission another accredited verifier after a decline")
async def commission_verifier(case_id: str, body: CommissionIn, session: DbSession, user: Applicant,
                              actions: Actions):
    def check() -> None:
        _visible_case(session, user, case_id)
        check_verifier(session, body.verifier_organisation_id, "verifier_organisation_id", shanghai_today(now_utc()))

    await run_in_threadpool(check)
    return await _act(session, user, actions, case_id, c.UPDATE_COMMISSION_VERIFIER,
                      c.CommissionVerifier(actor=_actor(user), verifier_organisation_id=body.verifier_organisation_id))


@router.post("/issuance-cases/{case_id}/correction-request", response_model=c.IssuanceState,
             summary="The verifier asks the developer for corrections")
async def request_corrections(case_id: str, body: CommentsIn, session: DbSession, user: Verifier,
                              actions: Actions):
    return await _act(session, user, actions, case_id, c.UPDATE_REQUEST_CORRECTIONS,
                      c.CorrectionRequest(actor=_actor(user), comments=body.comments))


@router.post("/issuance-cases/{case_id}/amendment", response_model=c.IssuanceState,
             summary="The developer amends the accounting report")
async def amend_report(case_id: str, body: AmendmentIn, session: DbSession, user: Applicant,
                       actions: Actions):
    grams = None if body.claimed_tco2e is None else serials.tonnes_to_grams(body.claimed_tco2e)
    return await _act(session, user, actions, case_id, c.UPDATE_AMEND_REPORT,
                      c.Amendment(actor=_actor(user), claimed_grams=grams, benefit_sharing=body.benefit_sharing,
                                  comments=body.comments), attach=(Stage.CORRECTION, body.document_ids))


@router.post("/issuance-cases/{case_id}/verification-report", response_model=c.IssuanceState,
             summary="The verifier files the verification report; publicity opens")
async def file_verification_report(case_id: str, body: VerificationReportIn, session: DbSession, user: Verifier,
                                   actions: Actions):
    verified = serials.tonnes_to_grams(body.verified_tco2e)

    def check() -> None:
        claimed = _visible_case(session, user, case_id).claimed_grams
        if verified > claimed:  # the case refuses it too; here the answer names the field
            raise unprocessable("verified_tco2e", Rule.ART21_WITHIN_CLAIM.value,
                                f"the verified quantity ({body.verified_tco2e} t) exceeds the claimed quantity "
                                f"({_tonnes(claimed)} t)")

    await run_in_threadpool(check)
    return await _act(session, user, actions, case_id, c.UPDATE_FILE_VERIFICATION_REPORT,
                      c.VerificationReport(actor=_actor(user), verified_grams=serials.tonnes_to_grams(
                          body.verified_tco2e), conclusion=body.conclusion),
                      attach=(Stage.VERIFICATION, body.document_ids))


@router.post("/issuance-cases/{case_id}/application", response_model=c.IssuanceState,
             summary="The developer submits the registration application (登记申请)")
async def submit_application(case_id: str, body: ApplicationIn, session: DbSession, user: Applicant,
                             actions: Actions):
    return await _act(session, user, actions, case_id, c.UPDATE_SUBMIT_APPLICATION,
                      c.Application(actor=_actor(user), statement=body.statement))


@router.post("/issuance-cases/{case_id}/decision", response_model=c.IssuanceState,
             summary="The bureau publishes the reduction or rejects it with a reason")
async def decide(case_id: str, body: IssuanceDecisionIn, session: DbSession, user: Bureau, actions: Actions):
    return await _act(session, user, actions, case_id, c.UPDATE_DECIDE,
                      c.Decision(actor=_actor(user), **body.model_dump()))


@router.post("/issuance-cases/{case_id}/issuance", response_model=c.IssueResult,
             summary="The operator registers and issues whole tonnes into the developer's account")
async def issue(case_id: str, session: DbSession, user: Operator, actions: Actions):
    def issued_before() -> c.IssueResult | None:
        issued = session.scalar(select(Issuance).where(Issuance.issuance_key == case_id))
        if issued is None:
            return None
        case = _visible_case(session, user, case_id)
        if case.stage != Stage.ISSUED.value:
            # The units are in the ledger but the case has not recorded its issuance yet (a worker died in
            # between): ask the case, which finishes the step, rather than answer more than it shows.
            return None
        account = session.get(InstitutionalAccount, issued.account_id)
        assert account is not None
        return c.IssueResult(issuance_id=issued.id, tonnes=issued.tonnes, remainder_grams=issued.remainder_grams,
                             serial_range=ledger.issued_range(session, issued.id),
                             account_number=account.account_number)

    earlier = await run_in_threadpool(issued_before)
    if earlier is not None:  # a retry after the case ended: the issuance as it was made
        return earlier
    return await _act(session, user, actions, case_id, c.UPDATE_ISSUE, c.IssueOrderUpdate(actor=_actor(user)),
                      result_type=c.IssueResult)


@router.post("/issuance-cases/{case_id}/withdrawal", response_model=c.IssuanceState,
             summary="The developer withdraws the case (possible until issuance)")
async def withdraw(case_id: str, body: ReasonIn, session: DbSession, user: Applicant, actions: Actions):
    return await _act(session, user, actions, case_id, c.UPDATE_WITHDRAW,
                      c.Withdrawal(actor=_actor(user), reason=body.reason))


# --- objections ---------------------------------------------------------------------------------

def _source_hash(request: Request, secret: str) -> str:
    # request.client is the peer, or the address a trusted proxy forwarded (TRUSTED_PROXIES, api.app); a
    # forged X-Forwarded-For from anyone else changes nothing.
    host = request.client.host if request.client else "unknown"
    return hashlib.sha256(f"{secret}:{host}".encode()).hexdigest()


def _too_many(message: str) -> Problem:
    return Problem(429, "Too many requests", message, headers={"Retry-After": "3600"})


def _record_objection(session: Session, settings: Settings, notice_id: int, body: ObjectionIn, source: str,
                      key: str | None) -> tuple[int, str, bool]:
    """Store the objection (or find the one this Idempotency-Key filed); (objection id, case id, replayed)."""
    # The notice row lock serialises objections to one notice, so the caps hold under concurrent filings.
    notice = session.get(PublicityNotice, notice_id, with_for_update=True)
    if notice is None:
        raise not_found(f"publicity notice {notice_id}")
    case_id = session.scalar(select(IssuanceCase.case_id).where(IssuanceCase.id == notice.issuance_case_id))
    digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    if key is not None:
        earlier = session.scalar(select(Objection).where(Objection.notice_id == notice_id,
                                                         Objection.idempotency_key == key))
        if earlier is not None:
            if earlier.request_hash != digest:
                raise unprocessable("Idempotency-Key", "reused_with_different_payload",
                                    "Idempotency-Key was already used with a different objection")
            return earlier.id, case_id, True
    if notice.closed_at is not None:
        raise conflict(f"publicity notice {notice_id} is closed")
    hour_ago = now_utc() - timedelta(hours=1)
    recent = select(func.count()).select_from(Objection).where(Objection.filed_at > hour_ago)
    if session.scalar(recent.where(Objection.source_hash == source)) >= settings.objections_per_source_per_hour:
        raise _too_many(f"at most {settings.objections_per_source_per_hour} objections per hour from one source")
    if session.scalar(recent.where(Objection.notice_id == notice_id)) >= settings.objections_per_notice_per_hour:
        raise _too_many(f"at most {settings.objections_per_notice_per_hour} objections per hour to one notice")
    objection = Objection(notice_id=notice.id, content=body.content, objector_name=body.name,
                          objector_contact=body.contact, source_hash=source, filed_at=now_utc(),
                          idempotency_key=key, request_hash=digest)
    session.add(objection)
    session.commit()
    return objection.id, case_id, False


def _forget_objection(session: Session, objection_id: int) -> None:
    session.execute(delete(Objection).where(Objection.id == objection_id))
    session.commit()


@router.post("/publicity-notices/{notice_id}/objections", status_code=201, response_model=ObjectionFiledOut,
             summary="Anyone (no login) objects during publicity; name and contact stay private")
async def file_objection(notice_id: int, body: ObjectionIn, request: Request, session: DbSession,
                         actions: Actions, settings: SettingsDep,
                         idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                                                       max_length=200)] = None):
    source = _source_hash(request, settings.secret_key.get_secret_value())
    objection_id, case_id, replayed = await run_in_threadpool(
        _record_objection, session, settings, notice_id, body, source, idempotency_key)
    try:
        # The same update id for a retried key: the case takes the objection once and answers the same.
        filed = await actions.update(case_id, c.UPDATE_FILE_OBJECTION, c.ObjectionFiled(objection_id=objection_id),
                                     update_id=f"objection-{objection_id}", result_type=c.ObjectionState)
    except Problem as refused:
        if refused.status < 500 and not replayed:
            # The case refused it (publicity over): nothing stays half-written. (On 503/504 it stays: the
            # case may have it; a retry with the same Idempotency-Key completes it.)
            await actions.read(_forget_objection, objection_id)
        raise
    out = ObjectionFiledOut(objection_id=objection_id, notice_id=notice_id, answer_due=filed.answer_due)
    if replayed:
        return JSONResponse(out.model_dump(mode="json"), status_code=201, headers={"Idempotent-Replayed": "true"})
    return out


@router.get("/issuance-cases/{case_id}/objections", response_model=list[ObjectionOut],
            summary="Objections to a case (developer and authorities; only the bureau sees who objected)")
def list_objections(case_id: str, session: DbSession, user: CurrentUser):
    case = _visible_case(session, user, case_id)
    if user.organisation_id == case.verifier_organisation_id and Role(user.role) == Role.VERIFIER:
        raise not_found(f"objections of {case_id}")
    rows = session.scalars(select(Objection).join(PublicityNotice).where(
        PublicityNotice.issuance_case_id == case.id).order_by(Objection.id)).all()
    private = Role(user.role) == Role.BUREAU_ADMIN
    return [ObjectionOut(id=o.id, notice_id=o.notice_id, content=o.content, filed_at=o.filed_at, answer=o.answer,
                         answered_at=o.answered_at, ruling=o.ruling, ruling_reason=o.ruling_reason,
                         ruled_at=o.ruled_at, objector_name=o.objector_name if private else None,
                         objector_contact=o.objector_contact if private else None) for o in rows]


@router.post("/issuance-cases/{case_id}/objections/{objection_id}/answer", response_model=c.ObjectionState,
             summary="The developer answers an objection")
async def answer_objection(case_id: str, objection_id: int, body: ObjectionAnswerIn, session: DbSession, user: Applicant,
                           actions: Actions):
    return await _act(session, user, actions, case_id, c.UPDATE_ANSWER_OBJECTION,
                      c.ObjectionAnswer(actor=_actor(user), objection_id=objection_id, answer=body.answer),
                      result_type=c.ObjectionState)


@router.post("/issuance-cases/{case_id}/objections/{objection_id}/ruling", response_model=c.ObjectionState,
             summary="The bureau rules: upheld (back to correction, new publicity) or dismissed")
async def rule_objection(case_id: str, objection_id: int, body: RulingIn, session: DbSession, user: Bureau,
                         actions: Actions):
    return await _act(session, user, actions, case_id, c.UPDATE_RULE_OBJECTION,
                      c.ObjectionRuling(actor=_actor(user), objection_id=objection_id, **body.model_dump()),
                      result_type=c.ObjectionState)


# --- public pages -------------------------------------------------------------------------------

def _notice_out(session: Session, n: PublicityNotice, now: datetime) -> NoticeOut:
    case = session.get(IssuanceCase, n.issuance_case_id)
    assert case is not None
    count = session.scalar(select(func.count()).select_from(Objection).where(Objection.notice_id == n.id)) or 0
    is_open = n.closed_at is None
    remaining = max(0, int((n.ends_at - now).total_seconds())) if is_open else 0
    return NoticeOut(id=n.id, case_id=case.case_id, round_no=n.round_no, project_name=n.project_name,
                     district=n.district, developer_name=n.developer_name, period_start=n.period_start,
                     period_end=n.period_end, verified_tco2e=_tonnes(n.verified_grams),
                     verification_conclusion=case.verification_conclusion,
                     verification_report_document_ids=_report_ids(session, case),
                     benefit_sharing=n.benefit_sharing,
                     starts_at=n.starts_at, ends_at=n.ends_at, provisional=n.provisional, open=is_open,
                     remaining_seconds=remaining, closed_at=n.closed_at, outcome=n.outcome, objections=count)


def _report_ids(session: Session, case: IssuanceCase) -> list[int]:
    """The verification report: what the verifier's organisation attached to the case (Art. 20 publicity)."""
    return list(session.scalars(select(Document.id).where(
        Document.case_id == case.case_id, Document.owner_organisation_id == case.verifier_organisation_id)
        .order_by(Document.id)))


@router.get("/publicity-notices/{notice_id}/documents/{document_id}", response_class=FileResponse,
            summary="A document of the verification report a notice publishes (public)")
def notice_document(notice_id: int, document_id: int, session: DbSession, settings: SettingsDep):
    notice = session.get(PublicityNotice, notice_id)
    case = session.get(IssuanceCase, notice.issuance_case_id) if notice is not None else None
    doc = session.get(Document, document_id) if case is not None and document_id in _report_ids(session, case) else None
    if doc is None:
        raise not_found(f"document {document_id} of publicity notice {notice_id}")
    return file_response(settings, doc)


# What a notice is made of; its remaining time also moves with the clock (api/public.py clock_seconds).
NOTICE_TABLES = ("publicity_notices", "publicity_objections", "issuance_cases", "documents")


@router.get("/publicity-notices", response_model=list[NoticeOut], responses=ONE_RESPONSES,
            summary="Public publicity notices (公示), open or closed, with their remaining time")
def list_notices(request: Request, session: DbSession, status: Literal["open", "closed"] | None = None):
    return public_answer(request, session, NOTICE_TABLES, lambda: notices(session, status),
                         clock_seconds=MAX_AGE_SECONDS)


def notices(session: Session, status: Literal["open", "closed"] | None = None) -> list[NoticeOut]:
    """The notices as published now (also the web page's)."""
    q = select(PublicityNotice).order_by(PublicityNotice.id.desc())
    if status == "open":
        q = q.where(PublicityNotice.closed_at.is_(None))
    elif status == "closed":
        q = q.where(PublicityNotice.closed_at.is_not(None))
    now = now_utc()
    return [_notice_out(session, n, now) for n in session.scalars(q)]


@router.get("/publicity-notices/{notice_id}", response_model=NoticeOut, summary="One public notice",
            responses=ONE_RESPONSES)
def get_notice(notice_id: int, request: Request, session: DbSession):
    return public_answer(request, session, NOTICE_TABLES, lambda: notice_of(session, notice_id),
                         clock_seconds=MAX_AGE_SECONDS)


def notice_of(session: Session, notice_id: int) -> NoticeOut:
    notice = session.get(PublicityNotice, notice_id)
    if notice is None:
        raise not_found(f"publicity notice {notice_id}")
    return _notice_out(session, notice, now_utc())


@router.post("/publicity-notices/recompute", summary="Recompute provisional publicity ends after a calendar load")
async def recompute_provisional(session: DbSession, _: Authority, actions: Actions) -> dict[str, list[str]]:
    """Loading a year through the API does this itself; this is for a year loaded with the CLI."""
    case_ids = await run_in_threadpool(provisional_publicity_case_ids, session)
    return {"signalled": await actions.wait(announce_calendar_loaded(actions.client, case_ids))}


@router.get("/issued-reductions", response_model=list[IssuedReductionOut],
            summary="Public register of issued project reductions", responses=ONE_RESPONSES)
def issued_register(request: Request, session: DbSession, project_id: int | None = None):
    return public_answer(request, session, ISSUED_TABLES, lambda: issued(session, project_id))


ISSUED_TABLES = ("ledger", "projects", "organisations")


def issued(session: Session, project_id: int | None = None) -> list[IssuedReductionOut]:
    """The register of issued reductions (also the web page's)."""
    q = select(Issuance, Project, Organisation).join(Project, Project.id == Issuance.project_id).join(
        Organisation, Organisation.id == Project.organisation_id).order_by(Issuance.id)
    if project_id is not None:
        q = q.where(Issuance.project_id == project_id)
    out = []
    for issued, project, developer in session.execute(q).all():
        out.append(IssuedReductionOut(
            case_id=issued.issuance_key, project_id=project.id, project_name=project.name,
            developer_name=developer.name, vintage=issued.vintage, tonnes=issued.tonnes,
            remainder_grams=issued.remainder_grams, serial_range=ledger.issued_range(session, issued.id),
            not_declarable_elsewhere=True,  # Art. 24: every project issuance carries the flag
            issued_at=issued.issued_at))
    return out
