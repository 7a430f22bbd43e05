"""Methodology API (SPEC §2.2): cases through their workflow, published methodologies in public.

Every human action is an update of the case's workflow; the workflow's validator refuses a wrong
stage (409) or actor (403) synchronously, and the handler returns once the new stage is stored, so
each answer shows the case as it now is. The expert panel of each review round is formed on the review
API (`POST /reviews/{review_id}/panel`, review_id in the case).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import FileResponse
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from api.case_actions import Actions, CaseActions
from api.case_actions import actor_of as _actor  # the one Actor of a signed-in user
from api.deps import Bureau, CurrentUser, DbSession, SettingsDep, require_roles
from api.errors import conflict, not_found, unprocessable
from api.idempotency import run_once
from api.public import ONE_RESPONSES, public_answer
from api.schemas.methodology import (
    BehaviourOut,
    CompletenessIn,
    MethodologyCaseOut,
    MethodologyCasePage,
    MethodologyIn,
    PublicationIn,
    PublishedMethodologyOut,
    PublishedRef,
    ReevaluationDecisionIn,
    ReevaluationIn,
    ReevaluationOut,
    MethodologyResubmissionIn,
    VersionOut,
    VersionSummary,
    MethodologyWithdrawalIn,
)
from domain.contracts.cases import Actor
from domain.contracts.methodology import (
    CASE_TYPE,
    METHODOLOGY_WORKFLOW,
    REEVALUATION_CASE_TYPE,
    REEVALUATION_WORKFLOW,
    UPDATE_COMPLETENESS,
    UPDATE_DECIDE_REEVALUATION,
    UPDATE_PUBLICATION,
    UPDATE_RESUBMIT,
    UPDATE_WITHDRAW,
    CompletenessDecision,
    MethodologyStart,
    PublicationDecision,
    ReevaluationDecision,
    ReevaluationStart,
    Resubmission,
    Withdrawal,
)
from domain.methodology import MethodologyDomain, ReevaluationOutcome, Scope, Stage, VersionStatus, version_label
from domain.roles import AUTHORITIES, Role
from settings import Settings
from store import cases, documents, methodology
from store.models.cases import CaseParticipant
from store.models.documents import Document
from store.models.identity import User
from store.models.methodology import Methodology, MethodologyCase, MethodologyReevaluation, MethodologyVersion
from workflows import search_attributes as sa

router = APIRouter(tags=["methodologies"])

ApplicantOrBureau = Annotated[User, Depends(require_roles(Role.APPLICANT, Role.BUREAU_ADMIN))]


async def _update(session: Session, actions: CaseActions, case_id: str, name: str, arg: Any) -> None:
    """A human action (the kit's update ids: an identical retry answers as the first did, another
    payload for the same step is refused); no connection is held while the workflow answers."""
    seq = await run_in_threadpool(cases.seq, session, case_id)
    await actions.action(case_id, name, arg, seq=seq)


# --- views ---

def _case_out(session: Session, case: MethodologyCase) -> MethodologyCaseOut:
    content = methodology.case_content(case)
    published = None
    if case.version_id is not None:
        v = session.get(MethodologyVersion, case.version_id)
        published = PublishedRef(code=v.methodology.code, version_no=v.version_no, version=version_label(v.version_no),
                                 version_id=v.id)
    return MethodologyCaseOut(
        id=case.id, case_id=case.case_id, applicant_organisation_id=case.applicant_organisation_id,
        commissioned=case.commissioned, title=case.title, code_suggestion=case.code_suggestion, scope=case.scope,
        domain=case.domain, summary=case.summary, behaviours=[BehaviourOut.of(b) for b in content.behaviours],
        document_ids=case.document_ids, stage=case.stage, submission_no=case.submission_no, round_no=case.round_no,
        deadline=case.deadline, review_id=case.review_id, reasons=case.reasons, published=published,
        created_at=case.created_at, updated_at=case.updated_at)


def _visible_case(session: Session, user: User, case_no: int) -> MethodologyCase:
    case = session.get(MethodologyCase, case_no, populate_existing=True)
    # The own organisation is checked on the case row itself: the register is mirrored a moment later.
    own = (case is not None and user.organisation_id is not None
           and case.applicant_organisation_id == user.organisation_id)
    if case is None or not (own or cases.may_see(session, user, case.case_id)):
        raise not_found(f"methodology case {case_no}")
    return case


def _version_out(v: MethodologyVersion) -> VersionOut:
    content = methodology.version_content(v)
    return VersionOut(id=v.id, code=v.methodology.code, version_no=v.version_no, version=version_label(v.version_no),
                      status=v.status, title=v.title, summary=v.summary, published_at=v.published_at,
                      reevaluation_due=v.reevaluation_due, superseded_at=v.superseded_at, retired_at=v.retired_at,
                      document_ids=v.document_ids, behaviours=[BehaviourOut.of(b) for b in content.behaviours])


def _published_out(session: Session, m: Methodology) -> PublishedMethodologyOut:
    session.refresh(m)
    current = next((v for v in m.versions if v.status == VersionStatus.CURRENT.value), None)
    return PublishedMethodologyOut(
        code=m.code, scope=m.scope, domain=m.domain, status=m.status, published_at=m.published_at,
        retired_at=m.retired_at, current_version=_version_out(current) if current else None,
        versions=[VersionSummary(version_no=v.version_no, version=version_label(v.version_no), status=v.status,
                                 published_at=v.published_at) for v in m.versions])


def _reevaluation_out(session: Session, r: MethodologyReevaluation) -> ReevaluationOut:
    version = session.get(MethodologyVersion, r.version_id)
    new = session.get(MethodologyVersion, r.new_version_id) if r.new_version_id else None
    return ReevaluationOut(id=r.id, case_id=r.case_id, code=version.methodology.code, version_no=version.version_no,
                           stage=r.stage, reason=r.reason, decision_reason=r.decision_reason,
                           new_version_no=new.version_no if new else None, review_id=r.review_id,
                           reasons=list(r.reasons or []), created_at=r.created_at, updated_at=r.updated_at)


# --- cases ---

def _start_of(case: MethodologyCase, user_id: int, role: str, deployment_id: str) -> MethodologyStart:
    return MethodologyStart(
        case_id=case.case_id, deployment_id=deployment_id, case_no=case.id,
        applicant_organisation_id=case.applicant_organisation_id, commissioned=case.commissioned,
        content=methodology.case_content(case),
        submitted_by=Actor(user_id=user_id, role=role, organisation_id=case.applicant_organisation_id))


async def _ensure_started(actions: CaseActions, settings: Settings, start: MethodologyStart) -> None:
    """Start the case's workflow unless it exists: a create retried after a failed start still starts it."""
    await actions.start(
        METHODOLOGY_WORKFLOW, start, id=start.case_id, task_queue=settings.task_queue,
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa.CASE_TYPE, CASE_TYPE), SearchAttributePair(sa.CASE_NUMBER, start.case_id),
            SearchAttributePair(sa.CASE_STAGE, Stage.COMPLETENESS_CHECK.value)]))


@router.post("/methodologies", status_code=201, response_model=MethodologyCaseOut,
             summary="Submit a methodology (applicant) or register one the bureau commissioned")
async def create_methodology(
    body: MethodologyIn,
    session: DbSession,
    user: ApplicantOrBureau,
    actions: Actions,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
):
    content = body.to_content()
    commissioned = user.role == Role.BUREAU_ADMIN

    def create():
        case = methodology.create_case(
            session, applicant_organisation_id=user.organisation_id, commissioned=commissioned,
            created_by_user_id=user.id, content=content, now=datetime.now(timezone.utc))
        documents.attach(session, content.document_ids, case.case_id, user)
        return _case_out(session, case)

    def create_once():
        response = run_once(session, user=user, scope="methodologies", key=idempotency_key,
                            payload=body.model_dump(mode="json"), create=create)
        case = session.get(MethodologyCase, json.loads(response.body)["id"])
        return response, _start_of(case, user.id, user.role, cases.deployment_id(session))

    response, start = await run_in_threadpool(create_once)
    await _ensure_started(actions, settings, start)
    return response


@router.get("/methodologies", response_model=MethodologyCasePage,
            summary="Methodology cases the caller may see, oldest first (keyset pagination)")
def list_methodologies(
    session: DbSession,
    user: CurrentUser,
    stage: Stage | None = None,
    scope: Scope | None = None,
    domain: MethodologyDomain | None = None,
    after: Annotated[int | None, Query(ge=0, description="the `next_after` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
):
    query = select(MethodologyCase).order_by(MethodologyCase.id).limit(limit + 1)
    if Role(user.role) not in AUTHORITIES:
        granted = select(CaseParticipant.case_id).where(
            CaseParticipant.revoked_at.is_(None),
            or_(CaseParticipant.user_id == user.id,
                CaseParticipant.organisation_id == user.organisation_id if user.organisation_id else False))
        own = MethodologyCase.applicant_organisation_id == user.organisation_id if user.organisation_id else False
        query = query.where(or_(own, MethodologyCase.case_id.in_(granted)))
    for column, value in ((MethodologyCase.stage, stage), (MethodologyCase.scope, scope),
                          (MethodologyCase.domain, domain)):
        if value is not None:
            query = query.where(column == value.value)
    if after is not None:
        query = query.where(MethodologyCase.id > after)
    rows = session.scalars(query).all()
    page = rows[:limit]
    return MethodologyCasePage(items=[_case_out(session, c) for c in page],
                               next_after=page[-1].id if len(rows) > limit else None)


@router.get("/methodologies/{case_no}", response_model=MethodologyCaseOut)
def get_methodology(case_no: int, session: DbSession, user: CurrentUser):
    return _case_out(session, _visible_case(session, user, case_no))


async def _act(session: Session, actions: CaseActions, user: User, case: MethodologyCase, name: str,
               arg: Any) -> MethodologyCaseOut:
    await _update(session, actions, case.case_id, name, arg)
    return await actions.read(lambda s: _case_out(s, _visible_case(s, user, case.id)))


@router.post("/methodologies/{case_no}/completeness", response_model=MethodologyCaseOut,
             summary="Bureau: accept the submission as complete (panel review follows) or return it")
async def decide_completeness(case_no: int, body: CompletenessIn, session: DbSession, user: Bureau,
                              actions: Actions):
    case = await run_in_threadpool(_visible_case, session, user, case_no)
    if body.decision == "return" and not (body.reasons or "").strip():
        raise unprocessable("reasons", "required", "returning a submission needs reasons")
    arg = CompletenessDecision(actor=_actor(user), submission_no=case.submission_no, accept=body.decision == "accept",
                               reasons=body.reasons)
    return await _act(session, actions, user, case, UPDATE_COMPLETENESS, arg)


@router.post("/methodologies/{case_no}/resubmission", response_model=MethodologyCaseOut,
             summary="Applicant: resubmit the amended methodology (after a return or a revision request)")
async def resubmit(case_no: int, body: MethodologyResubmissionIn, session: DbSession, user: ApplicantOrBureau,
                   actions: Actions):
    content = body.to_content()

    def check() -> MethodologyCase:
        case = _visible_case(session, user, case_no)
        # The documents are checked first (a dry run, rolled back: attaching holds the audit chain's lock,
        # which the workflow's own audit needs) and attached once the workflow has taken the resubmission.
        documents.attach(session, content.document_ids, case.case_id, user)
        session.rollback()
        return case

    case = await run_in_threadpool(check)
    arg = Resubmission(actor=_actor(user), submission_no=case.submission_no + 1, content=content, note=body.note)
    await _update(session, actions, case.case_id, UPDATE_RESUBMIT, arg)

    def attach_and_answer(s: Session) -> MethodologyCaseOut:
        documents.attach(s, content.document_ids, case.case_id, user)
        s.commit()
        return _case_out(s, _visible_case(s, user, case_no))

    return await actions.read(attach_and_answer)


@router.post("/methodologies/{case_no}/withdrawal", response_model=MethodologyCaseOut,
             summary="Applicant: withdraw the methodology (possible until publication)")
async def withdraw(case_no: int, body: MethodologyWithdrawalIn, session: DbSession, user: ApplicantOrBureau,
                   actions: Actions):
    case = await run_in_threadpool(_visible_case, session, user, case_no)
    return await _act(session, actions, user, case, UPDATE_WITHDRAW, Withdrawal(actor=_actor(user), reason=body.reason))


@router.post("/methodologies/{case_no}/publication", response_model=MethodologyCaseOut,
             summary="Bureau: publish the approved methodology (code and v1 assigned) or reject it")
async def decide_publication(case_no: int, body: PublicationIn, session: DbSession, user: Bureau,
                             actions: Actions):
    if body.decision == "reject" and not (body.reason or "").strip():
        raise unprocessable("reason", "required", "rejecting a methodology needs a reason")
    case = await run_in_threadpool(_visible_case, session, user, case_no)
    return await _act(session, actions, user, case, UPDATE_PUBLICATION,
                      PublicationDecision(actor=_actor(user), publish=body.decision == "publish", reason=body.reason))


# --- re-evaluation ---

@router.post("/methodology-reevaluations", status_code=201, response_model=ReevaluationOut,
             summary="Bureau: open a re-evaluation of a published methodology's current version")
async def open_reevaluation(
    body: ReevaluationIn,
    session: DbSession,
    user: Bureau,
    actions: Actions,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
):
    def open_once() -> tuple[Any, ReevaluationStart]:
        version = methodology.current_version(session, body.code)
        if version is None:
            raise unprocessable("code", "published_current", f"{body.code} has no current published version")

        def create():
            try:
                with session.begin_nested():
                    row = methodology.create_reevaluation(session, version=version, reason=body.reason,
                                                          opened_by_user_id=user.id, now=datetime.now(timezone.utc))
            except IntegrityError:
                raise conflict(f"{body.code} already has an open re-evaluation", field="code",
                               rule="one_open_reevaluation") from None
            return _reevaluation_out(session, row)

        response = run_once(session, user=user, scope="methodology-reevaluations", key=idempotency_key,
                            payload=body.model_dump(mode="json"), create=create)
        row = session.get(MethodologyReevaluation, json.loads(response.body)["id"])
        start = ReevaluationStart(
            case_id=row.case_id, deployment_id=cases.deployment_id(session),
            origin_case_id=version.methodology.origin_case_id, reevaluation_no=row.id,
            methodology_id=row.methodology_id, code=body.code, version_id=row.version_id,
            version_no=version.version_no, owner_organisation_id=version.methodology.owner_organisation_id,
            opened_by=_actor(user), reason=row.reason, current_content=methodology.version_content(version))
        session.commit()
        return response, start

    response, start = await run_in_threadpool(open_once)
    # Also on a replayed request: a start lost after the commit is made good.
    await actions.start(
        REEVALUATION_WORKFLOW, start, id=start.case_id, task_queue=settings.task_queue,
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa.CASE_TYPE, REEVALUATION_CASE_TYPE),
            SearchAttributePair(sa.CASE_NUMBER, start.case_id)]))
    return response


def _visible_reevaluation(session: Session, user: User, no: int) -> MethodologyReevaluation:
    row = session.get(MethodologyReevaluation, no, populate_existing=True)
    if row is None:
        raise not_found(f"re-evaluation {no}")
    owner = session.get(Methodology, row.methodology_id).owner_organisation_id
    if Role(user.role) not in AUTHORITIES and (owner is None or owner != user.organisation_id):
        raise not_found(f"re-evaluation {no}")
    return row


@router.get("/methodology-reevaluations/{no}", response_model=ReevaluationOut)
def get_reevaluation(no: int, session: DbSession, user: CurrentUser):
    return _reevaluation_out(session, _visible_reevaluation(session, user, no))


@router.post("/methodology-reevaluations/{no}/decision", response_model=ReevaluationOut,
             summary="Bureau: confirm the version, publish a revised version, or retire the methodology")
async def decide_reevaluation(no: int, body: ReevaluationDecisionIn, session: DbSession, user: Bureau,
                              actions: Actions):
    def check():
        row = _visible_reevaluation(session, user, no)
        content = None
        if body.outcome == ReevaluationOutcome.REVISE:
            if body.revised is None:
                raise unprocessable("revised", "required", "a revision needs the new version's content")
            content = body.revised.to_content(prefix="revised.")
            m = session.get(Methodology, row.methodology_id)
            if (content.scope.value, content.domain.value) != (m.scope, m.domain):
                raise unprocessable("revised.scope", "unchanged",
                                    "a revision keeps the methodology's scope and domain")
        elif body.revised is not None:
            raise unprocessable("revised", "only_for_revise", "only a revision carries new content")
        return row.case_id, content

    case_id, content = await run_in_threadpool(check)
    await _update(session, actions, case_id, UPDATE_DECIDE_REEVALUATION,
                  ReevaluationDecision(actor=_actor(user), outcome=body.outcome, reason=body.reason, content=content))
    return await actions.read(lambda s: _reevaluation_out(s, _visible_reevaluation(s, user, no)))


# --- public register (no login): published methodologies only, never drafts or reviewers ---

# What the register is made of (api/public.py: cached under these tables' version).
PUBLIC_TABLES = ("methodologies", "methodology_versions", "methodology_behaviours", "documents")

@router.get("/public/methodologies", response_model=list[PublishedMethodologyOut], tags=["public"],
            summary="Published methodologies with their current version", responses=ONE_RESPONSES)
def public_methodologies(request: Request, session: DbSession, scope: Scope | None = None,
                         domain: MethodologyDomain | None = None, include_retired: bool = False):
    return public_answer(request, session, PUBLIC_TABLES,
                         lambda: published_methodologies(session, scope, domain, include_retired))


def published_methodologies(session: Session, scope: Scope | None = None, domain: MethodologyDomain | None = None,
                            include_retired: bool = False) -> list[PublishedMethodologyOut]:
    """The register's content (also the web page's)."""
    query = select(Methodology).order_by(Methodology.code)
    if scope is not None:
        query = query.where(Methodology.scope == scope.value)
    if domain is not None:
        query = query.where(Methodology.domain == domain.value)
    if not include_retired:
        query = query.where(Methodology.status == "active")
    return [_published_out(session, m) for m in session.scalars(query).unique()]


def _published(session: Session, code: str) -> Methodology:
    m = session.scalar(select(Methodology).where(Methodology.code == code))
    if m is None:
        raise not_found(f"published methodology {code}")
    return m


@router.get("/public/methodologies/{code}", response_model=PublishedMethodologyOut, tags=["public"],
            responses=ONE_RESPONSES)
def public_methodology(code: str, request: Request, session: DbSession):
    return public_answer(request, session, PUBLIC_TABLES, lambda: published_methodology(session, code))


def published_methodology(session: Session, code: str) -> PublishedMethodologyOut:
    return _published_out(session, _published(session, code))


@router.get("/public/methodology-documents/{document_id}/content", response_class=FileResponse, tags=["public"],
            summary="Download a document of a published methodology version (no login)")
def public_document(document_id: int, session: DbSession, settings: SettingsDep):
    doc = public_document_row(session, document_id)
    return FileResponse(documents.content_path(settings.documents_dir, doc.sha256), media_type=doc.media_type,
                        filename=doc.filename, headers={"X-Content-Type-Options": "nosniff"})


def public_document_row(session: Session, document_id: int) -> Document:
    """The document if a published version lists it; drafts' documents stay private (404 alike)."""
    doc = session.get(Document, document_id)
    if doc is None or not methodology.published_document(session, document_id):
        raise not_found(f"published document {document_id}")
    return doc


@router.get("/public/methodologies/{code}/versions/{version_no}", response_model=VersionOut, tags=["public"],
            responses=ONE_RESPONSES)
def public_version(code: str, version_no: int, request: Request, session: DbSession):
    return public_answer(request, session, PUBLIC_TABLES, lambda: published_version(session, code, version_no))


def published_version(session: Session, code: str, version_no: int) -> VersionOut:
    v = methodology.version(session, code, version_no)
    if v is None:
        raise not_found(f"{code} {version_label(version_no)}")
    return _version_out(v)
