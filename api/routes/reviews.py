"""Expert panel reviews (SPEC §2.1): the authority forms and amends the panel; each expert lists
their own review tasks and decides or recuses. Human actions are updates on the PanelReview
workflow, sent with deterministic update ids; refusals become 403/404/409/422."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.case_actions import Actions, CaseActions
from api.deps import Authority, CurrentUser, DbSession, Expert
from api.errors import conflict, forbidden, not_found
from api.schemas.review import (
    ReviewDecisionIn,
    DecisionOut,
    DecisionReceipt,
    ExpertTaskOut,
    PanelIn,
    RecusalIn,
    RecusalReceipt,
    ReplacementIn,
    ReviewForApplicant,
    ReviewOut,
    TaskOut,
)
from domain.review import (
    PanelCheck,
    ReviewStage,
    TaskStatus,
    decide_update_id,
    form_panel_update_id,
    recuse_update_id,
    replace_update_id,
)
from domain.contracts.review import (
    UPDATE_DECIDE,
    UPDATE_FORM_PANEL,
    UPDATE_RECUSE,
    UPDATE_REPLACE_EXPERT,
    ExpertDecision,
    FormPanel,
    Recusal,
    ReplaceExpert,
    SubmitDecision,
)
from domain.roles import Role
from domain.rules import Refusal
from store import review as store
from store.models.identity import User
from store.models.review import Expert as ExpertRow
from store.models.review import Review, ReviewTaskRow

router = APIRouter(tags=["reviews"])

_TITLES = {403: "Forbidden", 404: "Not found", 409: "Conflict", 422: "Unprocessable request"}


# --- reads and checks (sync, run in the thread pool) ------------------------------------------------

def _decision(t: ReviewTaskRow) -> DecisionOut | None:
    if t.status != TaskStatus.DECIDED:
        return None
    return DecisionOut(vote=t.vote, comments=t.comments, scores=t.scores, decided_at=t.decided_at)


def _review_view(session: Session, review_id: str) -> ReviewOut:
    r = session.get(Review, review_id, populate_existing=True)
    tasks = store.tasks_of_review(session, review_id)
    names = dict(session.execute(select(ExpertRow.id, ExpertRow.name)
                                 .where(ExpertRow.id.in_([t.expert_id for t in tasks]))).all())
    seated = [t for t in tasks if t.status in (TaskStatus.OPEN, TaskStatus.DECIDED)]
    return ReviewOut(
        review_id=r.review_id, case_id=r.case_id, case_type=r.case_type, round_no=r.round_no, subject=r.subject,
        authority_role=r.authority_role, stage=r.stage, outcome=r.outcome,
        mean_score_hundredths=r.mean_score_hundredths,
        panel=[{"expert_id": t.expert_id, "name": names[t.expert_id]} for t in seated],
        tasks=[TaskOut(task_id=t.task_id, expert_id=t.expert_id, status=t.status, assigned_at=t.assigned_at,
                       due=t.due, due_provisional=t.due_provisional, remind_at=t.remind_at,
                       reminded_at=t.reminded_at, overdue=t.overdue_at is not None and t.status == TaskStatus.OPEN,
                       overdue_at=t.overdue_at, decision=_decision(t), recusal_reason=t.recusal_reason,
                       replaced_by_task_id=t.replaced_by_task_id) for t in tasks])


def _authority_review(session: Session, user: User, review_id: str) -> Review:
    r = session.get(Review, review_id)
    if r is None:
        raise not_found(f"review {review_id}")
    if user.role != r.authority_role:
        raise forbidden(f"review {review_id} is conducted by the {r.authority_role}, not the {user.role}")
    return r


def _precheck_panel(session: Session, r: Review, expert_ids: list[int], field: str) -> None:
    """The roster check the workflow repeats, done first so a refusal costs no workflow history."""
    try:
        store.panel_members(session, PanelCheck(
            review_id=r.review_id, expert_ids=expert_ids, applicant_organisation_id=r.applicant_organisation_id,
            verifier_organisation_id=r.verifier_organisation_id))
    except Refusal as refused:
        refused.field = field  # the field of this request that named the experts
        raise


def _own_task(session: Session, user: User, task_id: str) -> tuple[ReviewTaskRow, Review]:
    """The caller's own task; any other task is invisible (404), not merely forbidden."""
    task = session.get(ReviewTaskRow, task_id, populate_existing=True)
    expert = store.expert_for_user(session, user.id)
    if task is None or expert is None or task.expert_id != expert.id:
        raise not_found(f"review task {task_id}")
    return task, session.get(Review, task.review_id)


# --- sending updates ---------------------------------------------------------------------------------

async def _update(actions: CaseActions, review_id: str, name: str, arg: Any, update_id: str,
                  result_type: type | None = None) -> Any:
    return await actions.update(review_id, name, arg, update_id=update_id, result_type=result_type)


# --- the authority -----------------------------------------------------------------------------------

@router.get("/reviews/{review_id}", response_model=ReviewOut | ReviewForApplicant,
            summary="A review: the full panel for its authority, the outcome only for the applicant")
def get_review(review_id: str, session: DbSession, user: CurrentUser):
    r = session.get(Review, review_id)
    role = Role(user.role)
    if r is not None and role == Role.APPLICANT and user.organisation_id == r.applicant_organisation_id:
        ended = r.stage == ReviewStage.COMPLETED
        decided = [t for t in store.tasks_of_review(session, review_id) if t.status == TaskStatus.DECIDED]
        return ReviewForApplicant(review_id=r.review_id, case_id=r.case_id, stage=r.stage,
                                  outcome=r.outcome if ended else None,
                                  mean_score_hundredths=r.mean_score_hundredths if ended else None,
                                  decisions=[_decision(t) for t in decided] if ended else [])
    if r is None or role == Role.APPLICANT:
        raise not_found(f"review {review_id}")
    _authority_review(session, user, review_id)
    return _review_view(session, review_id)


@router.post("/reviews/{review_id}/panel", response_model=ReviewOut, summary="Form the panel (the authority)")
async def form_panel(review_id: str, body: PanelIn, session: DbSession, user: Authority, actions: Actions):
    def check() -> None:
        r = _authority_review(session, user, review_id)
        _precheck_panel(session, r, body.expert_ids, "expert_ids")

    await run_in_threadpool(check)
    await _update(actions, review_id, UPDATE_FORM_PANEL, FormPanel(actor_user_id=user.id, expert_ids=body.expert_ids),
                  form_panel_update_id(review_id, body.expert_ids), list[str])
    return await actions.read(_review_view, review_id)


@router.post("/reviews/{review_id}/tasks/{task_id}/replacement", response_model=ReviewOut,
             summary="Replace the expert of a recused or overdue task (the authority)")
async def replace_expert(review_id: str, task_id: str, body: ReplacementIn, session: DbSession, user: Authority,
                         actions: Actions):
    def check() -> None:
        r = _authority_review(session, user, review_id)
        task = session.get(ReviewTaskRow, task_id)
        if task is None or task.review_id != review_id:
            raise not_found(f"review task {task_id}")
        _precheck_panel(session, r, [body.expert_id], "expert_id")

    await run_in_threadpool(check)
    await _update(actions, review_id, UPDATE_REPLACE_EXPERT,
                  ReplaceExpert(task_id=task_id, actor_user_id=user.id, new_expert_id=body.expert_id),
                  replace_update_id(task_id, body.expert_id), str)
    return await actions.read(_review_view, review_id)


# --- the expert --------------------------------------------------------------------------------------

@router.get("/review-tasks", response_model=list[ExpertTaskOut], summary="The caller's own review tasks")
def list_review_tasks(session: DbSession, user: Expert, status: Literal["open", "done"] = "open",
                      limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0)] = 0):
    expert = store.expert_for_user(session, user.id)
    if expert is None:
        return []
    return [ExpertTaskOut(task_id=t.task_id, review_id=r.review_id, case_id=r.case_id, case_type=r.case_type,
                          subject=r.subject, criteria=r.criteria, due=t.due,
                          overdue=t.overdue_at is not None and t.status == TaskStatus.OPEN, status=t.status,
                          decision=_decision(t))
            for t, r in store.tasks_of_expert(session, expert.id, done=status == "done", limit=limit, offset=offset)]


def _same(task: ReviewTaskRow, body: ReviewDecisionIn) -> bool:
    return (task.vote, task.comments, task.scores) == (body.vote.value, body.comments, body.scores)


@router.post("/review-tasks/{task_id}/decision", response_model=DecisionReceipt,
             summary="Submit the decision on one's own task (final; the same decision again is harmless)")
async def submit_decision(task_id: str, body: ReviewDecisionIn, session: DbSession, user: Expert, actions: Actions):
    task, r = await run_in_threadpool(_own_task, session, user, task_id)
    if task.status == TaskStatus.DECIDED:
        if not _same(task, body):
            raise conflict("a different decision on this task is already submitted; decisions are final")
        return DecisionReceipt(task_id=task_id, review_id=r.review_id, **_decision(task).model_dump())
    if task.status != TaskStatus.OPEN:
        raise conflict(f"review task {task_id} is {task.status}")
    stored: ExpertDecision = await _update(
        actions, r.review_id, UPDATE_DECIDE,
        SubmitDecision(task_id=task_id, actor_user_id=user.id, vote=body.vote, comments=body.comments,
                       scores=body.scores), decide_update_id(task_id), ExpertDecision)
    if (stored.vote, stored.comments, stored.scores) != (body.vote, body.comments, body.scores):
        # A concurrent different decision (same update id) won the race.
        raise conflict("a different decision on this task is already submitted; decisions are final")
    return DecisionReceipt(task_id=task_id, review_id=r.review_id, vote=stored.vote, comments=stored.comments,
                           scores=stored.scores, decided_at=stored.decided_at)


@router.post("/review-tasks/{task_id}/recusal", response_model=RecusalReceipt,
             summary="Recuse from one's own open task, with a reason (conflict of interest)")
async def recuse(task_id: str, body: RecusalIn, session: DbSession, user: Expert, actions: Actions):
    task, r = await run_in_threadpool(_own_task, session, user, task_id)
    if task.status == TaskStatus.RECUSED:  # a repeated recusal changes nothing
        return RecusalReceipt(task_id=task_id, review_id=r.review_id, status=task.status, reason=task.recusal_reason)
    if task.status != TaskStatus.OPEN:
        raise conflict(f"review task {task_id} is {task.status}")
    await _update(actions, r.review_id, UPDATE_RECUSE, Recusal(task_id=task_id, actor_user_id=user.id,
                                                              reason=body.reason), recuse_update_id(task_id), str)
    return RecusalReceipt(task_id=task_id, review_id=r.review_id, status=TaskStatus.RECUSED, reason=body.reason)
