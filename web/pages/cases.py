"""One case's page, for every person who may see the case: its stage and what it waits for, documents,
objections, review panels; for the authorities also the stage timeline (the audit trail), open tasks
and deadlines (the case's state query) and a link to its workflow in the Temporal UI. The actions the
person's role may take at the case's stage are forms; each calls the API route of that action, so the
same role checks, validators and workflow updates decide.

Who may open a case is the process API's own visibility rule (`_visible_case` of each area): anyone
else gets the 404 page, never a hint that the case exists.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from temporalio.client import Client
from temporalio.service import RPCError

from api.case_actions import CaseActions
from api.deps import DbSession, check_roles, get_temporal
from api.errors import Problem, not_found
from api.routes import cancellations, issuance, methodologies, reviews, scenarios, workflows_admin
from api.schemas.issuance import (
    AmendmentIn,
    ApplicationIn,
    CommentsIn,
    CommissionIn,
    IssuanceDecisionIn,
    ObjectionAnswerIn,
    RulingIn,
    VerificationReportIn,
    VerifierResponseIn,
)
from api.schemas.ledger import CancellationDecisionIn
from api.schemas.methodology import CompletenessIn, MethodologyWithdrawalIn, PublicationIn, ReevaluationDecisionIn
from api.schemas.review import PanelIn, ReplacementIn
from api.schemas.scenarios import ScenarioDecisionIn, ScenarioWithdrawalIn
from domain.clock import now_utc
from domain.contracts import cancellation as cancellation_contract
from domain.rules import Refusal
from domain.review import conflict_reasons
from domain.roles import AUTHORITIES, Role
from store import audit
from store.models.cases import Case
from store.models.identity import Organisation, User
from store.models.ledger import Cancellation
from store.models.methodology import MethodologyCase, MethodologyReevaluation
from store.models.review import Expert, Review
from web.auth import signed_in
from web.pages.common import as_problem, body, form_of, page_router, see_other, text
from web.pages.expert import case_documents
from web.render import render

log = logging.getLogger(__name__)
router = page_router()
Person = Annotated[User, Depends(signed_in)]

BUREAU, OPERATOR = frozenset({Role.BUREAU_ADMIN}), frozenset({Role.OPERATOR_ADMIN})
AUTHORITY, APPLICANT, VERIFIER = frozenset(AUTHORITIES), frozenset({Role.APPLICANT}), frozenset({Role.VERIFIER})


def _methodology_case(session, user: User, case_id: str) -> MethodologyCase:
    row = session.scalar(select(MethodologyCase).where(MethodologyCase.case_id == case_id))
    if row is None:
        raise not_found(f"case {case_id}")
    return methodologies._visible_case(session, user, row.id)


def methodology_case_out(session, user: User, case_id: str):
    """The methodology case as the API answers it, if this user may see it (else 404)."""
    return methodologies._case_out(session, _methodology_case(session, user, case_id))


def reevaluation_row(session, user: User, case_id: str) -> MethodologyReevaluation:
    """A re-evaluation case if the API lets this user see it (authorities, the owner), else 404."""
    no = session.scalar(select(MethodologyReevaluation.id).where(MethodologyReevaluation.case_id == case_id))
    if no is None:
        raise not_found(f"case {case_id}")
    return methodologies._visible_reevaluation(session, user, no)


def cancellation_row(session, user: User, case_id: str) -> Cancellation:
    """A cancellation if the API lets this user see it (the holder's people, authorities), else 404."""
    prefix = cancellation_contract.case_id(0)[:-1]
    number = case_id.removeprefix(prefix)
    if not case_id.startswith(prefix) or not number.isdigit() or len(number) > 18:
        raise not_found(f"case {case_id}")
    return cancellations._visible(session, user, int(number))[0]


def visible_case(session, user: User, case_id: str) -> Case:
    """The case register row if the process API lets this user see the case, else 404."""
    case = session.get(Case, case_id)
    if case is None:
        raise not_found(f"case {case_id}")
    match case.case_type:
        case "methodology":
            _methodology_case(session, user, case_id)
        case "issuance":
            issuance._visible_case(session, user, case_id)
        case "scenario":
            scenarios._visible_case(session, user, case_id)
        case "methodology_reevaluation":
            reevaluation_row(session, user, case_id)
        case "cancellation":
            cancellation_row(session, user, case_id)
        case _:
            if Role(user.role) not in AUTHORITIES:
                raise not_found(f"case {case_id}")
    return case


def _panel_choices(session, review: Review) -> list[dict[str, Any]]:
    """Every roster expert with the reasons (SPEC §2.1 conflict rules) that bar them from this panel."""
    roster = list(session.scalars(select(Expert).order_by(Expert.name)))
    names = dict(session.execute(select(Organisation.id, Organisation.name).where(
        Organisation.id.in_({e.affiliation_organisation_id for e in roster} - {None}))).all())
    out = []
    for e in roster:
        out.append({"id": e.id, "name": e.name, "affiliation": names.get(e.affiliation_organisation_id),
                    "expertise": e.expertise, "reasons": conflict_reasons(
                        affiliation_organisation_id=e.affiliation_organisation_id,
                        declared_conflict_organisation_ids=e.declared_conflict_organisation_ids, active=e.active,
                        applicant_organisation_id=review.applicant_organisation_id,
                        verifier_organisation_id=review.verifier_organisation_id)})
    return out


async def _view(request: Request, session, user: User, case_id: str) -> dict[str, Any]:
    """Everything the page shows; database reads finish (and release the connection) before Temporal is asked."""
    role = Role(user.role)
    client: Client | None = getattr(request.app.state, "temporal", None)

    def reads() -> dict[str, Any]:
        case = visible_case(session, user, case_id)
        ctx: dict[str, Any] = {"case": case, "role": role.value, "process": None, "objections": [],
                               "reviews": [], "panel_choices": {}, "trail": [], "orgs": {}}
        if case.case_type == "methodology":
            ctx["process"] = methodology_case_out(session, user, case_id)
        elif case.case_type == "methodology_reevaluation":
            row = reevaluation_row(session, user, case_id)
            ctx["process"] = methodologies._reevaluation_out(session, row)
            # The version under re-evaluation (public): a revision starts from its content.
            ctx["under_review"] = methodologies.published_version(session, ctx["process"].code,
                                                                  ctx["process"].version_no)
            ctx["methodology"] = methodologies.published_methodology(session, ctx["process"].code)
        elif case.case_type == "cancellation":
            # The API's answer, with the case register's stage (the page's stage line reads it).
            ctx["process"] = {**cancellations._out(session, cancellation_row(session, user, case_id)),
                              "stage": case.stage}
        elif case.case_type == "issuance":
            row = issuance._visible_case(session, user, case_id)
            ctx["process"] = issuance._case_out(session, row, None)
            if role != Role.VERIFIER:
                ctx["objections"] = issuance.list_objections(case_id, session, user)
            if role == Role.APPLICANT and case.stage == "verifier_declined":
                from web.pages.applicant import accredited_verifiers

                ctx["verifiers"] = accredited_verifiers(session)
        ctx["documents"] = case_documents(session, user, case_id)
        for r in session.scalars(select(Review).where(Review.case_id == case_id).order_by(Review.round_no)):
            if r.authority_role == role.value:
                ctx["reviews"].append(reviews._review_view(session, r.review_id))
                if r.stage in ("awaiting_panel", "awaiting_replacement", "in_review"):
                    ctx["panel_choices"][r.review_id] = _panel_choices(session, r)
        if role in AUTHORITIES:
            ctx["trail"] = audit.trail(session, case_id)
        session.rollback()
        return ctx

    ctx = await run_in_threadpool(reads)
    ctx["state"], ctx["detail"] = None, None
    if client is not None:
        actions = CaseActions(request, client)  # the API's own waits: bounded, no connection held
        try:
            if ctx["case"].case_type == "issuance":
                ctx["state"] = (await issuance._state(actions, case_id))
            elif ctx["case"].case_type == "scenario":
                ctx["process"] = await scenarios.get_case(case_id, session, user, actions)
            if role in AUTHORITIES:
                ctx["detail"] = await workflows_admin.describe_case(user, actions, case_id, history_limit=1)
        except (Problem, RPCError) as exc:  # the page shows what the database knows
            log.info("case %s: live state not read: %s", case_id, exc)
        session.rollback()
    settings = request.app.state.settings
    ctx["temporal_ui"] = (f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}"
                          f"/workflows/{case_id}") if settings.temporal_ui_url and role in AUTHORITIES else None
    ctx["now"] = now_utc()
    return ctx


async def _page(request: Request, session, user: User, case_id: str, *, error: Problem | None = None,
                status: int = 200):
    ctx = await _view(request, session, user, case_id)
    return render(request, "case.html", {**ctx, "error": error}, status=status)


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: str, session: DbSession, user: Person):
    return await _page(request, session, user, case_id)


async def _act(request: Request, session, user: User, case_id: str, roles: frozenset[Role],
               action: Callable[[dict[str, str], CaseActions], Awaitable[Any]]):
    """Run one action of the case page: the API's role check, then the API route itself; a refusal is
    shown on the case page with its status, a success returns to the case page (POST-redirect-GET)."""
    form = await form_of(request)
    try:
        check_roles(user, roles)
        await run_in_threadpool(visible_case, session, user, case_id)
        session.rollback()
        await action(form, CaseActions(request, await get_temporal(request)))
    except (Problem, Refusal) as refused:
        session.rollback()
        problem = as_problem(refused)
        if problem.status == 404:
            raise
        return await _page(request, session, user, case_id, error=problem, status=problem.status)
    return see_other(f"/cases/{case_id}")


def _case_no(session, user, case_id: str) -> int:
    return _methodology_case(session, user, case_id).id


# --- methodology (SPEC §2.2) ---

@router.post("/cases/{case_id}/methodology/completeness")
async def methodology_completeness(request: Request, case_id: str, session: DbSession, user: Person):
    async def act(form, client):
        await methodologies.decide_completeness(
            _case_no(session, user, case_id), body(CompletenessIn, decision=text(form, "decision"),
                                                   reasons=text(form, "reasons") or None), session, user, client)
    return await _act(request, session, user, case_id, BUREAU, act)


@router.post("/cases/{case_id}/methodology/publication")
async def methodology_publication(request: Request, case_id: str, session: DbSession, user: Person):
    async def act(form, client):
        await methodologies.decide_publication(
            _case_no(session, user, case_id), body(PublicationIn, decision=text(form, "decision"),
                                                   reason=text(form, "reason") or None), session, user, client)
    return await _act(request, session, user, case_id, BUREAU, act)


@router.post("/cases/{case_id}/methodology/withdrawal")
async def methodology_withdrawal(request: Request, case_id: str, session: DbSession, user: Person):
    async def act(form, client):
        await methodologies.withdraw(_case_no(session, user, case_id),
                                     body(MethodologyWithdrawalIn, reason=text(form, "reason") or None), session, user, client)
    return await _act(request, session, user, case_id, frozenset({Role.APPLICANT, Role.BUREAU_ADMIN}), act)


# --- cancellation (Art. 29): the operator confirms or rejects ---

@router.post("/cases/{case_id}/cancellation/decision")
async def cancellation_decision(request: Request, case_id: str, session: DbSession, user: Person):
    async def act(form, client):
        x = await run_in_threadpool(cancellation_row, session, user, case_id)
        session.rollback()
        if text(form, "decision") == "confirm":
            await cancellations.confirm(x.id, session, user, client)
        else:
            await cancellations.reject(x.id, body(CancellationDecisionIn, reason=text(form, "reason") or None),
                                       session, user, client)
    return await _act(request, session, user, case_id, OPERATOR, act)


# --- re-evaluation of a published methodology (SPEC §2.2, Art. 11) ---

@router.post("/cases/{case_id}/reevaluation/decision")
async def reevaluation_decision(request: Request, case_id: str, session: DbSession, user: Person):
    async def act(form, client):
        from web.pages.applicant import behaviour_rows

        no = (await run_in_threadpool(reevaluation_row, session, user, case_id)).id
        outcome = text(form, "outcome")
        revised = None
        if outcome == "revise":  # the new version's content; scope and domain stay the methodology's
            revised = {"title": text(form, "title"), "scope": text(form, "scope") or None,
                       "domain": text(form, "domain") or None, "summary": text(form, "summary"),
                       "behaviours": behaviour_rows(text(form, "behaviours"))}
        session.rollback()
        await methodologies.decide_reevaluation(no, body(ReevaluationDecisionIn, outcome=outcome or None,
                                                         reason=text(form, "reason"), revised=revised),
                                                session, user, client)
    return await _act(request, session, user, case_id, BUREAU, act)


# --- issuance (SPEC §2.4) ---

@router.post("/cases/{case_id}/issuance/verifier-response")
async def issuance_verifier_response(request: Request, case_id: str, session: DbSession, user: Person):
    async def act(form, client):
        await issuance.verifier_response(case_id, body(VerifierResponseIn, accept=text(form, "accept") == "yes",
                                                       reason=text(form, "reason")), session, user, client)
    return await _act(request, session, user, case_id, VERIFIER, act)


@router.post("/cases/{case_id}/issuance/verification-report")
async def issuance_verification_report(request: Request, case_id: str, session: DbSession, user: Person):
    async def act(form, client):
        from web.pages.applicant import upload  # the documents API's checks (type, size, content-addressed)

        parsed = body(VerificationReportIn, verified_tco2e=text(form, "verified_tco2e") or None,
                      conclusion=text(form, "conclusion"))
        parsed.document_ids = await upload(request, session, user, request.app.state.settings)
        await issuance.file_verification_report(case_id, parsed, session, user, client)
    return await _act(request, session, user, case_id, VERIFIER, act)


@router.post("/cases/{case_id}/issuance/correction-request")
async def issuance_correction_request(request: Request, case_id: str, session: DbSession, user: Person):
    async def act(form, client):
        await issuance.request_corrections(case_id, body(CommentsIn, comments=text(form, "comments")),
                                           session, user, client)
    return await _act(request, session, user, case_id, VERIFIER, act)


@router.post("/cases/{case_id}/issuance/amendment")
async def issuance_amendment(request: Request, case_id: str, session: DbSession, user: Person):
    async def act(form, client):
        from web.pages.applicant import upload

        parsed = body(AmendmentIn, claimed_tco2e=text(form, "claimed_tco2e") or None,
                      benefit_sharing=text(form, "benefit_sharing") or None, comments=text(form, "comments"))
        parsed.document_ids = await upload(request, session, user, request.app.state.settings)
        await issuance.amend_report(case_id, parsed, session, user, client)
    return await _act(request, session, user, case_id, APPLICANT, act)


@router.post("/cases/{case_id}/issuance/verifier")
async def issuance_commission_verifier(request: Request, case_id: str, session: DbSession, user: Person):
    async def act(form, client):
        chosen = text(form, "verifier_organisation_id")
        await issuance.commission_verifier(case_id, body(CommissionIn, verifier_organisation_id=chosen or None),
                                           session, user, client)
    return await _act(request, session, user, case_id, APPLICANT, act)


@router.post("/cases/{case_id}/issuance/application")
async def issuance_application(request: Request, case_id: str, session: DbSession, user: Person):
    async def act(form, client):
        await issuance.submit_application(case_id, body(ApplicationIn, statement=text(form, "statement")),
                                          session, user, client)
    return await _act(request, session, user, case_id, APPLICANT, act)


@router.post("/cases/{case_id}/issuance/objections/{objection_id}/answer")
async def issuance_answer(request: Request, case_id: str, objection_id: int, session: DbSession, user: Person):
    async def act(form, client):
        await issuance.answer_objection(case_id, objection_id, body(ObjectionAnswerIn, answer=text(form, "answer")),
                                        session, user, client)
    return await _act(request, session, user, case_id, APPLICANT, act)


@router.post("/cases/{case_id}/issuance/objections/{objection_id}/ruling")
async def issuance_ruling(request: Request, case_id: str, objection_id: int, session: DbSession, user: Person):
    async def act(form, client):
        await issuance.rule_objection(case_id, objection_id, body(
            RulingIn, upheld=text(form, "upheld") == "yes", reason=text(form, "reason")), session, user, client)
    return await _act(request, session, user, case_id, BUREAU, act)


@router.post("/cases/{case_id}/issuance/decision")
async def issuance_decision(request: Request, case_id: str, session: DbSession, user: Person):
    async def act(form, client):
        await issuance.decide(case_id, body(IssuanceDecisionIn, publish=text(form, "decision") == "publish",
                                            reason=text(form, "reason")), session, user, client)
    return await _act(request, session, user, case_id, BUREAU, act)


@router.post("/cases/{case_id}/issuance/issuance")
async def issuance_issue(request: Request, case_id: str, session: DbSession, user: Person):
    async def act(form, client):
        await issuance.issue(case_id, session, user, client)
    return await _act(request, session, user, case_id, OPERATOR, act)


# --- scenario (SPEC §2.3) ---

@router.post("/cases/{case_id}/scenario/decision")
async def scenario_decision(request: Request, case_id: str, session: DbSession, user: Person):
    async def act(form, client):
        await scenarios.decide(case_id, body(ScenarioDecisionIn, decision=text(form, "decision"),
                                             reasons=text(form, "reasons")), session, user, client)
    return await _act(request, session, user, case_id, OPERATOR, act)


@router.post("/cases/{case_id}/scenario/withdrawal")
async def scenario_withdrawal(request: Request, case_id: str, session: DbSession, user: Person):
    async def act(form, client):
        await scenarios.withdraw(case_id, body(ScenarioWithdrawalIn, reason=text(form, "reason")), session, user,
                                 client)
    return await _act(request, session, user, case_id, APPLICANT, act)


# --- the expert panel (SPEC §2.1) ---

def _review_of_case(session, case_id: str, review_id: str) -> None:
    r = session.get(Review, review_id)
    if r is None or r.case_id != case_id:
        raise not_found(f"review {review_id}")


@router.post("/cases/{case_id}/reviews/{review_id}/panel")
async def form_panel(request: Request, case_id: str, review_id: str, session: DbSession, user: Person):
    async def act(form, client):
        _review_of_case(session, case_id, review_id)
        ids = [int(v) for k, v in (await request.form()).multi_items() if k == "expert_id" and str(v).isdigit()]
        await reviews.form_panel(review_id, body(PanelIn, expert_ids=ids), session, user, client)
    return await _act(request, session, user, case_id, AUTHORITY, act)


@router.post("/cases/{case_id}/reviews/{review_id}/tasks/{task_id}/replacement")
async def replace_expert(request: Request, case_id: str, review_id: str, task_id: str, session: DbSession,
                         user: Person):
    async def act(form, client):
        _review_of_case(session, case_id, review_id)
        expert = text(form, "expert_id")
        await reviews.replace_expert(review_id, task_id, body(ReplacementIn, expert_id=expert or None),
                                     session, user, client)
    return await _act(request, session, user, case_id, AUTHORITY, act)
