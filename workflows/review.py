"""PanelReview: the expert panel review every process runs as a child workflow (SPEC §2.1;
Art. 5, 11, 14, 21).

The authority forms a panel (conflicts excluded by a roster activity); each expert gets a review
task with a working-day deadline, a reminder before it and an overdue escalation to the authority;
an expert may recuse, and the authority names a replacement (also for an overdue task). When every
seat has a decision, the panel outcome (simple majority, else revise) goes back to the parent.
The review id is this workflow's id, `review_workflow_id(case_id, round_no)` by contract.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.contracts.audit import RECORD_AUDIT, AuditRecord
    from domain.contracts.calendar import COMPUTE_DEADLINE, Deadline, DeadlineRequest
    from domain.contracts.cases import (
        CASE_STATE_QUERY,
        GRANT_CASE_ACCESS,
        MIRROR_CASE,
        CaseAccessGrant,
        CaseMirror,
        CaseView,
        OpenTask,
    )
    from domain.contracts.notifications import NOTIFY, Notification
    from domain.contracts.panel import (
        CHECK_PANEL,
        MIRROR_REVIEW,
        REFUSAL_STATUS,
        PanelCheck,
        PanelMember,
        Refusal,
        ReviewMirror,
        ReviewStage,
        ReviewTask,
        TaskStatus,
    )
    from domain.contracts.review import (
        REVIEW_WORKFLOW,
        UPDATE_DECIDE,
        UPDATE_FORM_PANEL,
        UPDATE_RECUSE,
        UPDATE_REPLACE_EXPERT,
        ExpertDecision,
        FormPanel,
        Recusal,
        ReplaceExpert,
        ReviewOutcome,
        ReviewRequest,
        SubmitDecision,
    )
    from domain.review_rules import mean_score_hundredths, panel_outcome, score_problems
    from workflows import search_attributes as sa

CASE_TYPE = "review"
# Patch id: cases started before it escalate a provisional task deadline without asking again.
RECHECK_PROVISIONAL_DUE = "review-recheck-provisional-due"
_ACTIVITY = {"start_to_close_timeout": timedelta(seconds=30),
             "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1))}


def _refuse(kind: Refusal, message: str, *, field: str | None = None, rule: str | None = None) -> ApplicationError:
    details = [{"field": field, "rule": rule or "invalid"}] if field else []
    return ApplicationError(message, *details, type=kind.value, non_retryable=True)


@workflow.defn(name=REVIEW_WORKFLOW)
class PanelReview:
    @workflow.init
    def __init__(self, req: ReviewRequest) -> None:
        self._req = req
        self._review_id = workflow.info().workflow_id
        self._stage = ReviewStage.AWAITING_PANEL
        self._tasks: list[ReviewTask] = []
        self._revision = 0  # orders mirror snapshots and names audit events
        self._version = 0  # bumped by every handler that changes tasks: the main loop re-plans timers
        self._outcome: ReviewOutcome | None = None
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, req: ReviewRequest) -> ReviewOutcome:
        async with self._lock:
            await self._changed("review.started", details={"case_id": req.case_id, "round_no": req.round_no})
        try:
            while not self._complete():
                await self._wait_for_change_or_timer()
                async with self._lock:
                    await self._fire_timers()
        except asyncio.CancelledError:
            await self._cancelled()
            raise
        async with self._lock:
            decided = [t for t in self._tasks if t.status == TaskStatus.DECIDED]
            decisions = [self._decision_of(t) for t in decided]
            self._outcome = ReviewOutcome(
                review_id=self._review_id,
                outcome=panel_outcome([d.vote for d in decisions]),
                decisions=decisions,
                mean_score_hundredths=mean_score_hundredths([sum(d.scores.values()) for d in decisions])
                if req.criteria else None,
            )
            self._stage = ReviewStage.COMPLETED
            await self._changed("review.completed", details={
                "outcome": self._outcome.outcome.value, "mean_score_hundredths": self._outcome.mean_score_hundredths})
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._outcome

    async def _cancelled(self) -> None:
        """The parent ended the review (case withdrawn): close open tasks, take back the experts'
        access to the case, and leave the mirror saying so, before the cancellation completes."""
        now = workflow.now()
        closing = self._open()
        for t in closing:
            t.status, t.closed_at = TaskStatus.CANCELLED, now
        self._stage = ReviewStage.CANCELLED
        self._version += 1
        await self._changed("review.cancelled", details={"task_ids": [t.task_id for t in closing]})
        await asyncio.gather(*(self._revoke(t) for t in closing))

    # --- human actions -------------------------------------------------------------------------

    @workflow.update(name=UPDATE_FORM_PANEL)
    async def form_panel(self, cmd: FormPanel) -> list[str]:
        async with self._lock:
            self._check_form_panel(cmd)  # again under the lock: a concurrent panel may have won
            members = await self._check_panel(cmd.expert_ids)
            new = [await self._assign(m) for m in members]
            self._stage = ReviewStage.IN_REVIEW
            self._version += 1
            await self._changed("review.panel_formed", actor_user_id=cmd.actor_user_id,
                                details={"expert_ids": cmd.expert_ids, "task_ids": [t.task_id for t in new]})
            await asyncio.gather(*(self._welcome(t) for t in new))
            return [t.task_id for t in new]

    @form_panel.validator
    def _validate_form_panel(self, cmd: FormPanel) -> None:
        self._check_form_panel(cmd)

    @workflow.update(name=UPDATE_DECIDE)
    async def decide(self, cmd: SubmitDecision) -> ExpertDecision:
        async with self._lock:
            task = self._check_decide(cmd)
            if task.status == TaskStatus.DECIDED:
                return self._decision_of(task)  # the same decision again: nothing new happens
            now = workflow.now()
            task.status, task.vote, task.comments, task.scores = TaskStatus.DECIDED, cmd.vote, cmd.comments, cmd.scores
            task.decided_at = task.closed_at = now
            self._version += 1
            await self._changed("review.decision_submitted", actor_user_id=cmd.actor_user_id, actor_role="expert",
                                details={"task_id": task.task_id, "expert_id": task.expert_id, "vote": cmd.vote.value})
            return self._decision_of(task)

    @decide.validator
    def _validate_decide(self, cmd: SubmitDecision) -> None:
        self._check_decide(cmd)

    @workflow.update(name=UPDATE_RECUSE)
    async def recuse(self, cmd: Recusal) -> str:
        async with self._lock:
            task = self._check_recuse(cmd)
            now = workflow.now()
            task.status, task.recusal_reason, task.closed_at = TaskStatus.RECUSED, cmd.reason, now
            self._stage = ReviewStage.AWAITING_REPLACEMENT
            self._version += 1
            await self._changed("review.expert_recused", actor_user_id=cmd.actor_user_id, actor_role="expert",
                                details={"task_id": task.task_id, "expert_id": task.expert_id})
            await asyncio.gather(
                self._revoke(task),
                self._notify(f"{task.task_id}:recused", "review.replacement_needed",
                             f"An expert recused from the review of {self._req.subject}; name a replacement",
                             roles=[self._req.authority_role]))
            return task.task_id

    @recuse.validator
    def _validate_recuse(self, cmd: Recusal) -> None:
        self._check_recuse(cmd)

    @workflow.update(name=UPDATE_REPLACE_EXPERT)
    async def replace_expert(self, cmd: ReplaceExpert) -> str:
        async with self._lock:
            old = self._check_replace(cmd)
            (member,) = await self._check_panel([cmd.new_expert_id])
            new = await self._assign(member)
            was_open = old.status == TaskStatus.OPEN
            if was_open:  # an overdue task: its expert is relieved of it
                old.status, old.closed_at = TaskStatus.REPLACED, workflow.now()
            old.replaced_by_task_id = new.task_id
            self._stage = (ReviewStage.AWAITING_REPLACEMENT if self._awaiting_replacement()
                           else ReviewStage.IN_REVIEW)
            self._version += 1
            await self._changed("review.expert_replaced", actor_user_id=cmd.actor_user_id, details={
                "task_id": old.task_id, "old_expert_id": old.expert_id,
                "new_task_id": new.task_id, "new_expert_id": new.expert_id})
            await asyncio.gather(self._welcome(new), *([self._revoke(old)] if was_open else []))
            return new.task_id

    @replace_expert.validator
    def _validate_replace(self, cmd: ReplaceExpert) -> None:
        self._check_replace(cmd)

    @workflow.query(name=CASE_STATE_QUERY)
    def case_state(self) -> CaseView:
        authority = self._req.authority_role
        tasks: list[OpenTask] = []
        if self._stage == ReviewStage.AWAITING_PANEL:
            tasks.append(OpenTask(task_id=f"{self._review_id}-panel", kind="panel_formation", assignee=authority))
        for t in self._tasks:
            if t.status == TaskStatus.OPEN:
                tasks.append(OpenTask(task_id=t.task_id, kind="review", assignee=f"expert:{t.expert_id}",
                                      due=t.due, overdue=t.overdue_at is not None))
            elif t.status == TaskStatus.RECUSED and t.replaced_by_task_id is None:
                tasks.append(OpenTask(task_id=t.task_id, kind="replacement", assignee=authority))
        return CaseView(case_id=self._review_id, case_type=CASE_TYPE, stage=self._stage.value,
                        deadline=self._next_due(), open_tasks=tasks)

    # --- checks shared by validators and handlers (no history is written when they refuse) ---------

    def _check_form_panel(self, cmd: FormPanel) -> None:
        if self._stage != ReviewStage.AWAITING_PANEL:
            raise _refuse(Refusal.WRONG_STATE, f"the panel is already formed (stage {self._stage.value})")
        size = self._req.policy.panel_size
        if len(cmd.expert_ids) != size:
            raise _refuse(Refusal.INVALID, f"the panel needs exactly {size} experts, got {len(cmd.expert_ids)}",
                          field="expert_ids", rule="panel_size")
        if len(set(cmd.expert_ids)) != len(cmd.expert_ids):
            raise _refuse(Refusal.INVALID, "an expert is named twice", field="expert_ids", rule="unique")

    def _own_task(self, task_id: str, actor_user_id: int) -> ReviewTask:
        task = next((t for t in self._tasks if t.task_id == task_id), None)
        if task is None:
            raise _refuse(Refusal.TASK_NOT_FOUND, f"review task {task_id} does not exist")
        if task.expert_user_id != actor_user_id:
            raise _refuse(Refusal.NOT_ASSIGNEE, f"review task {task_id} is not assigned to you")
        return task

    def _check_decide(self, cmd: SubmitDecision) -> ReviewTask:
        task = self._own_task(cmd.task_id, cmd.actor_user_id)
        if task.status == TaskStatus.DECIDED:
            if (task.vote, task.comments, task.scores) == (cmd.vote, cmd.comments, cmd.scores):
                return task
            raise _refuse(Refusal.DIFFERENT_DECISION, "a decision on this task is already submitted and is final")
        if task.status != TaskStatus.OPEN:
            raise _refuse(Refusal.WRONG_STATE, f"review task {task.task_id} is {task.status.value}")
        problems = score_problems(self._req.criteria, cmd.scores)
        if problems:
            field, rule, message = problems[0]
            raise _refuse(Refusal.INVALID, message, field=field, rule=rule)
        return task

    def _check_recuse(self, cmd: Recusal) -> ReviewTask:
        task = self._own_task(cmd.task_id, cmd.actor_user_id)
        if task.status != TaskStatus.OPEN:
            raise _refuse(Refusal.WRONG_STATE, f"review task {task.task_id} is {task.status.value}")
        return task

    def _check_replace(self, cmd: ReplaceExpert) -> ReviewTask:
        task = next((t for t in self._tasks if t.task_id == cmd.task_id), None)
        if task is None:
            raise _refuse(Refusal.TASK_NOT_FOUND, f"review task {cmd.task_id} does not exist")
        recused = task.status == TaskStatus.RECUSED and task.replaced_by_task_id is None
        overdue = task.status == TaskStatus.OPEN and task.overdue_at is not None
        if not (recused or overdue):
            raise _refuse(Refusal.WRONG_STATE, f"review task {task.task_id} is {task.status.value}"
                          + ("" if task.status != TaskStatus.OPEN else " and not overdue")
                          + "; only a recused or overdue task can be reassigned")
        if any(t.expert_id == cmd.new_expert_id for t in self._tasks):
            raise _refuse(Refusal.INVALID, f"expert {cmd.new_expert_id} already sat on this panel",
                          field="expert_id", rule="not_on_panel")
        return task

    # --- steps -------------------------------------------------------------------------------

    def _complete(self) -> bool:
        return sum(t.status == TaskStatus.DECIDED for t in self._tasks) == self._req.policy.panel_size

    def _awaiting_replacement(self) -> bool:
        return any(t.status == TaskStatus.RECUSED and t.replaced_by_task_id is None for t in self._tasks)

    def _open(self) -> list[ReviewTask]:
        return [t for t in self._tasks if t.status == TaskStatus.OPEN]

    def _next_due(self) -> datetime | None:
        return min((t.due for t in self._open()), default=None)

    def _next_timer(self) -> datetime | None:
        instants = []
        for t in self._open():
            if t.overdue_at is None:
                instants.append(t.due)
                if t.remind_at is not None and t.reminded_at is None:
                    instants.append(t.remind_at)
        return min(instants, default=None)

    async def _wait_for_change_or_timer(self) -> None:
        seen = self._version
        changed = lambda: self._version != seen or self._complete()  # noqa: E731
        wake = self._next_timer()
        if wake is None:
            await workflow.wait_condition(changed)
            return
        remaining = wake - workflow.now()
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(changed, timeout=remaining)
            except asyncio.TimeoutError:
                pass

    async def _fire_timers(self) -> None:
        """Escalate overdue tasks and remind experts whose reminder instant has passed."""
        now = workflow.now()
        for t in self._open():
            due = t.overdue_at is None and t.due <= now
            if due and t.due_provisional and workflow.patched(RECHECK_PROVISIONAL_DUE):
                # SPEC §3: a deadline reaching into a year without a calendar was provisional; the year
                # may be loaded by now, so ask again (never earlier than announced) before escalating.
                d = await self._deadline(t.assigned_at, self._req.policy.review_task_working_days, not_before=t.due)
                if d.end > t.due or not d.provisional:
                    before = t.due
                    t.due, t.due_provisional = d.end, d.provisional
                    self._version += 1
                    await self._changed("review.task_deadline_recomputed", details={
                        "task_id": t.task_id, "from": before.isoformat(), "to": t.due.isoformat(),
                        "provisional": t.due_provisional})
                    if t.due > now:
                        continue
            if t.overdue_at is None and t.due <= now:
                t.overdue_at = now
                await self._changed("review.task_overdue", details={"task_id": t.task_id, "expert_id": t.expert_id})
                await self._notify(f"{t.task_id}:overdue", "review.task_overdue",
                                   f"Review task {t.task_id} on {self._req.subject} is overdue; you may replace the expert",
                                   roles=[self._req.authority_role])
            elif t.overdue_at is None and t.remind_at is not None and t.reminded_at is None and t.remind_at <= now:
                t.reminded_at = now
                await self._changed("review.task_reminded", details={"task_id": t.task_id})
                await self._notify(f"{t.task_id}:reminder", "review.task_reminder",
                                   f"Reminder: your review of {self._req.subject} is due {t.due.isoformat()}",
                                   users=[t.expert_user_id])

    async def _check_panel(self, expert_ids: list[int]) -> list[PanelMember]:
        check = PanelCheck(review_id=self._review_id, expert_ids=expert_ids,
                           applicant_organisation_id=self._req.applicant_organisation_id,
                           verifier_organisation_id=self._req.verifier_organisation_id)
        try:
            return await workflow.execute_activity(CHECK_PANEL, check, result_type=list[PanelMember], **_ACTIVITY)
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type in REFUSAL_STATUS:
                # Surface the roster's refusal as the update's own failure (API: 422).
                raise ApplicationError(cause.message, *cause.details, type=cause.type, non_retryable=True) from None
            raise

    async def _deadline(self, start: datetime, working_days: int, *, not_before: datetime | None = None) -> Deadline:
        return await workflow.execute_activity(
            COMPUTE_DEADLINE, DeadlineRequest(start=start, working_days=working_days, not_before=not_before),
            result_type=Deadline, **_ACTIVITY)

    async def _assign(self, member: PanelMember) -> ReviewTask:
        """A new review task: due after N working days; reminded R working days before, i.e. at the end
        of working day N-R (no reminder when R is 0 or leaves no working day before the deadline)."""
        policy = self._req.policy
        now = workflow.now()
        due = await self._deadline(now, policy.review_task_working_days)
        lead = policy.review_reminder_working_days
        remind_at = None
        if 0 < lead < policy.review_task_working_days:
            remind_at = (await self._deadline(now, policy.review_task_working_days - lead)).end
        task = ReviewTask(task_id=f"{self._review_id}-task-{len(self._tasks) + 1}", seq=len(self._tasks) + 1,
                          expert_id=member.expert_id, expert_user_id=member.user_id, assigned_at=now,
                          due=due.end, due_provisional=due.provisional, remind_at=remind_at)
        self._tasks.append(task)
        return task

    async def _welcome(self, task: ReviewTask) -> None:
        """The assigned expert may see the parent case and its documents, and is told of the task."""
        await workflow.execute_activity(GRANT_CASE_ACCESS, CaseAccessGrant(
            case_id=self._req.case_id, capacity="expert", granted_at=task.assigned_at,
            user_id=task.expert_user_id), **_ACTIVITY)
        await self._notify(f"{task.task_id}:assigned", "review.task_assigned",
                           f"New review task: {self._req.subject}", users=[task.expert_user_id],
                           body=f"Please decide by {task.due.isoformat()}.")

    async def _revoke(self, task: ReviewTask) -> None:
        await workflow.execute_activity(GRANT_CASE_ACCESS, CaseAccessGrant(
            case_id=self._req.case_id, capacity="expert", granted_at=task.closed_at or workflow.now(),
            user_id=task.expert_user_id, revoke=True), **_ACTIVITY)

    async def _notify(self, key: str, kind: str, subject: str, *, users: list[int] | None = None,
                      roles: list[str] | None = None, body: str = "") -> None:
        await workflow.execute_activity(NOTIFY, Notification(
            dedupe_key=f"{self._review_id}:{key}", occurred_at=workflow.now(), kind=kind, subject=subject,
            body=body, case_id=self._req.case_id, recipient_user_ids=users or [],
            recipient_roles=roles or []), **_ACTIVITY)

    async def _changed(self, action: str, *, actor_user_id: int | None = None, actor_role: str | None = None,
                       details: dict[str, Any] | None = None) -> None:
        """Mirror the review (own rows, case register, search attributes) and audit the change."""
        self._revision += 1
        now = workflow.now()
        req = self._req
        deadline = self._next_due()
        sa.upsert_case(CASE_TYPE, self._review_id, self._stage.value, deadline)
        await asyncio.gather(
            workflow.execute_activity(MIRROR_REVIEW, ReviewMirror(
                review_id=self._review_id, revision=self._revision, occurred_at=now, case_id=req.case_id,
                case_type=req.case_type, authority_role=req.authority_role, round_no=req.round_no,
                subject=req.subject, applicant_organisation_id=req.applicant_organisation_id,
                verifier_organisation_id=req.verifier_organisation_id, stage=self._stage,
                outcome=self._outcome.outcome if self._outcome else None,
                mean_score_hundredths=self._outcome.mean_score_hundredths if self._outcome else None,
                criteria=[c.model_dump() for c in req.criteria], tasks=self._tasks), **_ACTIVITY),
            workflow.execute_activity(MIRROR_CASE, CaseMirror(
                case_id=self._review_id, case_type=CASE_TYPE, stage=self._stage.value, occurred_at=now,
                title=req.subject[:300], deadline=deadline,
                details={"parent_case_id": req.case_id, "round_no": req.round_no}), **_ACTIVITY),
            workflow.execute_activity(RECORD_AUDIT, AuditRecord(
                dedupe_key=f"{self._review_id}#{self._revision}", occurred_at=now, action=action,
                entity_type="review", entity_id=self._review_id, case_id=self._review_id,
                workflow_id=self._review_id, actor_user_id=actor_user_id,
                actor_role=actor_role or (req.authority_role if actor_user_id else "system"),
                details={"stage": self._stage.value, "parent_case_id": req.case_id, **(details or {})}), **_ACTIVITY),
        )

    @staticmethod
    def _decision_of(task: ReviewTask) -> ExpertDecision:
        assert task.vote is not None and task.decided_at is not None and task.comments is not None
        return ExpertDecision(task_id=task.task_id, expert_id=task.expert_id, vote=task.vote,
                              comments=task.comments, scores=task.scores, decided_at=task.decided_at)


WORKFLOWS = [PanelReview]
