"""Scenario evaluation (SPEC §2.3, Art. 12–16): one workflow per evaluation case, id `scenario-{n}`.

checking → in_review (PanelReview child; revise → returned → in_review …) → awaiting_decision →
published (label; reminder before expiry) → expired, or refused / withdrawn / rejected.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import scenario_rules as rules
    from domain.contracts.audit import RECORD_AUDIT, AuditRecord
    from domain.contracts.cases import CASE_STATE_QUERY, MIRROR_CASE, CaseMirror, CaseView, OpenTask
    from domain.contracts.notifications import NOTIFY, Notification
    from domain.contracts.policy import SNAPSHOT_POLICY, PolicySnapshotRequest
    from domain.contracts.review import REVIEW_WORKFLOW, ReviewOutcome, ReviewRequest, Vote, review_workflow_id
    from domain.contracts.scenario import (
        CASE_TYPE,
        CHECK_SCENARIO_APPLICATION,
        CLOSE_SCENARIO_CASE,
        EXPIRE_SCENARIO_LABEL,
        PUBLISH_SCENARIO_LABEL,
        SCENARIO_STATE_QUERY,
        SCENARIO_WORKFLOW,
        TERMINAL,
        UPDATE_DECIDE,
        UPDATE_RESUBMIT,
        UPDATE_WITHDRAW,
        ApplicationCheck,
        ApplicationChecked,
        CaseClosure,
        Decision,
        LabelExpiry,
        LabelIssued,
        LabelRequest,
        OperatorDecision,
        Outcome,
        Resubmission,
        ScenarioApplication,
        ScenarioCaseState,
        Stage,
        Withdrawal,
    )
    from domain.policy import PolicyParameters
    from domain.roles import Role
    from workflows import search_attributes as sa

ACTIVITY_TIMEOUT = timedelta(minutes=2)
RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))


def _reason(err: ActivityError) -> str:
    cause = err.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or err)


@workflow.defn(name=SCENARIO_WORKFLOW)
class ScenarioEvaluation:
    @workflow.init
    def __init__(self, app: ScenarioApplication) -> None:
        self.app = app
        self.state = ScenarioCaseState(case_id=app.case_id, stage=Stage.CHECKING, round_no=1)
        self.policy: PolicyParameters | None = None
        self.withdrawal: Withdrawal | None = None
        self.resubmission: Resubmission | None = None
        self.decision: OperatorDecision | None = None
        self.lapsed_reason: str | None = None  # the revision period ran out
        self.checked: ApplicationChecked | None = None
        self.settled = Stage.CHECKING  # the stage once audited and mirrored: what updates answer with
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self, app: ScenarioApplication) -> ScenarioCaseState:
        self.policy = await self._activity(SNAPSHOT_POLICY, PolicySnapshotRequest(at=workflow.now()),
                                           result_type=PolicyParameters)
        await self._enter(Stage.CHECKING, "scenario.application_submitted", actor=app.actor_user_id,
                          role=Role.APPLICANT, details={"self_assessment_id": app.self_assessment_id})
        try:
            checked = await self._check(app.self_assessment_id, 1)
        except ActivityError as err:
            # The self-assessment failed a gate or the pass mark when the workflow looked again.
            return await self._close(Stage.REFUSED, Outcome.REFUSED, reasons=_reason(err))
        self._take(checked)
        if self.withdrawal is not None:
            return await self._withdrawn()

        while True:
            outcome = await self._review()
            if outcome is None:
                return await self._withdrawn()
            if outcome.outcome != Vote.REVISE or self.state.round_no > self.policy.max_revision_rounds:
                break
            if not await self._await_resubmission(outcome):
                return await self._withdrawn()

        await self._enter(Stage.AWAITING_DECISION, "scenario.review_concluded", details={
            "panel_outcome": outcome.outcome.value, "mean_score_hundredths": outcome.mean_score_hundredths})
        await self._notify("scenario.awaiting_decision", f"Scenario {app.case_id}: the panel has concluded; decide",
                           roles=[Role.OPERATOR_ADMIN])
        await workflow.wait_condition(lambda: self.decision is not None or self.withdrawal is not None)
        await workflow.wait_condition(lambda: not self.lock.locked())
        if self.withdrawal is not None:
            return await self._withdrawn()
        decision = self.decision
        assert decision is not None
        if decision.decision == Decision.REJECT:
            await self._notify("scenario.rejected", f"Scenario {app.case_id} was not published", body=decision.reasons,
                               organisations=[app.applicant_organisation_id])
            return await self._close(Stage.REJECTED, Outcome.REJECTED, reasons=decision.reasons,
                                     actor=decision.actor_user_id, role=Role.OPERATOR_ADMIN)

        await self._publish(decision)
        await self._label_lifetime()
        return self.state

    # --- stages ---

    async def _check(self, self_assessment_id: int, round_no: int) -> ApplicationChecked:
        return await self._activity(
            CHECK_SCENARIO_APPLICATION,
            ApplicationCheck(case_id=self.app.case_id, scenario_id=self.app.scenario_id,
                             self_assessment_id=self_assessment_id, round_no=round_no, occurred_at=workflow.now()),
            result_type=ApplicationChecked)

    def _take(self, checked: ApplicationChecked) -> None:
        self.checked = checked
        self.state.spec_id = checked.spec_id
        self.state.pass_mark = checked.pass_mark
        self.state.self_score = checked.self_score

    async def _review(self) -> ReviewOutcome | None:
        """Run the panel review of the current round; None when the applicant withdrew meanwhile."""
        assert self.policy is not None
        assert self.checked is not None
        review_id = review_workflow_id(self.app.case_id, self.state.round_no)
        self.state.review_id = review_id
        await self._enter(Stage.IN_REVIEW, "scenario.review_started", deadline=None,
                          details={"review_id": review_id, "self_score": self.state.self_score})
        child = await workflow.start_child_workflow(
            REVIEW_WORKFLOW,
            ReviewRequest(case_id=self.app.case_id, case_type=CASE_TYPE, round_no=self.state.round_no,
                          authority_role=Role.OPERATOR_ADMIN.value, subject=self.checked.subject,
                          applicant_organisation_id=self.app.applicant_organisation_id, policy=self.policy,
                          criteria=self.checked.criteria),
            id=review_id, result_type=ReviewOutcome,
            cancellation_type=workflow.ChildWorkflowCancellationType.TRY_CANCEL)
        await workflow.wait_condition(lambda: child.done() or self.withdrawal is not None)
        if not child.done():
            child.cancel()
            try:
                await child
            except (asyncio.CancelledError, Exception):  # the child's end no longer matters
                pass
            return None
        outcome = child.result()
        self.state.panel_outcome = outcome.outcome
        self.state.panel_mean_score_hundredths = outcome.mean_score_hundredths
        return outcome

    async def _await_resubmission(self, outcome: ReviewOutcome) -> bool:
        """Return the case to the applicant; True once a revised self-assessment is accepted."""
        assert self.policy is not None
        deadline = workflow.now() + timedelta(days=self.policy.revision_days)
        comments = "\n\n".join(d.comments for d in outcome.decisions)
        await self._enter(Stage.RETURNED, "scenario.returned_for_revision", deadline=deadline,
                          details={"round_no": self.state.round_no, "mean_score_hundredths": outcome.mean_score_hundredths})
        await self._notify("scenario.returned", f"Scenario {self.app.case_id}: revise and resubmit by {deadline.isoformat()}",
                           body=comments, organisations=[self.app.applicant_organisation_id])
        round_no = self.state.round_no
        accepted = lambda: self.resubmission is not None and self.resubmission.round_no == round_no  # noqa: E731
        remaining = (deadline - workflow.now()).total_seconds()
        if remaining > 0:
            try:
                await workflow.wait_condition(lambda: accepted() or self.withdrawal is not None,
                                              timeout=timedelta(seconds=remaining))
            except asyncio.TimeoutError:
                pass
        # A resubmission being checked when the deadline passed still counts if it is accepted.
        await workflow.wait_condition(lambda: not self.lock.locked())
        if self.withdrawal is not None:
            return False
        if not accepted():
            # SPEC §2.1: without a resubmission in time the case is withdrawn.
            self.lapsed_reason = f"no resubmission within {self.policy.revision_days} days"
            return False
        self.state.round_no = round_no + 1
        return True

    async def _publish(self, decision: OperatorDecision) -> None:
        assert self.policy is not None
        now = workflow.now()
        label = await self._activity(PUBLISH_SCENARIO_LABEL, LabelRequest(
            case_id=self.app.case_id, published_at=now,
            validity_years=decision.validity_years or self.policy.scenario_label_validity_years,
            include=decision.include, actor_user_id=decision.actor_user_id), result_type=LabelIssued)
        self.state.label_code = label.code
        self.state.valid_until = label.valid_until
        await self._activity(CLOSE_SCENARIO_CASE, self._closure(Outcome.PUBLISHED, decision.reasons or None))
        await self._enter(Stage.PUBLISHED, "scenario.published", deadline=label.valid_until,
                          actor=decision.actor_user_id, role=Role.OPERATOR_ADMIN,
                          details={"label_code": label.code, "valid_until": label.valid_until.isoformat(),
                                   "included": decision.include})
        await self._notify("scenario.published", f"Scenario label {label.code} granted, valid until "
                           f"{label.valid_until.date().isoformat()}", organisations=[self.app.applicant_organisation_id])

    async def _label_lifetime(self) -> None:
        """Durable timers: remind before the label expires, then show it as expired."""
        assert self.policy is not None and self.state.valid_until is not None
        valid_until = self.state.valid_until
        remind_at = rules.expiry_reminder_at(valid_until, self.policy.scenario_expiry_reminder_days)
        await self._sleep_until(remind_at)
        self.state.expiry_reminded = True
        await self._audit("scenario.label_expiry_reminded", details={"label_code": self.state.label_code})
        await self._notify("scenario.label_expiry_reminder",
                           f"Scenario label {self.state.label_code} expires on {valid_until.date().isoformat()}: "
                           "apply for re-evaluation", roles=[Role.OPERATOR_ADMIN],
                           organisations=[self.app.applicant_organisation_id])
        await self._mirror()
        await self._sleep_until(valid_until)
        await self._activity(EXPIRE_SCENARIO_LABEL, LabelExpiry(case_id=self.app.case_id, expired_at=workflow.now()))
        await self._enter(Stage.EXPIRED, "scenario.label_expired", deadline=None,
                          details={"label_code": self.state.label_code})
        await self._notify("scenario.label_expired", f"Scenario label {self.state.label_code} has expired",
                           roles=[Role.OPERATOR_ADMIN], organisations=[self.app.applicant_organisation_id])

    async def _sleep_until(self, at: datetime) -> None:
        remaining = (at - workflow.now()).total_seconds()
        if remaining > 0:
            await workflow.sleep(timedelta(seconds=remaining))

    async def _withdrawn(self) -> ScenarioCaseState:
        w = self.withdrawal
        if w is None:
            return await self._close(Stage.WITHDRAWN, Outcome.WITHDRAWN, reasons=self.lapsed_reason)
        return await self._close(Stage.WITHDRAWN, Outcome.WITHDRAWN, reasons=w.reason, actor=w.actor_user_id,
                                 role=Role.APPLICANT)

    async def _close(self, stage: Stage, outcome: Outcome, *, reasons: str | None, actor: int | None = None,
                     role: str | None = None) -> ScenarioCaseState:
        await self._activity(CLOSE_SCENARIO_CASE, self._closure(outcome, reasons))
        await self._enter(stage, f"scenario.{stage.value}", deadline=None, actor=actor, role=role,
                          details={"reasons": reasons})
        return self.state

    def _closure(self, outcome: Outcome, reasons: str | None) -> CaseClosure:
        return CaseClosure(case_id=self.app.case_id, outcome=outcome, occurred_at=workflow.now(), reasons=reasons,
                           panel_outcome=self.state.panel_outcome,
                           panel_mean_score_hundredths=self.state.panel_mean_score_hundredths)

    # --- human actions ---

    def _require_applicant(self, organisation_id: int) -> None:
        if organisation_id != self.app.applicant_organisation_id:
            raise ApplicationError("only the scenario's own organisation may do this", type="Forbidden")

    @workflow.update(name=UPDATE_WITHDRAW)
    async def withdraw(self, w: Withdrawal) -> ScenarioCaseState:
        self.withdrawal = w
        await workflow.wait_condition(lambda: self.settled in TERMINAL)
        return self.state

    @withdraw.validator
    def _validate_withdraw(self, w: Withdrawal) -> None:
        self._require_applicant(w.actor_organisation_id)
        if self.withdrawal is not None:
            raise ApplicationError("the application is already withdrawn", type="Conflict")
        if self.decision is not None or self.state.stage in TERMINAL or self.state.stage == Stage.PUBLISHED:
            raise ApplicationError(f"the case is {self.state.stage.value}; withdrawal ends at the decision",
                                   type="Conflict")

    @workflow.update(name=UPDATE_RESUBMIT)
    async def resubmit(self, r: Resubmission) -> ScenarioCaseState:
        async with self.lock:
            try:
                checked = await self._check(r.self_assessment_id, r.round_no + 1)
            except ActivityError as err:
                raise ApplicationError(_reason(err), type="SelfAssessmentFails") from None
            self._take(checked)
            self.resubmission = r
            await self._audit("scenario.resubmitted", actor=r.actor_user_id, role=Role.APPLICANT,
                              details={"self_assessment_id": r.self_assessment_id, "round_no": r.round_no + 1})
        await workflow.wait_condition(lambda: self.settled in TERMINAL or (
            self.settled == Stage.IN_REVIEW and self.state.round_no > r.round_no))
        return self.state

    @resubmit.validator
    def _validate_resubmit(self, r: Resubmission) -> None:
        self._require_applicant(r.actor_organisation_id)
        if self.state.stage != Stage.RETURNED or r.round_no != self.state.round_no or self.lock.locked():
            raise ApplicationError(f"the case is {self.state.stage.value} (round {self.state.round_no}); "
                                   "nothing awaits a resubmission", type="Conflict")
        if self.withdrawal is not None:
            raise ApplicationError("the application is withdrawn", type="Conflict")

    @workflow.update(name=UPDATE_DECIDE)
    async def decide(self, d: OperatorDecision) -> ScenarioCaseState:
        self.decision = d
        await workflow.wait_condition(lambda: self.settled in TERMINAL or self.settled == Stage.PUBLISHED)
        return self.state

    @decide.validator
    def _validate_decide(self, d: OperatorDecision) -> None:
        if self.state.stage != Stage.AWAITING_DECISION or self.decision is not None or self.withdrawal is not None:
            raise ApplicationError(f"the case is {self.state.stage.value}; no decision is awaited", type="Conflict")
        if d.decision == Decision.REJECT and not d.reasons.strip():
            raise ApplicationError("a rejection needs reasons", type="Invalid")
        if d.decision == Decision.PUBLISH:
            refusals = rules.publication_refusals(
                self.state.panel_outcome, self.state.panel_mean_score_hundredths, self.state.pass_mark or 0)
            if refusals:
                raise ApplicationError("cannot publish: " + "; ".join(refusals), type="Invalid")

    @workflow.query(name=SCENARIO_STATE_QUERY)
    def scenario_state(self) -> ScenarioCaseState:
        return self.state

    @workflow.query(name=CASE_STATE_QUERY)
    def case_state(self) -> CaseView:
        tasks: list[OpenTask] = []
        stage = self.state.stage
        if stage == Stage.IN_REVIEW and self.state.review_id:
            tasks.append(OpenTask(task_id=self.state.review_id, kind="review", assignee=Role.OPERATOR_ADMIN.value))
        elif stage == Stage.RETURNED:
            tasks.append(OpenTask(task_id=f"resubmit-{self.app.case_id}-{self.state.round_no}", kind="resubmission",
                                  assignee=Role.APPLICANT.value, due=self.state.deadline))
        elif stage == Stage.AWAITING_DECISION:
            tasks.append(OpenTask(task_id=f"decision-{self.app.case_id}", kind="decision",
                                  assignee=Role.OPERATOR_ADMIN.value))
        return CaseView(case_id=self.app.case_id, case_type=CASE_TYPE, stage=stage.value,
                        deadline=self.state.deadline, open_tasks=tasks)

    # --- plumbing: activities, audit, mirror, search attributes, notifications ---

    async def _activity(self, name: str, arg, *, result_type=None):
        return await workflow.execute_activity(name, arg, result_type=result_type,
                                               start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)

    async def _enter(self, stage: Stage, action: str, *, deadline: datetime | None = None, actor: int | None = None,
                     role: str | None = None, details: dict | None = None) -> None:
        self.state.stage = stage
        self.state.deadline = deadline
        await self._audit(action, actor=actor, role=role, details=details)
        await self._mirror()
        self.settled = stage

    async def _audit(self, action: str, *, actor: int | None = None, role: str | None = None,
                     details: dict | None = None) -> None:
        case_id = self.app.case_id
        await self._activity(RECORD_AUDIT, AuditRecord(
            dedupe_key=f"{case_id}:{action}:{self.state.round_no}", occurred_at=workflow.now(), action=action,
            entity_type="scenario_case", entity_id=case_id, case_id=case_id, workflow_id=workflow.info().workflow_id,
            actor_user_id=actor, actor_role=str(role) if role else "system",
            details={**(details or {}), "stage": self.state.stage.value}))

    async def _mirror(self) -> None:
        s = self.state
        await self._activity(MIRROR_CASE, CaseMirror(
            case_id=s.case_id, case_type=CASE_TYPE, stage=s.stage.value, occurred_at=workflow.now(),
            owner_organisation_id=self.app.applicant_organisation_id, deadline=s.deadline,
            title=self.checked.subject if self.checked else None,
            details={"scenario_id": self.app.scenario_id, "round_no": s.round_no, "label_code": s.label_code,
                     "valid_until": s.valid_until.isoformat() if s.valid_until else None,
                     "expiry_reminded": s.expiry_reminded,
                     "panel_mean_score_hundredths": s.panel_mean_score_hundredths}))
        sa.upsert_case(CASE_TYPE, s.case_id, s.stage.value, s.deadline)

    async def _notify(self, kind: str, subject: str, *, body: str = "", roles: list[Role] | None = None,
                      organisations: list[int] | None = None) -> None:
        await self._activity(NOTIFY, Notification(
            dedupe_key=f"{self.app.case_id}:{kind}:{self.state.round_no}", occurred_at=workflow.now(), kind=kind,
            subject=subject, body=body, case_id=self.app.case_id,
            recipient_roles=[r.value for r in roles or []], recipient_organisation_ids=organisations or []))


WORKFLOWS: list[type] = [ScenarioEvaluation]
