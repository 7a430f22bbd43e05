"""Scenario evaluation (SPEC §2.3, Art. 12–16), on the case kit.

- `ScenarioSpecReview`, one per specification version: the bureau's expert panel evaluates it before
  it is published (Art. 12).
- `ScenarioEvaluation`, one per evaluation case (`scenario-{n}`): checking → in_review (PanelReview
  child; revise → returned → in_review …) → awaiting_decision → published (the case ends: the label
  lives on), or refused / withdrawn / rejected.
- `ScenarioLabelLifetime`, one per label (`scenario-{n}-label`): reminds before the label expires,
  then expires it (the evaluation case then reads expired).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import neutrality
    from domain import scenario as rules
    from domain.contracts.cases import Actor, OpenTask, ParticipantMeasure
    from domain.contracts.neutrality import NEUTRALITY_WORKFLOW, NeutralityStart
    from domain.contracts.neutrality import case_id as neutrality_case_id
    from domain.contracts.review import ReviewOutcome, Vote, review_workflow_id
    from domain.contracts.scenario import (
        CASE_TYPE,
        CHECK_SCENARIO_APPLICATION,
        LABEL_CASE_TYPE,
        LABEL_WORKFLOW,
        PUBLISH_SCENARIO_LABEL,
        SCENARIO_STATE_QUERY,
        SCENARIO_WORKFLOW,
        SPEC_CASE_TYPE,
        SPEC_WORKFLOW,
        TERMINAL_STAGES,
        UPDATE_DECIDE,
        UPDATE_RESUBMIT,
        UPDATE_WITHDRAW,
        ApplicationCheck,
        ApplicationChecked,
        CaseClosure,
        Decision,
        LabelFacts,
        LabelIssued,
        LabelRequest,
        LabelStart,
        OperatorDecision,
        Outcome,
        Resubmission,
        ScenarioApplication,
        ScenarioCaseState,
        ScenarioFacts,
        SpecFacts,
        SpecStart,
        Stage,
        Withdrawal,
    )
    from domain.review import AfterPanel, after_panel
    from domain.roles import Role
    from domain.rules import Kind, Rule
    from workflows.kit import CaseWorkflow, Tell, action, refuse, stage_in

OPERATOR = Role.OPERATOR_ADMIN.value
_OUTCOME = {Stage.REFUSED: Outcome.REFUSED, Stage.WITHDRAWN: Outcome.WITHDRAWN, Stage.REJECTED: Outcome.REJECTED,
            Stage.PUBLISHED: Outcome.PUBLISHED}


def _reason(err: ActivityError) -> str:
    cause = err.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or err)


@workflow.defn(name=SCENARIO_WORKFLOW)
class ScenarioEvaluation(CaseWorkflow):
    CASE_TYPE = CASE_TYPE
    ENTITY_TYPE = "scenario_case"
    AUDIT_PREFIX = "scenario"
    TASKS = {Stage.IN_REVIEW: ("review", OPERATOR), Stage.RETURNED: ("resubmission", Role.APPLICANT.value),
             Stage.AWAITING_DECISION: ("decision", OPERATOR)}

    @workflow.init
    def __init__(self, app: ScenarioApplication) -> None:
        self.app = app
        self.state = ScenarioCaseState(case_id=app.case_id, stage=Stage.CHECKING, round_no=1)
        self.open_case(app.case_id, app.deployment_id, Stage.CHECKING)
        self.checked: ApplicationChecked | None = None
        self.applicant = Actor(user_id=app.actor_user_id, role=Role.APPLICANT.value,
                               organisation_id=app.applicant_organisation_id)

    stage = stage_in("state")

    @workflow.run
    async def run(self, app: ScenarioApplication) -> ScenarioCaseState:
        await self.begin("application_submitted", self.applicant, {"self_assessment_id": app.self_assessment_id})
        async with self._lock:
            try:
                self._take(await self._check(app.self_assessment_id, 1))
            except ActivityError as err:
                # The self-assessment failed a gate or the pass mark when the workflow looked again.
                await self._close(Stage.REFUSED, "refused", None, _reason(err))
            else:
                await self._review_round()
        await self.follow(TERMINAL_STAGES, {Stage.IN_REVIEW: lambda: self.after_review(self._reviewed),
                                   Stage.RETURNED: lambda: self.when_due(self.state.deadline, self._not_resubmitted)})
        await self.close()
        return self.state

    async def _check(self, self_assessment_id: int, round_no: int) -> ApplicationChecked:
        return await self.act(
            CHECK_SCENARIO_APPLICATION,
            ApplicationCheck(case_id=self.case_id, scenario_id=self.app.scenario_id,
                             self_assessment_id=self_assessment_id, round_no=round_no, occurred_at=workflow.now()),
            ApplicationChecked)

    def _take(self, checked: ApplicationChecked) -> None:
        self.checked = checked
        self.state.spec_id = checked.spec_id
        self.state.pass_mark = checked.pass_mark
        self.state.self_score = checked.self_score

    async def _review_round(self) -> None:
        assert self.checked is not None
        self.state.review_id = await self.start_review(
            self.state.round_no, authority_role=OPERATOR, subject=self.checked.subject,
            applicant_organisation_id=self.app.applicant_organisation_id, criteria=self.checked.criteria)
        self.state.deadline = None
        await self.step(Stage.IN_REVIEW, "review_started", None, {"review_id": self.state.review_id,
                                                                   "self_score": self.state.self_score})

    async def _reviewed(self, outcome: ReviewOutcome) -> None:
        self.state.panel_outcome = outcome.outcome
        self.state.panel_mean_score_hundredths = outcome.mean_score_hundredths
        if after_panel(outcome.outcome, self.state.round_no, self.policy) == AfterPanel.REVISION:
            self.state.deadline = workflow.now() + timedelta(days=self.policy.revision_days)
            await self.step(Stage.RETURNED, "returned_for_revision", None, {
                "round_no": self.state.round_no, "mean_score_hundredths": outcome.mean_score_hundredths},
                tell=[Tell("returned", f"Scenario {self.case_id}: revise and resubmit by "
                           f"{self.state.deadline.isoformat()}", body="\n\n".join(d.comments for d in outcome.decisions),
                           organisations=[self.app.applicant_organisation_id])])
        else:  # approved, rejected, or a revise after the last round: the operator decides
            await self.step(Stage.AWAITING_DECISION, "review_concluded", None, {
                "panel_outcome": outcome.outcome.value, "mean_score_hundredths": outcome.mean_score_hundredths},
                tell=[Tell("awaiting_decision", f"Scenario {self.case_id}: the panel has concluded; decide",
                           roles=[OPERATOR])])

    async def _not_resubmitted(self) -> None:
        # SPEC §2.1: without a resubmission in time the case is withdrawn.
        await self._close(Stage.WITHDRAWN, "withdrawn", None, f"no resubmission within {self.policy.revision_days} days")

    async def _close(self, stage: Stage, action: str, actor: Actor | None, reasons: str | None, **kwargs: Any) -> None:
        self.state.deadline = None
        await self.step(stage, action, actor, {"reasons": reasons, **kwargs.pop("details", {})},
                        facts=self._facts(stage, reasons), **kwargs)

    # --- the kit's hooks ------------------------------------------------------------------------

    def deadline(self) -> datetime | None:
        return self.state.deadline

    def mirror(self) -> dict[str, Any]:
        s = self.state
        return {"owner_organisation_id": self.app.applicant_organisation_id,
                "title": self.checked.subject if self.checked else None,
                "details": {"scenario_id": self.app.scenario_id, "round_no": s.round_no, "label_code": s.label_code,
                            "valid_until": s.valid_until.isoformat() if s.valid_until else None,
                            "panel_mean_score_hundredths": s.panel_mean_score_hundredths}}

    def facts(self) -> ScenarioFacts:
        return ScenarioFacts(stage=self.stage)

    def _facts(self, stage: Stage, reasons: str | None) -> ScenarioFacts:
        return ScenarioFacts(stage=stage, closure=CaseClosure(
            outcome=_OUTCOME[stage], occurred_at=workflow.now(), reasons=reasons, panel_outcome=self.state.panel_outcome,
            panel_mean_score_hundredths=self.state.panel_mean_score_hundredths))

    def open_tasks(self) -> list[OpenTask]:
        tasks = super().open_tasks()
        if self.stage == Stage.IN_REVIEW and self.state.review_id:
            tasks = [t.model_copy(update={"task_id": self.state.review_id}) for t in tasks]
        return tasks

    @workflow.query(name=SCENARIO_STATE_QUERY)
    def scenario_state(self) -> ScenarioCaseState:
        return self.state

    # --- human actions -------------------------------------------------------------------------

    def _as_applicant(self, actor: Actor) -> None:
        if actor.organisation_id != self.app.applicant_organisation_id:
            raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only the scenario's own organisation may do this")

    def _check_withdraw(self, w: Withdrawal) -> None:
        self._as_applicant(w.actor)
        if self.stage in TERMINAL_STAGES:
            raise refuse(Kind.CONFLICT, Rule.STAGE, f"the case is {self.stage.value}; withdrawal ends at the decision")

    @action(UPDATE_WITHDRAW, check=_check_withdraw)
    async def withdraw(self, w: Withdrawal) -> ScenarioCaseState:
        # In review, the main loop then cancels the round: the experts' tasks close with it.
        await self._close(Stage.WITHDRAWN, "withdrawn", w.actor, w.reason)
        return self.state

    async def on_terminated(self, m: ParticipantMeasure) -> None:
        """Art. 33: the scenario operator is terminated: the case is withdrawn with the reason (until the
        decision, as a withdrawal could)."""
        if self.stage in TERMINAL_STAGES:
            await self.step(self.stage, "participant_terminated", None, {"sanction": m.sanction_case_id})
        else:
            await self._close(Stage.WITHDRAWN, "withdrawn_by_sanction", None, m.reason,
                              details={"sanction": m.sanction_case_id})

    def _check_resubmit(self, r: Resubmission) -> None:
        self._as_applicant(r.actor)
        if self.stage != Stage.RETURNED:
            raise refuse(Kind.CONFLICT, Rule.STAGE, f"the case is {self.stage.value} (round {self.state.round_no}); "
                                                    "nothing awaits a resubmission")

    @action(UPDATE_RESUBMIT, check=_check_resubmit)
    async def resubmit(self, r: Resubmission) -> ScenarioCaseState:
        try:
            checked = await self._check(r.self_assessment_id, self.state.round_no + 1)
        except ActivityError as err:
            raise refuse(Kind.INVALID, "self_assessment", _reason(err), field="self_assessment_id") from None
        self._take(checked)
        self.state.round_no += 1
        await self.step(self.stage, "resubmitted", r.actor, {"self_assessment_id": r.self_assessment_id,
                                                             "round_no": self.state.round_no})
        await self._review_round()
        return self.state

    def _check_decide(self, d: OperatorDecision) -> None:
        if d.actor.role != OPERATOR:
            raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only the operator decides")
        if self.stage != Stage.AWAITING_DECISION:
            raise refuse(Kind.CONFLICT, Rule.STAGE, f"the case is {self.stage.value}; no decision is awaited")
        if d.decision == Decision.REJECT and not d.reasons.strip():
            raise refuse(Kind.INVALID, Rule.REQUIRED, "a rejection needs reasons", field="reasons")
        if d.decision == Decision.PUBLISH:
            refusals = rules.publication_refusals(
                self.state.panel_outcome, self.state.panel_mean_score_hundredths, self.state.pass_mark or 0)
            if refusals:
                raise refuse(Kind.INVALID, Rule.ART14_EVALUATION_PASSED, "cannot publish: " + "; ".join(refusals))

    @action(UPDATE_DECIDE, check=_check_decide)
    async def decide(self, d: OperatorDecision) -> ScenarioCaseState:
        if d.decision == Decision.REJECT:
            await self._close(Stage.REJECTED, "rejected", d.actor, d.reasons, tell=[Tell(
                "rejected", f"Scenario {self.case_id} was not published", body=d.reasons,
                organisations=[self.app.applicant_organisation_id])])
            return self.state
        now = workflow.now()
        label = await self.act(PUBLISH_SCENARIO_LABEL, LabelRequest(
            case_id=self.case_id, published_at=now,
            validity_years=d.validity_years or self.policy.scenario_label_validity_years, include=d.include,
            actor_user_id=d.actor.user_id), LabelIssued)
        self.state.label_code, self.state.valid_until = label.code, label.valid_until
        # The label's reminder and expiry run on their own: this case ends here.
        start = LabelStart(case_id=f"{self.case_id}-label", deployment_id=self.deployment_id,
                           scenario_case_id=self.case_id, applicant_organisation_id=self.app.applicant_organisation_id,
                           label_code=label.code, valid_until=label.valid_until)
        await self.start_case(LABEL_WORKFLOW, start, start.case_id)
        # Art. 17: from publication on, the scenario offsets its own emissions every year (one durable
        # obligation per scenario). Patched: cases published before this existed replay without it.
        if workflow.patched("scenario-annual-neutrality"):
            duty = NeutralityStart(
                case_id=neutrality_case_id(self.app.scenario_id), deployment_id=self.deployment_id,
                scenario_id=self.app.scenario_id, organisation_id=self.app.applicant_organisation_id,
                label_code=label.code, label_valid_until=label.valid_until, year=neutrality.year_of(now))
            await self.start_case(NEUTRALITY_WORKFLOW, duty, duty.case_id)
        await self._close(Stage.PUBLISHED, "published", d.actor, d.reasons or None, details={
            "label_code": label.code, "valid_until": label.valid_until.isoformat(), "included": d.include},
            tell=[Tell("published", f"Scenario label {label.code} granted, valid until "
                       f"{label.valid_until.date().isoformat()}", organisations=[self.app.applicant_organisation_id])])
        return self.state


@workflow.defn(name=LABEL_WORKFLOW)
class ScenarioLabelLifetime(CaseWorkflow):
    """Durable timers of a label: remind the operator and the scenario before it expires, then expire it
    (the label's validity is a policy choice, `scenario_label_validity_years`; no article sets it)."""

    CASE_TYPE = LABEL_CASE_TYPE
    ENTITY_TYPE = "scenario_case"
    AUDIT_PREFIX = "scenario"
    TASKS = {"valid": ("reevaluation", Role.APPLICANT.value), "expiring": ("reevaluation", Role.APPLICANT.value)}

    @workflow.init
    def __init__(self, start: LabelStart) -> None:
        self.start = start
        self.open_case(start.case_id, start.deployment_id, "valid")
        self.expired_at: datetime | None = None

    @workflow.run
    async def run(self, start: LabelStart) -> str:
        await self.begin("label_valid", None, {"label_code": start.label_code})
        remind_at = rules.expiry_reminder_at(start.valid_until, self.policy.scenario_expiry_reminder_days)
        await workflow.sleep(max(timedelta(0), remind_at - workflow.now()))
        await self.step("expiring", "label_expiry_reminded", None, {"label_code": start.label_code}, tell=[Tell(
            "label_expiry_reminder", f"Scenario label {start.label_code} expires on "
            f"{start.valid_until.date().isoformat()}: apply for re-evaluation", roles=[OPERATOR],
            organisations=[start.applicant_organisation_id], case_id=start.scenario_case_id)])
        await workflow.sleep(max(timedelta(0), start.valid_until - workflow.now()))
        self.expired_at = workflow.now()
        await self.step("expired", "label_expired", None, {"label_code": start.label_code}, tell=[Tell(
            "label_expired", f"Scenario label {start.label_code} has expired", roles=[OPERATOR],
            organisations=[start.applicant_organisation_id], case_id=start.scenario_case_id)])
        await self.close()
        return str(self.stage)

    def deadline(self) -> datetime | None:
        return self.start.valid_until if self.stage != "expired" else None

    def mirror(self) -> dict[str, Any]:
        return {"owner_organisation_id": self.start.applicant_organisation_id, "title": self.start.label_code,
                "details": {"scenario_case_id": self.start.scenario_case_id}}

    def facts(self) -> LabelFacts:
        return LabelFacts(scenario_case_id=self.start.scenario_case_id, expired_at=self.expired_at)

    def audit_case_id(self) -> str:
        return self.start.scenario_case_id


@workflow.defn(name=SPEC_WORKFLOW)
class ScenarioSpecReview(CaseWorkflow):
    """Art. 12: the operator drafts an evaluation specification; the bureau has the expert committee
    evaluate it; it is published once the panel approves, else returned (the operator drafts anew)."""

    CASE_TYPE = SPEC_CASE_TYPE
    ENTITY_TYPE = "scenario_spec"
    AUDIT_PREFIX = "scenario_spec"
    TASKS = {"in_review": ("review", Role.BUREAU_ADMIN.value)}

    @workflow.init
    def __init__(self, start: SpecStart) -> None:
        self.start = start
        self.open_case(start.case_id, start.deployment_id, "in_review")
        self.review_id = review_workflow_id(start.case_id, 1)  # as the API announced it
        self.reasons: list[str] = []

    @workflow.run
    async def run(self, start: SpecStart) -> str:
        await self.begin("submitted_for_review", start.requested_by, {"spec_id": start.spec_id})
        async with self._lock:
            self.review_id = await self.start_review(
                1, authority_role=Role.BUREAU_ADMIN.value, applicant_organisation_id=start.requested_by.organisation_id,
                subject=f"Evaluation specification: {start.title} ({start.category} v{start.version})")
            await self.step("in_review", "review_started", None, {"review_id": self.review_id},
                            tell=[Tell("review_needed", f"Evaluation specification {start.category} v{start.version}: "
                                       "form the expert panel", roles=[Role.BUREAU_ADMIN.value])])
        await self.follow({"published", "returned"}, {"in_review": lambda: self.after_review(self._reviewed)})
        await self.close()
        return str(self.stage)

    async def _reviewed(self, outcome: ReviewOutcome) -> None:
        details = {"review_id": outcome.review_id, "outcome": outcome.outcome.value}
        operator = [Role.OPERATOR_ADMIN.value]
        if outcome.outcome == Vote.APPROVE:
            await self.step("published", "published", None, details, tell=[Tell(
                "published", f"Evaluation specification {self.start.category} v{self.start.version} is published",
                roles=operator)])
        else:
            self.reasons = [d.comments for d in outcome.decisions]
            await self.step("returned", "returned", None, details, tell=[Tell(
                "returned", f"Evaluation specification {self.start.category} v{self.start.version} was not approved; "
                "draft a new version", body="\n\n".join(self.reasons), roles=operator)])

    def mirror(self) -> dict[str, Any]:
        return {"owner_organisation_id": self.start.requested_by.organisation_id,
                "title": f"{self.start.title} ({self.start.category} v{self.start.version})",
                "details": {"spec_id": self.start.spec_id}}

    def facts(self) -> SpecFacts:
        return SpecFacts(spec_id=self.start.spec_id, status=str(self.stage), review_id=self.review_id,
                         reasons=self.reasons,
                         published_by=self.start.requested_by.user_id if self.stage == "published" else None)


WORKFLOWS: list[type] = [ScenarioEvaluation, ScenarioLabelLifetime, ScenarioSpecReview]
