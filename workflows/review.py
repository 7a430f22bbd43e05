"""PanelReview: the expert panel review every process runs as a child workflow (SPEC §2.1;
Art. 5, 11, 14, 21), on the case kit.

The authority forms a panel (conflicts excluded by a roster activity); each expert gets a review
task with a working-day deadline, a reminder before it and an overdue escalation to the authority;
an expert may recuse, and the authority names a replacement (also for an overdue task). When every
seat has a decision, the panel outcome (simple majority, else revise) goes back to the parent.
The review id is this workflow's id, `review_workflow_id(case_id, round_no)` by contract.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.contracts.calendar import COMPUTE_DEADLINE, Deadline, DeadlineRequest
    from domain.contracts.cases import Actor, OpenTask
    from domain.review import (
        CHECK_PANEL,
        PanelCheck,
        PanelMember,
        ReviewMirror,
        ReviewStage,
        ReviewTask,
        TaskStatus,
    )
    from domain.contracts.review import (
        REVIEW_CASE_TYPE,
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
    from domain.review import mean_score_hundredths, panel_outcome, score_problems
    from domain.rules import Kind, Rule
    from workflows.kit import CaseWorkflow, Grant, Tell, action, refuse

EXPERT = "expert"


@workflow.defn(name=REVIEW_WORKFLOW)
class PanelReview(CaseWorkflow):
    CASE_TYPE = REVIEW_CASE_TYPE
    ENTITY_TYPE = "review"
    AUDIT_PREFIX = "review"

    @workflow.init
    def __init__(self, req: ReviewRequest) -> None:
        self._req = req
        self.open_case(workflow.info().workflow_id, req.deployment_id, ReviewStage.AWAITING_PANEL)
        self._tasks: list[ReviewTask] = []
        self._outcome: ReviewOutcome | None = None

    @workflow.run
    async def run(self, req: ReviewRequest) -> ReviewOutcome:
        await self.begin("started", None, {"case_id": req.case_id, "round_no": req.round_no, **self._parent()},
                         policy=req.policy)
        try:
            while not self._complete():
                await self.next_change(self._next_timer())
                async with self._lock:
                    await self._fire_timers()
        except asyncio.CancelledError:
            await self._cancelled()
            raise
        async with self._lock:
            decisions = [self._decision_of(t) for t in self._tasks if t.status == TaskStatus.DECIDED]
            self._outcome = ReviewOutcome(
                review_id=self.case_id, outcome=panel_outcome([d.vote for d in decisions]), decisions=decisions,
                mean_score_hundredths=mean_score_hundredths([sum(d.scores.values()) for d in decisions])
                if req.criteria else None)
            await self._changed(ReviewStage.COMPLETED, "completed", None, {
                "outcome": self._outcome.outcome.value, "mean_score_hundredths": self._outcome.mean_score_hundredths})
        await self.close()
        return self._outcome

    async def _cancelled(self) -> None:
        """The parent ended the review (case withdrawn): close open tasks, take back the experts'
        access to the case, and leave the mirror saying so, before the cancellation completes."""
        now = workflow.now()
        closing = self._open()
        for t in closing:
            t.status, t.closed_at = TaskStatus.CANCELLED, now
        await self._changed(ReviewStage.CANCELLED, "cancelled", None, {"task_ids": [t.task_id for t in closing]},
                            grants=[self._access(t, revoke=True) for t in closing])

    # --- the kit's hooks ------------------------------------------------------------------------

    def deadline(self) -> datetime | None:
        return min((t.due for t in self._open()), default=None)

    def mirror(self) -> dict[str, Any]:
        return {"title": self._req.subject[:300], "details": {"parent_case_id": self._req.case_id,
                                                              "round_no": self._req.round_no}}

    def facts(self) -> ReviewMirror:
        req = self._req
        return ReviewMirror(
            review_id=self.case_id, revision=self.seq, occurred_at=workflow.now(), case_id=req.case_id,
            case_type=req.case_type, authority_role=req.authority_role, round_no=req.round_no, subject=req.subject,
            applicant_organisation_id=req.applicant_organisation_id,
            verifier_organisation_id=req.verifier_organisation_id, stage=self.stage,
            outcome=self._outcome.outcome if self._outcome else None,
            mean_score_hundredths=self._outcome.mean_score_hundredths if self._outcome else None,
            criteria=[c.model_dump() for c in req.criteria], tasks=self._tasks)

    def open_tasks(self) -> list[OpenTask]:
        authority = self._req.authority_role
        tasks: list[OpenTask] = []
        if self.stage == ReviewStage.AWAITING_PANEL:
            tasks.append(OpenTask(task_id=f"{self.case_id}-panel", kind="panel_formation", assignee=authority))
        for t in self._tasks:
            if t.status == TaskStatus.OPEN:
                tasks.append(OpenTask(task_id=t.task_id, kind="review", assignee=f"expert:{t.expert_id}",
                                      due=t.due, overdue=t.overdue_at is not None))
            elif t.status == TaskStatus.RECUSED and t.replaced_by_task_id is None:
                tasks.append(OpenTask(task_id=t.task_id, kind="replacement", assignee=authority))
        return tasks

    # --- human actions -------------------------------------------------------------------------

    def _check_form_panel(self, cmd: FormPanel) -> None:
        if self.stage != ReviewStage.AWAITING_PANEL:
            raise refuse(Kind.CONFLICT, Rule.STAGE, f"the panel is already formed (stage {self.stage.value})")
        size = self._req.policy.panel_size
        if len(cmd.expert_ids) != size:
            raise refuse(Kind.INVALID, Rule.PANEL_SIZE,
                         f"the panel needs exactly {size} experts, got {len(cmd.expert_ids)}", field="expert_ids")
        if len(set(cmd.expert_ids)) != len(cmd.expert_ids):
            raise refuse(Kind.INVALID, Rule.UNIQUE, "an expert is named twice", field="expert_ids")

    @action(UPDATE_FORM_PANEL, check=_check_form_panel)
    async def form_panel(self, cmd: FormPanel) -> list[str]:
        members = await self._check_panel(cmd.expert_ids)
        new = await self._assign(members)
        await self._changed(ReviewStage.IN_REVIEW, "panel_formed", self._authority(cmd.actor_user_id),
                            {"expert_ids": cmd.expert_ids, "task_ids": [t.task_id for t in new]},
                            grants=[self._access(t) for t in new], tell=[self._welcome(t) for t in new])
        return [t.task_id for t in new]

    def _check_decide(self, cmd: SubmitDecision) -> None:
        task = self._own_task(cmd.task_id, cmd.actor_user_id)
        if task.status == TaskStatus.DECIDED:
            if (task.vote, task.comments, task.scores) == (cmd.vote, cmd.comments, cmd.scores):
                return  # the same decision again: answered as it was
            raise refuse(Kind.CONFLICT, Rule.DIFFERENT_ACTION, "a decision on this task is already submitted and is final")
        if task.status != TaskStatus.OPEN:
            raise refuse(Kind.CONFLICT, Rule.STAGE, f"review task {task.task_id} is {task.status.value}")
        problems = score_problems(self._req.criteria, cmd.scores)
        if problems:
            field, rule, message = problems[0]
            raise refuse(Kind.INVALID, rule, message, field=field)

    @action(UPDATE_DECIDE, check=_check_decide)
    async def decide(self, cmd: SubmitDecision) -> ExpertDecision:
        task = self._own_task(cmd.task_id, cmd.actor_user_id)
        if task.status == TaskStatus.DECIDED:
            return self._decision_of(task)  # the same decision again: nothing new happens
        now = workflow.now()
        task.status, task.vote, task.comments, task.scores = TaskStatus.DECIDED, cmd.vote, cmd.comments, cmd.scores
        task.decided_at = task.closed_at = now
        await self._changed(self.stage, "decision_submitted", Actor(user_id=cmd.actor_user_id, role=EXPERT),
                            {"task_id": task.task_id, "expert_id": task.expert_id, "vote": cmd.vote.value})
        return self._decision_of(task)

    def _check_recuse(self, cmd: Recusal) -> None:
        task = self._own_task(cmd.task_id, cmd.actor_user_id)
        if task.status != TaskStatus.OPEN:
            raise refuse(Kind.CONFLICT, Rule.STAGE, f"review task {task.task_id} is {task.status.value}")

    @action(UPDATE_RECUSE, check=_check_recuse)
    async def recuse(self, cmd: Recusal) -> str:
        task = self._own_task(cmd.task_id, cmd.actor_user_id)
        task.status, task.recusal_reason, task.closed_at = TaskStatus.RECUSED, cmd.reason, workflow.now()
        await self._changed(ReviewStage.AWAITING_REPLACEMENT, "expert_recused",
                            Actor(user_id=cmd.actor_user_id, role=EXPERT),
                            {"task_id": task.task_id, "expert_id": task.expert_id},
                            grants=[self._access(task, revoke=True)],
                            tell=[Tell("replacement_needed",
                                       f"An expert recused from the review of {self._req.subject}; name a replacement",
                                       roles=[self._req.authority_role], case_id=self._req.case_id)])
        return task.task_id

    def _check_replace(self, cmd: ReplaceExpert) -> None:
        task = self._task(cmd.task_id)
        recused = task.status == TaskStatus.RECUSED and task.replaced_by_task_id is None
        overdue = task.status == TaskStatus.OPEN and task.overdue_at is not None
        if not (recused or overdue):
            raise refuse(Kind.CONFLICT, Rule.STAGE, f"review task {task.task_id} is {task.status.value}"
                         + ("" if task.status != TaskStatus.OPEN else " and not overdue")
                         + "; only a recused or overdue task can be reassigned")
        if any(t.expert_id == cmd.new_expert_id for t in self._tasks):
            raise refuse(Kind.INVALID, Rule.NOT_ON_PANEL, f"expert {cmd.new_expert_id} already sat on this panel",
                         field="expert_id")

    @action(UPDATE_REPLACE_EXPERT, check=_check_replace)
    async def replace_expert(self, cmd: ReplaceExpert) -> str:
        old = self._task(cmd.task_id)
        (member,) = await self._check_panel([cmd.new_expert_id])
        (new,) = await self._assign([member])
        was_open = old.status == TaskStatus.OPEN
        if was_open:  # an overdue task: its expert is relieved of it
            old.status, old.closed_at = TaskStatus.REPLACED, workflow.now()
        old.replaced_by_task_id = new.task_id
        stage = ReviewStage.AWAITING_REPLACEMENT if self._awaiting_replacement() else ReviewStage.IN_REVIEW
        await self._changed(stage, "expert_replaced", self._authority(cmd.actor_user_id), {
            "task_id": old.task_id, "old_expert_id": old.expert_id, "new_task_id": new.task_id,
            "new_expert_id": new.expert_id},
            grants=[self._access(new), *([self._access(old, revoke=True)] if was_open else [])],
            tell=[self._welcome(new)])
        return new.task_id

    # --- helpers -------------------------------------------------------------------------------

    async def _changed(self, stage: ReviewStage, action: str, actor: Actor | None, details: dict[str, Any],
                       **kwargs: Any) -> None:
        await self.step(stage, action, actor, {**self._parent(), **details}, **kwargs)

    def _parent(self) -> dict[str, Any]:
        return {"parent_case_id": self._req.case_id}

    def _authority(self, user_id: int) -> Actor:
        return Actor(user_id=user_id, role=self._req.authority_role)

    def _task(self, task_id: str) -> ReviewTask:
        task = next((t for t in self._tasks if t.task_id == task_id), None)
        if task is None:
            raise refuse(Kind.NOT_FOUND, Rule.NOT_PART_OF_CASE, f"review task {task_id} does not exist")
        return task

    def _own_task(self, task_id: str, actor_user_id: int) -> ReviewTask:
        task = self._task(task_id)
        if task.expert_user_id != actor_user_id:
            # Another expert's task is not visible to the caller.
            raise refuse(Kind.NOT_FOUND, Rule.ACTOR, f"review task {task_id} is not assigned to you")
        return task

    def _complete(self) -> bool:
        return sum(t.status == TaskStatus.DECIDED for t in self._tasks) == self._req.policy.panel_size

    def _awaiting_replacement(self) -> bool:
        return any(t.status == TaskStatus.RECUSED and t.replaced_by_task_id is None for t in self._tasks)

    def _open(self) -> list[ReviewTask]:
        return [t for t in self._tasks if t.status == TaskStatus.OPEN]

    def _next_timer(self) -> datetime | None:
        instants = []
        for t in self._open():
            if t.overdue_at is None:
                instants.append(t.due)
                if t.remind_at is not None and t.reminded_at is None:
                    instants.append(t.remind_at)
        return min(instants, default=None)

    async def _fire_timers(self) -> None:
        """Escalate overdue tasks and remind experts whose reminder instant has passed."""
        now = workflow.now()
        for t in self._open():
            if t.overdue_at is None and t.due <= now and t.due_provisional:
                # SPEC §3: a deadline reaching into a year without a calendar was provisional; the year
                # may be loaded by now, so ask again (never earlier than announced) before escalating.
                d = await self._deadline(t.assigned_at, self.policy.review_task_working_days, not_before=t.due)
                if d.end > t.due or not d.provisional:
                    before = t.due
                    t.due, t.due_provisional = d.end, d.provisional
                    await self._changed(self.stage, "task_deadline_recomputed", None, {
                        "task_id": t.task_id, "from": before.isoformat(), "to": t.due.isoformat(),
                        "provisional": t.due_provisional})
                    if t.due > now:
                        continue
            if t.overdue_at is None and t.due <= now:
                t.overdue_at = now
                await self._changed(self.stage, "task_overdue", None, {"task_id": t.task_id, "expert_id": t.expert_id},
                                    tell=[Tell("task_overdue", f"Review task {t.task_id} on {self._req.subject} is "
                                               "overdue; you may replace the expert", roles=[self._req.authority_role],
                                               case_id=self._req.case_id)])
            elif t.overdue_at is None and t.remind_at is not None and t.reminded_at is None and t.remind_at <= now:
                t.reminded_at = now
                await self._changed(self.stage, "task_reminded", None, {"task_id": t.task_id},
                                    tell=[Tell("task_reminder", f"Reminder: your review of {self._req.subject} is due "
                                               f"{t.due.isoformat()}", users=[t.expert_user_id],
                                               case_id=self._req.case_id)])

    async def _check_panel(self, expert_ids: list[int]) -> list[PanelMember]:
        check = PanelCheck(review_id=self.case_id, expert_ids=expert_ids,
                           applicant_organisation_id=self._req.applicant_organisation_id,
                           verifier_organisation_id=self._req.verifier_organisation_id)
        try:
            return await self.act(CHECK_PANEL, check, list[PanelMember])
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                # The roster's refusal is the update's own (API: 422).
                raise ApplicationError(cause.message, *cause.details, type=cause.type, non_retryable=True) from None
            raise

    async def _deadline(self, start: datetime, working_days: int, *, not_before: datetime | None = None) -> Deadline:
        return await self.act(COMPUTE_DEADLINE, DeadlineRequest(start=start, working_days=working_days,
                                                                not_before=not_before), Deadline)

    async def _assign(self, members: list[PanelMember]) -> list[ReviewTask]:
        """New review tasks, assigned now: due after N working days; reminded R working days before, i.e.
        at the end of working day N-R (no reminder when R is 0 or leaves no working day before the
        deadline). The two instants are the same for every member: asked once, together."""
        policy = self.policy
        now = workflow.now()
        lead = policy.review_reminder_working_days
        remind = 0 < lead < policy.review_task_working_days
        due, *reminder = await asyncio.gather(
            self._deadline(now, policy.review_task_working_days),
            *([self._deadline(now, policy.review_task_working_days - lead)] if remind else []))
        new = []
        for member in members:
            n = len(self._tasks) + 1
            task = ReviewTask(task_id=f"{self.case_id}-task-{n}", seq=n, expert_id=member.expert_id,
                              expert_user_id=member.user_id, assigned_at=now, due=due.end,
                              due_provisional=due.provisional, remind_at=reminder[0].end if reminder else None)
            self._tasks.append(task)
            new.append(task)
        return new

    def _access(self, task: ReviewTask, *, revoke: bool = False) -> Grant:
        """The assigned expert may see the parent case and its documents (until the task closes early)."""
        return Grant(EXPERT, user_id=task.expert_user_id, revoke=revoke, case_id=self._req.case_id)

    def _welcome(self, task: ReviewTask) -> Tell:
        return Tell("task_assigned", f"New review task: {self._req.subject}", body=f"Please decide by {task.due.isoformat()}.",
                    users=[task.expert_user_id], case_id=self._req.case_id)

    @staticmethod
    def _decision_of(task: ReviewTask) -> ExpertDecision:
        assert task.vote is not None and task.decided_at is not None and task.comments is not None
        return ExpertDecision(task_id=task.task_id, expert_id=task.expert_id, vote=task.vote,
                              comments=task.comments, scores=task.scores, decided_at=task.decided_at)


WORKFLOWS = [PanelReview]
