"""The expert's pages: inbox of open review tasks (due in working days, reminders, overdue marks), the
task page (the case's documents, criteria and score form, approve / revise / reject, recusal) and the
history of decided tasks. Reads and actions are the review API's own functions (api/routes/reviews.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from api.case_actions import CaseActions
from api.deps import DbSession, get_temporal
from api.errors import Problem
from api.routes import reviews
from api.schemas.review import ReviewDecisionIn, RecusalIn
from domain.clock import now_utc
from domain.roles import Role
from store import calendar, documents
from store.models.documents import Document
from store.models.identity import User
from store.models.review import ReviewTaskRow
from web.auth import roles_page
from web.pages.common import body, form_of, page_router, see_other, text
from web.pages.public import working_days_left
from web.render import render

router = page_router()
ExpertUser = Annotated[User, Depends(roles_page(Role.EXPERT))]


def case_documents(session, user: User, case_id: str) -> list[Document]:
    """The case's documents this user may download (the documents API's rule)."""
    rows = session.scalars(select(Document).where(Document.case_id == case_id).order_by(Document.id))
    return [d for d in rows if documents.may_download(session, user, d)]


@router.get("/expert/tasks")
def inbox(request: Request, session: DbSession, user: ExpertUser, show: str = "open"):
    done = show == "done"
    tasks = reviews.list_review_tasks(session, user, status="done" if done else "open", limit=200, offset=0)
    rows = {t.task_id: t for t in session.scalars(
        select(ReviewTaskRow).where(ReviewTaskRow.task_id.in_([t.task_id for t in tasks])))}
    now, cal = now_utc(), calendar.current(session)
    left = {t.task_id: working_days_left(cal, now, t.due) for t in tasks}
    reminded = {t.task_id: rows[t.task_id].reminded_at is not None or (
        rows[t.task_id].remind_at is not None and rows[t.task_id].remind_at <= now) for t in tasks}
    return render(request, "expert/inbox.html", {"tasks": tasks, "done": done, "left": left, "reminded": reminded})


def _task_page(request: Request, session, user: User, task_id: str, *, error: Problem | None = None,
               values: dict | None = None, status: int = 200):
    task, review = reviews._own_task(session, user, task_id)
    now = now_utc()
    return render(request, "expert/task.html", {
        "task": task, "review": review, "documents": case_documents(session, user, review.case_id),
        "left": working_days_left(calendar.current(session), now, task.due),
        "overdue": task.overdue_at is not None and task.status == "open", "error": error,
        "values": values or {}}, status=status)


@router.get("/expert/tasks/{task_id}")
def task_page(request: Request, task_id: str, session: DbSession, user: ExpertUser):
    return _task_page(request, session, user, task_id)


@router.post("/expert/tasks/{task_id}/decision")
async def decide(request: Request, task_id: str, session: DbSession, user: ExpertUser):
    form = await form_of(request)
    scores = {k.removeprefix("score."): v.strip() for k, v in form.items() if k.startswith("score.")}
    values = {"vote": text(form, "vote"), "comments": text(form, "comments"), "scores": scores}
    try:
        parsed = body(ReviewDecisionIn, vote=values["vote"] or None, comments=values["comments"],
                      scores={k: v for k, v in scores.items() if v != ""})
        await reviews.submit_decision(task_id, parsed, session, user, CaseActions(request, await get_temporal(request)))
    except Problem as problem:
        session.rollback()
        return await run_in_threadpool(_task_page, request, session, user, task_id, error=problem, values=values,
                                       status=problem.status)
    return see_other(f"/expert/tasks/{task_id}")


@router.post("/expert/tasks/{task_id}/recusal")
async def recuse(request: Request, task_id: str, session: DbSession, user: ExpertUser):
    form = await form_of(request)
    try:
        await reviews.recuse(task_id, body(RecusalIn, reason=text(form, "reason")), session, user,
                             CaseActions(request, await get_temporal(request)))
    except Problem as problem:
        session.rollback()
        return await run_in_threadpool(_task_page, request, session, user, task_id, error=problem,
                                       values={"reason": text(form, "reason")}, status=problem.status)
    return see_other(f"/expert/tasks/{task_id}")
