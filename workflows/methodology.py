"""Methodology process (SPEC §2.2; Art. 7, 9–11), on the case kit.

- `MethodologyCase`, one per submission: completeness check → panel review rounds (revision between
  them) → the bureau's publication decision → published (code, v1), or returned / rejected /
  withdrawn. It ends at publication, starting the reminders of the version's re-evaluation date.
- `MethodologyReevaluation`, one per re-evaluation the bureau opens: confirm (the date moves on),
  revise (the new version goes through a panel review like a first submission, Art. 7 with Art. 11,
  then is published) or retire.
- `MethodologyReevaluationReminders`, one per re-evaluation date: reminds the bureau ahead of it and
  when it is reached, unless the version was re-evaluated meanwhile.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.contracts.cases import Actor, ParticipantMeasure
    from domain.contracts.methodology import (
        CASE_TYPE,
        METHODOLOGY_WORKFLOW,
        PUBLISH_METHODOLOGY,
        REEVALUATION_CASE_TYPE,
        REEVALUATION_DUE,
        REEVALUATION_WORKFLOW,
        REMINDERS_CASE_TYPE,
        REMINDERS_WORKFLOW,
        UPDATE_COMPLETENESS,
        UPDATE_DECIDE_REEVALUATION,
        UPDATE_PUBLICATION,
        UPDATE_RESUBMIT,
        UPDATE_WITHDRAW,
        CompletenessDecision,
        DueCheck,
        MethodologyCaseState,
        MethodologyContent,
        MethodologyFacts,
        MethodologyStart,
        PublicationDecision,
        PublishedVersion,
        PublishRequest,
        ReevaluationDecision,
        ReevaluationFacts,
        ReevaluationStart,
        ReevaluationState,
        RemindersStart,
        Resubmission,
        Withdrawal,
        reevaluation_reminders_id,
    )
    from domain.contracts.review import ReviewOutcome, Vote
    from domain.methodology import (
        RESUBMITTABLE_STAGES,
        TERMINAL_STAGES,
        WITHDRAWABLE_STAGES,
        ReevaluationOutcome,
        ReevaluationStage,
        Stage,
        add_years,
    )
    from domain.review import AfterPanel, after_panel
    from domain.roles import Role
    from domain.rules import Kind, Rule
    from workflows.kit import CaseWorkflow, Tell, action, refuse

BUREAU = Role.BUREAU_ADMIN.value


def _as_bureau(actor: Actor) -> None:
    if actor.role != BUREAU:
        raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only the bureau decides this")


async def _start_reminders(case: CaseWorkflow, version: PublishedVersion, methodology_case_id: str,
                           owner_organisation_id: int | None) -> None:
    """The reminders of the version's re-evaluation date run on their own (the case may end)."""
    start = RemindersStart(case_id=reevaluation_reminders_id(version.version_id, version.reevaluation_due),
                           deployment_id=case.deployment_id, methodology_case_id=methodology_case_id,
                           owner_organisation_id=owner_organisation_id, version_id=version.version_id,
                           code=version.code, version_no=version.version_no, due=version.reevaluation_due)
    await case.start_case(REMINDERS_WORKFLOW, start, start.case_id)


@workflow.defn(name=METHODOLOGY_WORKFLOW)
class MethodologyCase(CaseWorkflow):
    CASE_TYPE = CASE_TYPE
    ENTITY_TYPE = CASE_TYPE
    AUDIT_PREFIX = "methodology"
    TASKS = {Stage.COMPLETENESS_CHECK: ("completeness_check", BUREAU),
             Stage.RETURNED: ("resubmission", Role.APPLICANT.value),
             Stage.REVISION: ("resubmission", Role.APPLICANT.value),
             Stage.PANEL_REVIEW: ("review", BUREAU),
             Stage.PUBLICATION_DECISION: ("publication", BUREAU)}

    @workflow.init
    def __init__(self, start: MethodologyStart) -> None:
        self.start = start
        self.open_case(start.case_id, start.deployment_id, Stage.COMPLETENESS_CHECK)
        self.content = start.content
        self.submission_no = 1
        self.round_no = 0
        self.due: datetime | None = None  # the applicant's resubmission deadline
        self.review_id: str | None = None
        self.panel: Vote | None = None  # the last panel's outcome
        self.reasons: list[str] = []
        self.published: PublishedVersion | None = None

    @workflow.run
    async def run(self, start: MethodologyStart) -> MethodologyCaseState:
        await self.begin("submitted", start.submitted_by, {"commissioned": start.commissioned})
        resubmission = lambda: self.when_due(self.due, self._not_resubmitted)  # noqa: E731
        await self.follow(TERMINAL_STAGES, {Stage.PANEL_REVIEW: lambda: self.after_review(self._reviewed),
                                            Stage.RETURNED: resubmission, Stage.REVISION: resubmission})
        await self.close()
        return self.state()

    async def _not_resubmitted(self) -> None:
        await self._step(Stage.WITHDRAWN, "withdrawn", None, {"cause": "resubmission_deadline_missed"},
                         tell=self._tell("withdrawn", f"{self.content.title}: withdrawn, not resubmitted in time"))

    async def _reviewed(self, outcome: ReviewOutcome) -> None:
        # The panel's reasons reach the applicant without the experts' identities.
        self.reasons = [d.comments for d in outcome.decisions]
        self.panel = outcome.outcome
        details: dict[str, Any] = {"review_id": outcome.review_id, "outcome": outcome.outcome.value}
        then = after_panel(outcome.outcome, self.round_no, self.policy)
        if then in (AfterPanel.APPROVED, AfterPanel.DECISION):
            await self._step(Stage.PUBLICATION_DECISION, "panel_approved" if then == AfterPanel.APPROVED
                             else "panel_not_approved", None, details)
        elif then == AfterPanel.REVISION:
            self.due = workflow.now() + timedelta(days=self.policy.revision_days)
            await self._step(Stage.REVISION, "revision_requested", None, details,
                             tell=self._tell("revision_requested",
                                             f"{self.content.title}: the expert panel asks for a revision",
                                             "\n\n".join(self.reasons)))
        else:
            last = outcome.outcome == Vote.REVISE
            await self._step(Stage.REJECTED, "rejected", None, {
                **details, "by": "panel", **({"cause": "max_revision_rounds_reached"} if last else {})},
                tell=self._tell("rejected", f"{self.content.title}: rejected"
                                + (", revision rounds exhausted" if last else " by the expert panel")))

    # --- the kit's hooks ------------------------------------------------------------------------

    def deadline(self) -> datetime | None:
        return self.due if self.stage in RESUBMITTABLE_STAGES else None

    def mirror(self) -> dict[str, Any]:
        return {"owner_organisation_id": self.start.applicant_organisation_id, "title": self.content.title,
                "details": {"scope": self.content.scope.value, "domain": self.content.domain.value,
                            "round": self.round_no}}

    def facts(self) -> MethodologyFacts:
        return MethodologyFacts(stage=self.stage, submission_no=self.submission_no, round_no=self.round_no,
                                deadline=self.deadline(), review_id=self.review_id, reasons=self.reasons,
                                content=self.content, version_id=self.published.version_id if self.published else None)

    def state(self) -> MethodologyCaseState:
        return MethodologyCaseState(
            case_id=self.case_id, stage=self.stage, submission_no=self.submission_no, round_no=self.round_no,
            deadline=self.deadline(), review_id=self.review_id, reasons=self.reasons,
            code=self.published.code if self.published else None,
            version_no=self.published.version_no if self.published else None)

    @workflow.query(name="methodology_state")
    def state_query(self) -> MethodologyCaseState:
        return self.state()

    # --- helpers --------------------------------------------------------------------------------

    async def _step(self, stage: Stage, action: str, actor: Actor | None, details: dict[str, Any], **kwargs) -> None:
        self.stage = stage  # the facts and the deadline follow the new stage
        await self.step(stage, action, actor, {"submission": self.submission_no, "round": self.round_no, **details},
                        **kwargs)

    def _tell(self, kind: str, subject: str, body: str = "") -> list[Tell]:
        """The applicant organisation (the bureau, for a methodology it commissioned)."""
        org = self.start.applicant_organisation_id
        return [Tell(kind, subject, body, organisations=[org] if org is not None and not self.start.commissioned
                     else [], roles=[] if org is not None and not self.start.commissioned else [BUREAU])]

    def _as_applicant_side(self, actor: Actor) -> None:
        if self.start.commissioned:
            if actor.role != BUREAU:
                raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only the bureau acts on a methodology it commissioned")
        elif actor.role != Role.APPLICANT.value or actor.organisation_id != self.start.applicant_organisation_id:
            raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only the applicant organisation acts on its submission")

    def _in(self, allowed: frozenset[Stage] | set[Stage]) -> None:
        if self.stage not in allowed:
            raise refuse(Kind.CONFLICT, Rule.STAGE, f"the case is at stage '{self.stage.value}'")

    async def _review(self, action: str, actor: Actor, details: dict[str, Any]) -> None:
        """The next panel round: its review starts, then the case records that it is in review."""
        self.round_no += 1
        self.reasons = []
        self.review_id = await self.start_review(
            self.round_no, authority_role=BUREAU, subject=self.content.title,
            applicant_organisation_id=self.start.applicant_organisation_id)
        await self._step(Stage.PANEL_REVIEW, action, actor, {**details, "review_id": self.review_id})

    # --- human actions -------------------------------------------------------------------------

    def _check_completeness(self, d: CompletenessDecision) -> None:
        _as_bureau(d.actor)
        self._in({Stage.COMPLETENESS_CHECK})
        if d.submission_no != self.submission_no:
            raise refuse(Kind.CONFLICT, Rule.STALE,
                         f"submission {d.submission_no} is not the current one ({self.submission_no})")
        if not d.accept and not (d.reasons or "").strip():
            raise refuse(Kind.INVALID, Rule.REQUIRED, "returning a submission needs reasons", field="reasons")

    @action(UPDATE_COMPLETENESS, check=_check_completeness)
    async def decide_completeness(self, d: CompletenessDecision) -> MethodologyCaseState:
        if d.accept:
            await self._review("completeness_accepted", d.actor, {})
        else:
            self.reasons = [d.reasons or ""]
            self.due = workflow.now() + timedelta(days=self.policy.revision_days)
            await self._step(Stage.RETURNED, "returned", d.actor, {"reasons": d.reasons},
                             tell=self._tell("returned", f"{self.content.title}: returned for completion",
                                             d.reasons or ""))
        return self.state()

    def _check_resubmit(self, r: Resubmission) -> None:
        self._as_applicant_side(r.actor)
        self._in(RESUBMITTABLE_STAGES)
        if r.submission_no != self.submission_no + 1:
            raise refuse(Kind.CONFLICT, Rule.STALE, f"the next submission is number {self.submission_no + 1}")
        if (r.content.scope, r.content.domain) != (self.content.scope, self.content.domain):
            raise refuse(Kind.INVALID, Rule.UNCHANGED,
                         "scope and domain cannot change on resubmission; submit a new methodology", field="scope")

    @action(UPDATE_RESUBMIT, check=_check_resubmit)
    async def resubmit(self, r: Resubmission) -> MethodologyCaseState:
        self.content = r.content
        self.submission_no = r.submission_no
        if self.stage == Stage.RETURNED:
            self.reasons = []
            await self._step(Stage.COMPLETENESS_CHECK, "resubmitted", r.actor, {"note": r.note})
        else:  # a revision goes straight to the next panel round
            await self._review("resubmitted", r.actor, {"note": r.note})
        return self.state()

    def _check_withdraw(self, w: Withdrawal) -> None:
        self._as_applicant_side(w.actor)
        self._in(WITHDRAWABLE_STAGES)

    @action(UPDATE_WITHDRAW, check=_check_withdraw)
    async def withdraw(self, w: Withdrawal) -> MethodologyCaseState:
        # In panel review, the main loop then cancels the round: the experts' tasks close with it.
        await self._step(Stage.WITHDRAWN, "withdrawn", w.actor, {"reason": w.reason})
        return self.state()

    async def on_terminated(self, m: ParticipantMeasure) -> None:
        """Art. 33: the applicant is terminated: the case is withdrawn with the reason (a running panel
        round is then cancelled by the main loop, as on a withdrawal)."""
        details = {"reason": m.reason, "sanction": m.sanction_case_id}
        if self.stage in WITHDRAWABLE_STAGES:
            await self._step(Stage.WITHDRAWN, "withdrawn_by_sanction", None, details)
        else:
            await self._step(self.stage, "participant_terminated", None, details)

    def _check_publication(self, d: PublicationDecision) -> None:
        _as_bureau(d.actor)
        self._in({Stage.PUBLICATION_DECISION})
        if not d.publish and not (d.reason or "").strip():
            raise refuse(Kind.INVALID, Rule.REQUIRED, "rejecting a methodology needs a reason", field="reason")
        if d.publish and self.panel != Vote.APPROVE:
            # Art. 11: a methodology is published after the expert review approved it.
            raise refuse(Kind.INVALID, Rule.ART11_PANEL_APPROVAL,
                         f"the expert panel did not approve ({self.panel.value if self.panel else None})")

    @action(UPDATE_PUBLICATION, check=_check_publication)
    async def decide_publication(self, d: PublicationDecision) -> MethodologyCaseState:
        if not d.publish:
            self.reasons = [d.reason or ""]
            await self._step(Stage.REJECTED, "rejected", d.actor, {"by": "bureau", "reason": d.reason},
                             tell=self._tell("rejected", f"{self.content.title}: not published", d.reason or ""))
            return self.state()
        now = workflow.now()
        self.published = await self.act(PUBLISH_METHODOLOGY, PublishRequest(
            case_id=self.case_id, published_at=now,
            reevaluation_due=add_years(now, self.policy.methodology_reevaluation_years), content=self.content,
            owner_organisation_id=self.start.applicant_organisation_id, actor_user_id=d.actor.user_id),
            PublishedVersion)
        await _start_reminders(self, self.published, self.case_id, self.start.applicant_organisation_id)
        await self._step(Stage.PUBLISHED, "published", d.actor, {
            "code": self.published.code, "version_no": self.published.version_no,
            "version_id": self.published.version_id},
            tell=self._tell("published", f"{self.content.title}: published as {self.published.code} "
                                         f"v{self.published.version_no}"))
        return self.state()


@workflow.defn(name=REEVALUATION_WORKFLOW)
class MethodologyReevaluation(CaseWorkflow):
    """A re-evaluation of the current version: the bureau confirms it, revises it (a panel reviews the
    new version first; while it does not approve, the bureau may decide again), or retires it."""

    CASE_TYPE = REEVALUATION_CASE_TYPE
    ENTITY_TYPE = REEVALUATION_CASE_TYPE
    AUDIT_PREFIX = "methodology"
    TASKS = {ReevaluationStage.OPEN: ("reevaluation", BUREAU), ReevaluationStage.PANEL_REVIEW: ("review", BUREAU)}

    @workflow.init
    def __init__(self, start: ReevaluationStart) -> None:
        self.start = start
        self.open_case(start.case_id, start.deployment_id, ReevaluationStage.OPEN)
        self.decision: ReevaluationDecision | None = None
        self.new_version: PublishedVersion | None = None
        self.next_due: datetime | None = None
        self.round_no = 0
        self.review_id: str | None = None
        self.reasons: list[str] = []

    @workflow.run
    async def run(self, start: ReevaluationStart) -> ReevaluationState:
        await self.begin("reevaluation_opened", start.opened_by, self._details({"reason": start.reason}))
        await self.follow({ReevaluationStage.CONFIRMED, ReevaluationStage.REVISED, ReevaluationStage.RETIRED},
                          {ReevaluationStage.PANEL_REVIEW: lambda: self.after_review(self._reviewed)})
        await self.close()
        return self._state()

    async def _reviewed(self, outcome: ReviewOutcome) -> None:
        d = self.decision
        assert d is not None and d.content is not None
        details = {"review_id": outcome.review_id, "outcome": outcome.outcome.value}
        if outcome.outcome == Vote.APPROVE:
            await self._publish(d.content, d, details)
        else:  # the bureau decides again: a further revision, a confirmation or a retirement
            self.reasons = [x.comments for x in outcome.decisions]
            self.decision = None
            await self.step(ReevaluationStage.OPEN, "reevaluation_revision_not_approved", None, self._details(details),
                            tell=[Tell("reevaluation_revision_not_approved",
                                       f"{self.start.code}: the panel did not approve the revision",
                                       "\n\n".join(self.reasons), roles=[BUREAU])])

    async def _publish(self, content: MethodologyContent, d: ReevaluationDecision, details: dict[str, Any]) -> None:
        now = workflow.now()
        self.new_version = await self.act(PUBLISH_METHODOLOGY, PublishRequest(
            case_id=self.case_id, published_at=now,
            reevaluation_due=add_years(now, self.policy.methodology_reevaluation_years), content=content,
            owner_organisation_id=self.start.owner_organisation_id, methodology_id=self.start.methodology_id,
            actor_user_id=d.actor.user_id), PublishedVersion)
        await _start_reminders(self, self.new_version, self.start.origin_case_id, self.start.owner_organisation_id)
        await self.step(ReevaluationStage.REVISED, "version_published", d.actor, self._details({
            **details, "reason": d.reason, "new_version_no": self.new_version.version_no,
            "new_version_id": self.new_version.version_id}))

    # --- the kit's hooks ------------------------------------------------------------------------

    def mirror(self) -> dict[str, Any]:
        return {"owner_organisation_id": self.start.owner_organisation_id,
                "title": f"re-evaluation of {self.start.code}",
                "details": {"methodology_id": self.start.methodology_id, "version_id": self.start.version_id}}

    def facts(self) -> ReevaluationFacts:
        d = self.decision
        return ReevaluationFacts(
            stage=self.stage, methodology_id=self.start.methodology_id, version_id=self.start.version_id,
            round_no=self.round_no, review_id=self.review_id, reasons=self.reasons,
            reason=d.reason if d else None, new_version_id=self.new_version.version_id if self.new_version else None,
            next_reevaluation_due=self.next_due, decided_by_user_id=d.actor.user_id if d else None)

    def _state(self) -> ReevaluationState:
        return ReevaluationState(case_id=self.case_id, stage=self.stage,
                                 outcome=self.decision.outcome if self.decision else None,
                                 new_version=self.new_version, next_reevaluation_due=self.next_due)

    def _details(self, details: dict[str, Any]) -> dict[str, Any]:
        return {"code": self.start.code, "version_no": self.start.version_no, **details}

    # --- the decision ---------------------------------------------------------------------------

    def _check_decide(self, d: ReevaluationDecision) -> None:
        _as_bureau(d.actor)
        if self.stage != ReevaluationStage.OPEN:
            raise refuse(Kind.CONFLICT, Rule.STAGE, f"the re-evaluation is at stage '{self.stage.value}'")
        if (d.outcome == ReevaluationOutcome.REVISE) != (d.content is not None):
            raise refuse(Kind.INVALID, Rule.REQUIRED,
                         "a revision needs the new version's content, and only a revision has one", field="revised")
        if d.outcome == ReevaluationOutcome.REVISE and self.round_no >= self.policy.max_revision_rounds:
            raise refuse(Kind.CONFLICT, Rule.STAGE, f"the panel reviewed {self.round_no} revisions; "
                                                    "confirm or retire the version, or open a new re-evaluation")

    @action(UPDATE_DECIDE_REEVALUATION, check=_check_decide)
    async def decide(self, d: ReevaluationDecision) -> ReevaluationState:
        self.decision = d
        now = workflow.now()
        if d.outcome == ReevaluationOutcome.CONFIRM:
            self.next_due = add_years(now, self.policy.methodology_reevaluation_years)
            await self.step(ReevaluationStage.CONFIRMED, "reevaluation_confirmed", d.actor, self._details(
                {"reason": d.reason, "next_reevaluation_due": self.next_due.isoformat()}))
            # The version's date moves on (never brought forward): its next reminders.
            due = await self.act(REEVALUATION_DUE, DueCheck(version_id=self.start.version_id), datetime | None)
            if due is not None:
                await _start_reminders(self, PublishedVersion(
                    methodology_id=self.start.methodology_id, code=self.start.code, version_id=self.start.version_id,
                    version_no=self.start.version_no, reevaluation_due=due), self.start.origin_case_id,
                    self.start.owner_organisation_id)
        elif d.outcome == ReevaluationOutcome.REVISE:
            # Art. 7 with Art. 11: the revised version is reviewed by an expert panel before it is published.
            assert d.content is not None
            self.round_no += 1
            self.reasons = []
            self.review_id = await self.start_review(
                self.round_no, authority_role=BUREAU, subject=d.content.title,
                applicant_organisation_id=self.start.owner_organisation_id)
            await self.step(ReevaluationStage.PANEL_REVIEW, "reevaluation_revision_in_review", d.actor,
                            self._details({"reason": d.reason, "review_id": self.review_id}))
        else:
            await self.step(ReevaluationStage.RETIRED, "retired", d.actor, self._details({"reason": d.reason}))
        return self._state()


@workflow.defn(name=REMINDERS_WORKFLOW)
class MethodologyReevaluationReminders(CaseWorkflow):
    """Reminds the bureau ahead of a version's re-evaluation date and once more when it is reached; ends
    quietly when the version was re-evaluated (its date moved, a new version, retired) meanwhile."""

    CASE_TYPE = REMINDERS_CASE_TYPE
    ENTITY_TYPE = REMINDERS_CASE_TYPE
    AUDIT_PREFIX = "methodology"
    TASKS = {"scheduled": ("reevaluation", BUREAU), "due_soon": ("reevaluation", BUREAU),
             "overdue": ("reevaluation", BUREAU)}

    @workflow.init
    def __init__(self, start: RemindersStart) -> None:
        self.start = start
        self.open_case(start.case_id, start.deployment_id, "scheduled")

    @workflow.run
    async def run(self, start: RemindersStart) -> str:
        label = f"{start.code} v{start.version_no}"
        await self.begin("reevaluation_reminders_started", None, {"code": start.code, "due": start.due.isoformat()})
        await workflow.sleep(max(timedelta(0), start.due - timedelta(days=self.policy.methodology_reevaluation_reminder_days)
                                 - workflow.now()))
        if await self._still_due():
            await self.step("due_soon", "reevaluation_due_soon", None, {"code": start.code}, tell=[self._tell(
                "reevaluation_due_soon", f"{label}: re-evaluation due {start.due.date()}",
                "Open a re-evaluation to confirm, revise or retire it.")])
            await workflow.sleep(max(timedelta(0), start.due - workflow.now()))
            if await self._still_due():
                await self.step("overdue", "reevaluation_overdue", None, {"code": start.code}, tell=[self._tell(
                    "reevaluation_overdue", f"{label}: re-evaluation was due {start.due.date()}")])
                await self.close()
                return str(self.stage)
        await self.step("superseded", "reevaluation_reminders_ended", None, {"code": start.code})
        await self.close()
        return str(self.stage)

    async def _still_due(self) -> bool:
        due = await self.act(REEVALUATION_DUE, DueCheck(version_id=self.start.version_id), datetime | None)
        return due is not None and due == self.start.due

    def _tell(self, kind: str, subject: str, body: str = "") -> Tell:
        return Tell(kind, subject, body, roles=[BUREAU], case_id=self.start.methodology_case_id)

    def deadline(self) -> datetime | None:
        return self.start.due if self.stage in self.TASKS else None

    def mirror(self) -> dict[str, Any]:
        return {"owner_organisation_id": self.start.owner_organisation_id,
                "title": f"re-evaluation date of {self.start.code} v{self.start.version_no}",
                "details": {"version_id": self.start.version_id, "methodology_case_id": self.start.methodology_case_id}}


WORKFLOWS = [MethodologyCase, MethodologyReevaluation, MethodologyReevaluationReminders]
