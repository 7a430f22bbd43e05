"""Methodology lifecycle (SPEC §2.2; Art. 7, 9–11): one workflow per case. Once published, the case's
workflow follows the methodology: it reminds the bureau ahead of the current version's re-evaluation
date and runs each re-evaluation as a child workflow (its own id), until the methodology is retired.

Human actions are updates. A validator refuses the wrong actor or stage synchronously; the handler
puts the action in the case's inbox and returns once the main loop has applied it (state mirrored to
PostgreSQL), so the API can answer with the new stage. An action that was valid when it arrived but
overtaken by another one (e.g. a withdrawal racing the completeness decision) is refused then.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from domain.contracts.audit import RECORD_AUDIT, AuditRecord
    from domain.contracts.cases import CASE_STATE_QUERY, CaseView, OpenTask
    from domain.contracts.methodology import (
        CASE_TYPE,
        METHODOLOGY_WORKFLOW,
        MIRROR_METHODOLOGY,
        MIRROR_REEVALUATION,
        PUBLISH_METHODOLOGY,
        REEVALUATION_CASE_TYPE,
        REEVALUATION_WORKFLOW,
        UPDATE_COMPLETENESS,
        UPDATE_DECIDE_REEVALUATION,
        UPDATE_OPEN_REEVALUATION,
        UPDATE_PUBLICATION,
        UPDATE_RESUBMIT,
        UPDATE_WITHDRAW,
        CaseActor,
        CompletenessDecision,
        MethodologyCaseState,
        MethodologyMirror,
        MethodologyStart,
        PublicationDecision,
        PublishedVersion,
        PublishRequest,
        ReevaluationDecision,
        ReevaluationMirror,
        ReevaluationStart,
        ReevaluationState,
        Resubmission,
        Withdrawal,
    )
    from domain.contracts.notifications import NOTIFY, Notification
    from domain.contracts.policy import SNAPSHOT_POLICY, PolicySnapshotRequest
    from domain.contracts.review import REVIEW_WORKFLOW, ReviewOutcome, ReviewRequest, Vote, review_workflow_id
    from domain.methodology import (
        RESUBMITTABLE_STAGES,
        TERMINAL_STAGES,
        WITHDRAWABLE_STAGES,
        ReevaluationOutcome,
        ReevaluationStage,
        Stage,
        add_years,
    )
    from domain.policy import PolicyParameters
    from domain.roles import Role
    from workflows import search_attributes as sa

_ACTIVITY = {"start_to_close_timeout": timedelta(seconds=30)}
BUREAU = Role.BUREAU_ADMIN.value


def _refuse(message: str, kind: str) -> ApplicationError:
    # api.workflow_updates maps the type: forbidden → 403, conflict → 409, invalid → 422.
    return ApplicationError(message, type=kind, non_retryable=True)


def _require_bureau(actor: CaseActor) -> None:
    if actor.role != BUREAU:
        raise _refuse("only the bureau decides this", "forbidden")


@dataclass
class _Action:
    kind: str
    payload: Any
    ticket: int


class _CaseRecorder:
    """Audit, mirror and search attributes of one case, with deterministic dedupe keys."""

    case_id: str
    _events: int

    async def _audit(self, action: str, actor: CaseActor | None, details: dict | None = None) -> None:
        self._events += 1
        await workflow.execute_activity(RECORD_AUDIT, AuditRecord(
            dedupe_key=f"{self.case_id}:{self._events}:{action}", occurred_at=workflow.now(), action=action,
            entity_type=self._case_type, entity_id=self.case_id, case_id=self.case_id,
            workflow_id=workflow.info().workflow_id, actor_user_id=actor.user_id if actor else None,
            actor_role=actor.role if actor else "system", details=details or {}), **_ACTIVITY)

    async def _notify(self, kind: str, subject: str, body: str, *, organisation_id: int | None = None) -> None:
        self._events += 1
        await workflow.execute_activity(NOTIFY, Notification(
            dedupe_key=f"{self.case_id}:{self._events}:{kind}", occurred_at=workflow.now(), kind=kind,
            subject=subject, body=body, case_id=self.case_id,
            recipient_organisation_ids=[organisation_id] if organisation_id is not None else [],
            recipient_roles=[] if organisation_id is not None else [BUREAU]), **_ACTIVITY)

    def _search_attributes(self, stage: str, deadline: datetime | None) -> None:
        sa.upsert_case(self._case_type, self.case_id, stage, deadline)

    _case_type: str


@workflow.defn(name=METHODOLOGY_WORKFLOW)
class MethodologyCase(_CaseRecorder):
    _case_type = CASE_TYPE

    @workflow.init
    def __init__(self, start: MethodologyStart) -> None:
        self.start = start
        self.case_id = start.case_id
        self.content = start.content
        self.stage = Stage.COMPLETENESS_CHECK
        self.submission_no = 1
        self.round_no = 0
        self.deadline: datetime | None = None
        self.review_id: str | None = None
        self.reasons: list[str] = []
        self.published: PublishedVersion | None = None  # the version this case published
        self.current: PublishedVersion | None = None  # the version new users take (after re-evaluations)
        self.retired = False
        self._reevaluation: workflow.ChildWorkflowHandle | None = None
        self._requested: ReevaluationStart | None = None
        self.policy: PolicyParameters | None = None
        self._events = 0
        self._inbox: list[_Action] = []
        self._tickets = 0
        self._done: dict[int, str | None] = {}  # ticket → None (applied) or why it was refused
        self._review: workflow.ChildWorkflowHandle | None = None

    # --- queries ---
    @workflow.query(name=CASE_STATE_QUERY)
    def case_state(self) -> CaseView:
        task = {
            Stage.COMPLETENESS_CHECK: ("completeness_check", BUREAU),
            Stage.RETURNED: ("resubmission", "applicant"),
            Stage.REVISION: ("resubmission", "applicant"),
            Stage.PANEL_REVIEW: ("review", BUREAU),
            Stage.PUBLICATION_DECISION: ("publication", BUREAU),
        }.get(self.stage)
        tasks = []
        if self.current is not None and not self.retired:
            due = self.current.reevaluation_due
            tasks.append(OpenTask(task_id=f"{self.case_id}-reevaluation-v{self.current.version_no}",
                                  kind="reevaluation", assignee=BUREAU, due=due, overdue=workflow.now() > due))
        if task is not None:
            task_id = (self.review_id if self.stage == Stage.PANEL_REVIEW
                       else f"{self.case_id}-{task[0]}-{self.submission_no}")
            overdue = self.deadline is not None and workflow.now() > self.deadline
            tasks.append(OpenTask(task_id=task_id, kind=task[0], assignee=task[1], due=self.deadline, overdue=overdue))
        deadline = self.current.reevaluation_due if self.current and not self.retired else self.deadline
        return CaseView(case_id=self.case_id, case_type=CASE_TYPE, stage=self.stage.value, deadline=deadline,
                        open_tasks=tasks)

    @workflow.query(name="methodology_state")
    def state(self) -> MethodologyCaseState:
        return MethodologyCaseState(
            case_id=self.case_id, stage=self.stage, submission_no=self.submission_no, round_no=self.round_no,
            deadline=self.deadline, review_id=self.review_id, reasons=self.reasons,
            code=self.published.code if self.published else None,
            version_no=self.published.version_no if self.published else None)

    # --- human actions ---
    def _require_applicant_side(self, actor: CaseActor) -> None:
        if self.start.commissioned:
            if actor.role != BUREAU:
                raise _refuse("only the bureau acts on a methodology it commissioned", "forbidden")
        elif actor.role != Role.APPLICANT.value or actor.organisation_id != self.start.applicant_organisation_id:
            raise _refuse("only the applicant organisation acts on its submission", "forbidden")

    def _require_stage(self, allowed: frozenset[Stage] | set[Stage]) -> None:
        if self.stage not in allowed:
            raise _refuse(f"the case is at stage '{self.stage.value}'", "conflict")

    async def _submit(self, kind: str, payload: Any) -> MethodologyCaseState:
        self._tickets += 1
        ticket = self._tickets
        self._inbox.append(_Action(kind, payload, ticket))
        await workflow.wait_condition(lambda: ticket in self._done)
        refusal = self._done.pop(ticket)
        if refusal is not None:
            raise _refuse(refusal, "conflict")
        return self.state()

    @workflow.update(name=UPDATE_COMPLETENESS)
    async def decide_completeness(self, d: CompletenessDecision) -> MethodologyCaseState:
        return await self._submit(UPDATE_COMPLETENESS, d)

    @decide_completeness.validator
    def _check_completeness(self, d: CompletenessDecision) -> None:
        _require_bureau(d.actor)
        self._require_stage({Stage.COMPLETENESS_CHECK})
        if d.submission_no != self.submission_no:
            raise _refuse(f"submission {d.submission_no} is not the current one ({self.submission_no})", "conflict")
        if not d.accept and not (d.reasons or "").strip():
            raise _refuse("returning a submission needs reasons", "invalid")

    @workflow.update(name=UPDATE_RESUBMIT)
    async def resubmit(self, r: Resubmission) -> MethodologyCaseState:
        return await self._submit(UPDATE_RESUBMIT, r)

    @resubmit.validator
    def _check_resubmit(self, r: Resubmission) -> None:
        self._require_applicant_side(r.actor)
        self._require_stage(RESUBMITTABLE_STAGES)
        if r.submission_no != self.submission_no + 1:
            raise _refuse(f"the next submission is number {self.submission_no + 1}", "conflict")
        if (r.content.scope, r.content.domain) != (self.content.scope, self.content.domain):
            raise _refuse("scope and domain cannot change on resubmission; submit a new methodology", "invalid")

    @workflow.update(name=UPDATE_WITHDRAW)
    async def withdraw(self, w: Withdrawal) -> MethodologyCaseState:
        return await self._submit(UPDATE_WITHDRAW, w)

    @withdraw.validator
    def _check_withdraw(self, w: Withdrawal) -> None:
        self._require_applicant_side(w.actor)
        self._require_stage(WITHDRAWABLE_STAGES)

    @workflow.update(name=UPDATE_PUBLICATION)
    async def decide_publication(self, d: PublicationDecision) -> MethodologyCaseState:
        return await self._submit(UPDATE_PUBLICATION, d)

    @decide_publication.validator
    def _check_publication(self, d: PublicationDecision) -> None:
        _require_bureau(d.actor)
        self._require_stage({Stage.PUBLICATION_DECISION})
        if not d.publish and not (d.reason or "").strip():
            raise _refuse("rejecting a methodology needs a reason", "invalid")

    async def _take(self, kinds: set[str], *, until: datetime | None = None,
                    also: Any = None) -> _Action | None:
        """The next action of the given kinds; None when `until` passes or `also()` becomes true.

        Actions of other kinds were overtaken since their validator ran: they are refused.
        """
        while True:
            while self._inbox:
                action = self._inbox.pop(0)
                if action.kind in kinds:
                    return action
                self._done[action.ticket] = f"the case moved on to stage '{self.stage.value}'"
            if also is not None and also():
                return None
            timeout = None
            if until is not None:
                timeout = until - workflow.now()
                if timeout <= timedelta(0):
                    return None
            try:
                await workflow.wait_condition(lambda: bool(self._inbox) or (also is not None and also()),
                                              timeout=timeout)
            except asyncio.TimeoutError:
                return None

    def _applied(self, action: _Action) -> None:
        self._done[action.ticket] = None

    # --- the process ---
    async def _enter(self, stage: Stage, action: str, actor: CaseActor | None = None, *,
                     deadline: datetime | None = None, details: dict | None = None) -> None:
        self.stage = stage
        self.deadline = deadline
        mirror = MethodologyMirror(
            case_id=self.case_id, stage=stage, occurred_at=workflow.now(),
            owner_organisation_id=self.start.applicant_organisation_id, submission_no=self.submission_no,
            round_no=self.round_no, deadline=deadline, review_id=self.review_id, reasons=self.reasons,
            content=self.content, version_id=self.published.version_id if self.published else None)
        self._search_attributes(stage.value, deadline)
        await self._audit(action, actor, {"stage": stage.value, "submission": self.submission_no,
                                          "round": self.round_no, **(details or {})})
        await workflow.execute_activity(MIRROR_METHODOLOGY, mirror, **_ACTIVITY)

    async def _tell_applicant(self, kind: str, subject: str, body: str = "") -> None:
        org = None if self.start.commissioned else self.start.applicant_organisation_id
        await self._notify(kind, subject, body, organisation_id=org)

    def _resubmission_deadline(self) -> datetime:
        return workflow.now() + timedelta(days=self.policy.revision_days)

    async def _withdrawn(self, action: _Action) -> None:
        w: Withdrawal = action.payload
        await self._enter(Stage.WITHDRAWN, "methodology.withdrawn", w.actor, details={"reason": w.reason})
        self._applied(action)

    async def _start_review(self, action: str, actor: CaseActor) -> None:
        self.round_no += 1
        self.review_id = review_workflow_id(self.case_id, self.round_no)
        self.reasons = []
        self._review = await workflow.start_child_workflow(
            REVIEW_WORKFLOW,
            ReviewRequest(case_id=self.case_id, case_type=CASE_TYPE, round_no=self.round_no, authority_role=BUREAU,
                          subject=self.content.title, applicant_organisation_id=self.start.applicant_organisation_id,
                          policy=self.policy),
            id=self.review_id, result_type=ReviewOutcome,
            cancellation_type=workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_REQUESTED,
            parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL)
        await self._enter(Stage.PANEL_REVIEW, action, actor, details={"review_id": self.review_id})

    async def _completeness_check(self) -> None:
        action = await self._take({UPDATE_COMPLETENESS, UPDATE_WITHDRAW})
        if action.kind == UPDATE_WITHDRAW:
            return await self._withdrawn(action)
        d: CompletenessDecision = action.payload
        if d.accept:
            await self._start_review("methodology.completeness_accepted", d.actor)
        else:
            self.reasons = [d.reasons or ""]
            await self._enter(Stage.RETURNED, "methodology.returned", d.actor, deadline=self._resubmission_deadline(),
                              details={"reasons": d.reasons})
            await self._tell_applicant("methodology.returned", f"{self.content.title}: returned for completion",
                                       d.reasons or "")
        self._applied(action)

    async def _await_resubmission(self) -> None:
        action = await self._take({UPDATE_RESUBMIT, UPDATE_WITHDRAW}, until=self.deadline)
        if action is None:
            await self._enter(Stage.WITHDRAWN, "methodology.withdrawn",
                              details={"cause": "resubmission_deadline_missed"})
            await self._tell_applicant("methodology.withdrawn",
                                       f"{self.content.title}: withdrawn, not resubmitted in time")
            return
        if action.kind == UPDATE_WITHDRAW:
            return await self._withdrawn(action)
        r: Resubmission = action.payload
        self.content = r.content
        self.submission_no = r.submission_no
        details = {"note": r.note}
        if self.stage == Stage.RETURNED:
            self.reasons = []
            await self._enter(Stage.COMPLETENESS_CHECK, "methodology.resubmitted", r.actor, details=details)
        else:  # a revision goes straight to the next panel round
            await self._start_review("methodology.resubmitted", r.actor)
        self._applied(action)

    async def _panel_review(self) -> None:
        review = self._review
        action = await self._take({UPDATE_WITHDRAW}, also=review.done)
        if action is not None:
            # A withdrawn case ends its review round: the experts' tasks close with it.
            review.cancel()
            try:
                await review
            except (asyncio.CancelledError, ChildWorkflowError):
                pass
            return await self._withdrawn(action)
        outcome: ReviewOutcome = review.result()
        # The panel's reasons reach the applicant without the experts' identities.
        self.reasons = [d.comments for d in outcome.decisions]
        details = {"review_id": outcome.review_id, "outcome": outcome.outcome.value}
        if outcome.outcome == Vote.APPROVE:
            await self._enter(Stage.PUBLICATION_DECISION, "methodology.panel_approved", details=details)
        elif outcome.outcome == Vote.REJECT:
            await self._enter(Stage.REJECTED, "methodology.rejected", details={**details, "by": "panel"})
            await self._tell_applicant("methodology.rejected", f"{self.content.title}: rejected by the expert panel")
        elif self.round_no >= self.policy.max_revision_rounds:
            await self._enter(Stage.REJECTED, "methodology.rejected",
                              details={**details, "by": "panel", "cause": "max_revision_rounds_reached"})
            await self._tell_applicant("methodology.rejected",
                                       f"{self.content.title}: rejected, revision rounds exhausted")
        else:
            await self._enter(Stage.REVISION, "methodology.revision_requested",
                              deadline=self._resubmission_deadline(), details=details)
            await self._tell_applicant("methodology.revision_requested",
                                       f"{self.content.title}: the expert panel asks for a revision",
                                       "\n\n".join(self.reasons))

    async def _publication_decision(self) -> None:
        action = await self._take({UPDATE_PUBLICATION, UPDATE_WITHDRAW})
        if action.kind == UPDATE_WITHDRAW:
            return await self._withdrawn(action)
        d: PublicationDecision = action.payload
        if not d.publish:
            self.reasons = [d.reason or ""]
            await self._enter(Stage.REJECTED, "methodology.rejected", d.actor, details={"by": "bureau",
                                                                                        "reason": d.reason})
            await self._tell_applicant("methodology.rejected", f"{self.content.title}: not published", d.reason or "")
            return self._applied(action)
        now = workflow.now()
        self.published = await workflow.execute_activity(
            PUBLISH_METHODOLOGY,
            PublishRequest(case_id=self.case_id, published_at=now,
                           reevaluation_due=add_years(now, self.policy.methodology_reevaluation_years),
                           content=self.content, owner_organisation_id=self.start.applicant_organisation_id,
                           actor_user_id=d.actor.user_id),
            result_type=PublishedVersion, **_ACTIVITY)
        await self._enter(Stage.PUBLISHED, "methodology.published", d.actor, details={
            "code": self.published.code, "version_no": self.published.version_no,
            "version_id": self.published.version_id})
        self.current = self.published
        await self._tell_applicant("methodology.published",
                                   f"{self.content.title}: published as {self.published.code} "
                                   f"v{self.published.version_no}")
        self._applied(action)

    # --- after publication: re-evaluations of the current version (Art. 11) ---
    @workflow.update(name=UPDATE_OPEN_REEVALUATION)
    async def open_reevaluation(self, start: ReevaluationStart) -> None:
        # The run loop starts the child, so the re-evaluation belongs to the run, not to a handler.
        self._requested = start
        await workflow.wait_condition(lambda: self._requested is None)

    @open_reevaluation.validator
    def _check_open(self, start: ReevaluationStart) -> None:
        _require_bureau(start.opened_by)
        if self.current is None or self.retired:
            raise _refuse("only a published, not retired methodology is re-evaluated", "conflict")
        if start.version_id != self.current.version_id:
            raise _refuse(f"the current version is v{self.current.version_no}", "conflict")
        if self._requested is not None or (self._reevaluation is not None and not self._reevaluation.done()):
            raise _refuse("a re-evaluation is already open", "conflict")

    def _reevaluated(self) -> bool:
        """Apply a finished re-evaluation; True when it did (the date moved, a new version, or retired)."""
        if self._reevaluation is None or not self._reevaluation.done():
            return False
        outcome: ReevaluationState = self._reevaluation.result()
        self._reevaluation = None
        if outcome.stage == ReevaluationStage.CONFIRMED and outcome.next_reevaluation_due is not None:
            due = max(self.current.reevaluation_due, outcome.next_reevaluation_due)  # never brought forward
            self.current = self.current.model_copy(update={"reevaluation_due": due})
        elif outcome.stage == ReevaluationStage.REVISED and outcome.new_version is not None:
            self.current = outcome.new_version
        elif outcome.stage == ReevaluationStage.RETIRED:
            self.retired = True
        return True

    async def _wait(self, moment: datetime | None) -> bool:
        """Wait until `moment` (None: for ever), starting requested re-evaluations meanwhile; False when
        a re-evaluation finished first."""
        while True:
            if self._requested is not None:
                self._reevaluation = await workflow.start_child_workflow(
                    REEVALUATION_WORKFLOW, self._requested, id=self._requested.case_id,
                    result_type=ReevaluationState)
                self._requested = None
            if self._reevaluated():
                return False
            remaining = None if moment is None else moment - workflow.now()
            if remaining is not None and remaining <= timedelta(0):
                return True
            try:
                await workflow.wait_condition(
                    lambda: self._requested is not None
                    or (self._reevaluation is not None and self._reevaluation.done()), timeout=remaining)
            except asyncio.TimeoutError:
                return True

    async def _follow_publication(self) -> None:
        """Remind the bureau ahead of the current version's re-evaluation date and once more when it is
        due; follow re-evaluations until the methodology is retired."""
        while not self.retired:
            version = self.current
            due = version.reevaluation_due
            label = f"{version.code} v{version.version_no}"
            self._search_attributes(self.stage.value, due)
            if not await self._wait(due - timedelta(days=self.policy.methodology_reevaluation_reminder_days)):
                continue
            await self._notify("methodology.reevaluation_due_soon", f"{label}: re-evaluation due {due.date()}",
                               "Open a re-evaluation to confirm, revise or retire it.")
            if not await self._wait(due):
                continue
            await self._notify("methodology.reevaluation_overdue", f"{label}: re-evaluation was due {due.date()}")
            await self._wait(None)
        self._search_attributes(self.stage.value, None)

    @workflow.run
    async def run(self, start: MethodologyStart) -> MethodologyCaseState:
        self.policy = await workflow.execute_activity(
            SNAPSHOT_POLICY, PolicySnapshotRequest(at=workflow.now()), result_type=PolicyParameters, **_ACTIVITY)
        await self._enter(Stage.COMPLETENESS_CHECK, "methodology.submitted", start.submitted_by,
                          details={"commissioned": start.commissioned})
        steps = {
            Stage.COMPLETENESS_CHECK: self._completeness_check,
            Stage.RETURNED: self._await_resubmission,
            Stage.REVISION: self._await_resubmission,
            Stage.PANEL_REVIEW: self._panel_review,
            Stage.PUBLICATION_DECISION: self._publication_decision,
        }
        while self.stage not in TERMINAL_STAGES:
            await steps[self.stage]()
        if self.stage == Stage.PUBLISHED:
            await self._follow_publication()
        # Actions that arrived after the end are refused rather than left waiting.
        await self._take(set(), also=lambda: True)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state()


@workflow.defn(name=REEVALUATION_WORKFLOW)
class MethodologyReevaluation(_CaseRecorder):
    """A re-evaluation of a published version (a child of the case that published the methodology): the
    bureau confirms it, publishes a revised version, or retires the methodology."""

    _case_type = REEVALUATION_CASE_TYPE

    @workflow.init
    def __init__(self, start: ReevaluationStart) -> None:
        self.start = start
        self.case_id = start.case_id
        self.stage = ReevaluationStage.OPEN
        self.decision: ReevaluationDecision | None = None
        self.new_version: PublishedVersion | None = None
        self.next_due: datetime | None = None
        self._events = 0
        self._decided = False

    def _state(self) -> ReevaluationState:
        return ReevaluationState(case_id=self.case_id, stage=self.stage,
                                 outcome=self.decision.outcome if self.decision else None,
                                 new_version=self.new_version, next_reevaluation_due=self.next_due)

    @workflow.query(name=CASE_STATE_QUERY)
    def case_state(self) -> CaseView:
        tasks = [OpenTask(task_id=f"{self.case_id}-decision", kind="reevaluation", assignee=BUREAU)] \
            if self.stage == ReevaluationStage.OPEN else []
        return CaseView(case_id=self.case_id, case_type=self._case_type, stage=self.stage.value, open_tasks=tasks)

    @workflow.update(name=UPDATE_DECIDE_REEVALUATION)
    async def decide(self, d: ReevaluationDecision) -> ReevaluationState:
        if self.decision is not None:  # a concurrent decision got here first
            raise _refuse("the re-evaluation is already decided", "conflict")
        self.decision = d
        await workflow.wait_condition(lambda: self._decided)
        return self._state()

    @decide.validator
    def _check_decide(self, d: ReevaluationDecision) -> None:
        _require_bureau(d.actor)
        if self.stage != ReevaluationStage.OPEN or self.decision is not None:
            raise _refuse(f"the re-evaluation is at stage '{self.stage.value}'", "conflict")
        if (d.outcome == ReevaluationOutcome.REVISE) != (d.content is not None):
            raise _refuse("a revision needs the new version's content, and only a revision has one", "invalid")

    async def _record(self, stage: ReevaluationStage, action: str, actor: CaseActor, details: dict) -> None:
        self.stage = stage
        self._search_attributes(stage.value, None)
        await self._audit(action, actor, {"stage": stage.value, "code": self.start.code,
                                          "version_no": self.start.version_no, **details})
        await workflow.execute_activity(MIRROR_REEVALUATION, ReevaluationMirror(
            case_id=self.case_id, reevaluation_no=self.start.reevaluation_no, stage=stage,
            occurred_at=workflow.now(), owner_organisation_id=self.start.owner_organisation_id,
            methodology_id=self.start.methodology_id, version_id=self.start.version_id,
            reason=self.decision.reason if self.decision else None,
            new_version_id=self.new_version.version_id if self.new_version else None,
            next_reevaluation_due=self.next_due,
            decided_by_user_id=self.decision.actor.user_id if self.decision else None), **_ACTIVITY)

    @workflow.run
    async def run(self, start: ReevaluationStart) -> ReevaluationState:
        policy = await workflow.execute_activity(
            SNAPSHOT_POLICY, PolicySnapshotRequest(at=workflow.now()), result_type=PolicyParameters, **_ACTIVITY)
        await self._record(ReevaluationStage.OPEN, "methodology.reevaluation_opened", start.opened_by,
                           {"reason": start.reason})
        await workflow.wait_condition(lambda: self.decision is not None)
        d = self.decision
        now = workflow.now()
        if d.outcome == ReevaluationOutcome.CONFIRM:
            self.next_due = add_years(now, policy.methodology_reevaluation_years)
            await self._record(ReevaluationStage.CONFIRMED, "methodology.reevaluation_confirmed", d.actor,
                               {"reason": d.reason, "next_reevaluation_due": self.next_due.isoformat()})
        elif d.outcome == ReevaluationOutcome.REVISE:
            self.new_version = await workflow.execute_activity(
                PUBLISH_METHODOLOGY,
                PublishRequest(case_id=self.case_id, published_at=now,
                               reevaluation_due=add_years(now, policy.methodology_reevaluation_years),
                               content=d.content, owner_organisation_id=start.owner_organisation_id,
                               methodology_id=start.methodology_id, actor_user_id=d.actor.user_id),
                result_type=PublishedVersion, **_ACTIVITY)
            await self._record(ReevaluationStage.REVISED, "methodology.version_published", d.actor,
                               {"reason": d.reason, "new_version_no": self.new_version.version_no,
                                "new_version_id": self.new_version.version_id})
        else:
            await self._record(ReevaluationStage.RETIRED, "methodology.retired", d.actor, {"reason": d.reason})
        self._decided = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state()


WORKFLOWS = [MethodologyCase, MethodologyReevaluation]
