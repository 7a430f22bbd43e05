"""The issuance case (SPEC §2.4, Art. 19–21): one workflow per monitoring period, id `issuance-{n}`.

verification (accept/decline, corrections, report) → publicity of N working days with objections →
registration application → expert evaluation (PanelReview child) → bureau decision → issuance.
Written on the case kit (workflows/kit.py): human actions are `@action`s, every step one
`record_case_step`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.contracts.calendar import COMPUTE_DEADLINE, Deadline, DeadlineRequest
    from domain.contracts.cases import Actor, OpenTask, ParticipantMeasure
    from domain.contracts.issuance import (
        CASE_TYPE,
        ISSUANCE_STATE_QUERY,
        ISSUANCE_WORKFLOW,
        ISSUE_REDUCTIONS,
        SIGNAL_CALENDAR_LOADED,
        UPDATE_AMEND_REPORT,
        UPDATE_ANSWER_OBJECTION,
        UPDATE_COMMISSION_VERIFIER,
        UPDATE_DECIDE,
        UPDATE_FILE_OBJECTION,
        UPDATE_FILE_VERIFICATION_REPORT,
        UPDATE_ISSUE,
        UPDATE_REQUEST_CORRECTIONS,
        UPDATE_RULE_OBJECTION,
        UPDATE_SUBMIT_APPLICATION,
        UPDATE_VERIFIER_RESPONSE,
        UPDATE_WITHDRAW,
        Amendment,
        Application,
        CommissionVerifier,
        CorrectionRequest,
        Decision,
        IssuanceFacts,
        IssuanceStart,
        IssuanceState,
        IssueOrderUpdate,
        IssueRequest,
        IssueResult,
        NoticeClose,
        NoticeWrite,
        ObjectionAnswer,
        ObjectionFiled,
        ObjectionRuling,
        ObjectionState,
        ObjectionStep,
        PublicityState,
        VerificationReport,
        VerifierResponse,
        Withdrawal,
    )
    from domain.contracts.review import ReviewOutcome, Vote
    from domain.issuance import TERMINAL_STAGES, Stage
    from domain.review import AfterPanel, after_panel
    from domain.roles import Role
    from domain.rules import Kind, Rule
    from workflows.kit import CaseWorkflow, Grant, Tell, action, refuse, stage_in

BUREAU, OPERATOR = Role.BUREAU_ADMIN.value, Role.OPERATOR_ADMIN.value


@workflow.defn(name=ISSUANCE_WORKFLOW)
class IssuanceCaseWorkflow(CaseWorkflow):
    CASE_TYPE = CASE_TYPE
    ENTITY_TYPE = "issuance_case"
    AUDIT_PREFIX = "issuance"
    TASKS = {Stage.AWAITING_VERIFIER: ("engagement", Role.VERIFIER.value),
             Stage.VERIFIER_DECLINED: ("commission", Role.APPLICANT.value),
             Stage.VERIFICATION: ("verification", Role.VERIFIER.value),
             Stage.CORRECTION: ("correction", Role.APPLICANT.value),
             Stage.AWAITING_APPLICATION: ("application", Role.APPLICANT.value),
             Stage.REVISION: ("resubmission", Role.APPLICANT.value),
             Stage.DECISION: ("decision", BUREAU),
             Stage.PUBLISHED: ("issuance", OPERATOR)}

    @workflow.init
    def __init__(self, start: IssuanceStart) -> None:
        self.start = start
        self.s = IssuanceState(case_id=start.case_id, stage=Stage.AWAITING_VERIFIER,
                               developer_organisation_id=start.developer_organisation_id,
                               verifier_organisation_id=start.verifier_organisation_id,
                               claimed_grams=start.claimed_grams)
        self.open_case(start.case_id, start.deployment_id, Stage.AWAITING_VERIFIER)
        self.conclusion: str | None = None
        self._calendar_loaded = False

    stage = stage_in("s")

    # --- the main loop: only what time or a child decides ----------------------------------------

    @workflow.run
    async def run(self, start: IssuanceStart) -> IssuanceState:
        developer = Actor(user_id=start.filed_by_user_id, organisation_id=start.developer_organisation_id,
                          role=Role.APPLICANT.value)
        await self.begin("filed", developer, {"claimed_grams": start.claimed_grams},
                         tell=self._tell(Stage.AWAITING_VERIFIER, "filed"),
                         grants=[Grant("verifier", organisation_id=self.s.verifier_organisation_id)])
        await self.follow(TERMINAL_STAGES, {
            Stage.PUBLICITY: self._publicity,
            Stage.EVALUATION: lambda: self.after_review(self._evaluated),
            Stage.REVISION: lambda: self.when_due(self.s.revision_due, self._not_resubmitted)})
        await self.close()
        return self.s

    async def _publicity(self) -> None:
        """Ends only after its end instant AND after every objection of the round is ruled on."""
        p = self.s.publicity
        assert p is not None
        while self.s.stage == Stage.PUBLICITY and self.s.publicity is p and not p.closed:
            now = workflow.now()
            # A provisional end is recomputed when a calendar is loaded (signal) and once more when it
            # is reached, in case nobody signalled; either way it never gets shorter.
            if p.provisional and (self._calendar_loaded or now >= p.ends_at):
                self._calendar_loaded = False
                async with self._lock:
                    if self.s.publicity is p and not p.closed:
                        await self._recompute_publicity(p)
                if now < p.ends_at or p.provisional is False:
                    continue
            self._calendar_loaded = False
            if now >= p.ends_at and not self._unruled(p.round_no):
                async with self._lock:
                    if self.s.stage == Stage.PUBLICITY and self.s.publicity is p and not p.closed:
                        await self._enter(Stage.AWAITING_APPLICATION, "publicity_completed", None,
                                          {"round_no": p.round_no, "ends_at": p.ends_at.isoformat()},
                                          close=self._close_notice(p, "completed"))
                return
            await self.next_change(p.ends_at if now < p.ends_at else None)

    async def _recompute_publicity(self, p: PublicityState) -> None:
        d = await self.act(COMPUTE_DEADLINE, DeadlineRequest(
            start=p.starts_at, working_days=self.policy.publicity_working_days, not_before=p.ends_at), Deadline)
        before = p.ends_at
        ends = max(d.end, p.ends_at)  # never shorter (SPEC §3)
        if (ends, d.provisional) == (p.ends_at, p.provisional):
            return
        p.ends_at, p.provisional = ends, d.provisional
        await self._enter(Stage.PUBLICITY, "publicity_recomputed", None,
                          {"round_no": p.round_no, "from": before.isoformat(), "to": p.ends_at.isoformat(),
                           "provisional": p.provisional}, notice=self._notice(p))

    async def _evaluated(self, outcome: ReviewOutcome) -> None:
        self.s.review_outcome = outcome.outcome.value
        details: dict[str, Any] = {"review_id": outcome.review_id, "outcome": outcome.outcome.value}
        if after_panel(outcome.outcome, self.s.review_round, self.policy) == AfterPanel.REVISION:
            self.s.revision_due = workflow.now() + timedelta(days=self.policy.revision_days)
            await self._enter(Stage.REVISION, "evaluation_revise", None, details)
        else:  # approved, rejected, or a revise after the last round: the bureau decides
            await self._enter(Stage.DECISION, "evaluation_completed", None, details)

    async def _not_resubmitted(self) -> None:
        self.s.withdrawal_reason = "the application was not resubmitted in time"
        await self._enter(Stage.WITHDRAWN, "withdrawn_not_resubmitted", None,
                          {"revision_due": self.s.revision_due.isoformat() if self.s.revision_due else None})

    # --- the kit's hooks ------------------------------------------------------------------------

    def deadline(self) -> datetime | None:
        if self.s.stage == Stage.PUBLICITY and self.s.publicity is not None:
            return self.s.publicity.ends_at
        if self.s.stage == Stage.REVISION:
            return self.s.revision_due
        return None

    def mirror(self) -> dict[str, Any]:
        return {"owner_organisation_id": self.s.developer_organisation_id, "title": self.start.project_name,
                "details": {"project_id": self.start.project_id}}

    def facts(self, **changes: Any) -> IssuanceFacts:
        return IssuanceFacts(stage=self.s.stage, verifier_organisation_id=self.s.verifier_organisation_id,
                             claimed_grams=self.s.claimed_grams, verified_grams=self.s.verified_grams,
                             verification_conclusion=self.conclusion, **changes)

    def open_tasks(self) -> list[OpenTask]:
        tasks = super().open_tasks()
        p = self.s.publicity
        if self.s.stage == Stage.PUBLICITY and p is not None:
            now = workflow.now()
            for o in self.s.objections:
                if o.round_no == p.round_no and o.ruling is None:
                    tasks.append(OpenTask(
                        task_id=f"objection-{o.objection_id}", kind="objection",
                        assignee=(Role.BUREAU_ADMIN if o.answered else Role.APPLICANT).value,
                        due=None if o.answered else o.answer_due, overdue=not o.answered and now > o.answer_due))
        return tasks

    # --- helpers --------------------------------------------------------------------------------

    async def _enter(self, stage: Stage, action: str, actor: Actor | None, details: dict[str, Any], *,
                     notice: NoticeWrite | None = None, close: NoticeClose | None = None,
                     objection: ObjectionStep | None = None, benefit_sharing: str | None = None,
                     grants: list[Grant] | None = None) -> None:
        """One step: the case row (and notice, objection) in the process's tables, the register, the
        audit trail, and a notification to whoever acts next."""
        self.s.stage = stage  # the facts carry the new stage
        await self.step(stage, action, actor, details, grants=grants or (),
                        facts=self.facts(notice=notice, notice_close=close, objection=objection,
                                         benefit_sharing=benefit_sharing),
                        tell=self._tell(stage, action))

    def _tell(self, stage: Stage, action: str) -> list[Tell]:
        """Tell whoever must act next (or the developer, of an outcome)."""
        developer = [self.s.developer_organisation_id]
        orgs, roles = {
            Stage.AWAITING_VERIFIER: ([self.s.verifier_organisation_id], []),
            Stage.VERIFIER_DECLINED: (developer, []),
            Stage.VERIFICATION: ([self.s.verifier_organisation_id], []),
            Stage.CORRECTION: (developer, []),
            Stage.PUBLICITY: (developer, [BUREAU]),
            Stage.AWAITING_APPLICATION: (developer, []),
            Stage.REVISION: (developer, []),
            Stage.DECISION: ([], [BUREAU]),
            Stage.PUBLISHED: (developer, [OPERATOR]),
        }.get(stage, (developer, []))
        return [Tell(action, f"{self.s.case_id} ({self.start.project_name}): {stage.value}",
                     body=self.s.last_comments if stage == Stage.CORRECTION and self.s.last_comments else "",
                     organisations=orgs, roles=roles)]

    def _notice(self, p: PublicityState) -> NoticeWrite:
        return NoticeWrite(round_no=p.round_no, starts_at=p.starts_at, ends_at=p.ends_at, provisional=p.provisional,
                           verified_grams=self.s.verified_grams or 0)

    def _close_notice(self, p: PublicityState, outcome: str) -> NoticeClose:
        """Close the round: its objections nobody ruled on lapse."""
        p.closed = True
        for o in self.s.objections:
            if o.round_no == p.round_no and o.ruling is None:
                o.ruling = "lapsed"
        return NoticeClose(round_no=p.round_no, closed_at=workflow.now(), outcome=outcome)

    def _unruled(self, round_no: int) -> bool:
        return any(o.round_no == round_no and o.ruling is None for o in self.s.objections)

    def _objection(self, objection_id: int) -> ObjectionState:
        for o in self.s.objections:
            if o.objection_id == objection_id:
                return o
        raise refuse(Kind.NOT_FOUND, Rule.NOT_PART_OF_CASE, f"objection {objection_id} is not part of {self.s.case_id}")

    def _open_publicity(self) -> PublicityState:
        p = self.s.publicity
        if self.s.stage != Stage.PUBLICITY or p is None or p.closed:
            raise refuse(Kind.CONFLICT, Rule.STAGE, f"{self.s.case_id} is not in publicity")
        return p

    def _as_developer(self, actor: Actor) -> None:
        if actor.role != Role.APPLICANT or actor.organisation_id != self.s.developer_organisation_id:
            raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only the project developer's users may do this")

    def _as_verifier(self, actor: Actor) -> None:
        if actor.role != Role.VERIFIER or actor.organisation_id != self.s.verifier_organisation_id:
            raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only users of the commissioned verification body may do this")

    def _as(self, actor: Actor, role: str) -> None:
        if actor.role != role:
            raise refuse(Kind.FORBIDDEN, Rule.ACTOR, f"only {role} may do this")

    def _in(self, *stages: Stage) -> None:
        if self.s.stage not in stages:
            raise refuse(Kind.CONFLICT, Rule.STAGE, f"{self.s.case_id} is {self.s.stage.value}; this needs "
                                                    f"{' or '.join(s.value for s in stages)}")

    # --- verification ---------------------------------------------------------------------------

    def _check_verifier_response(self, r: VerifierResponse) -> None:
        self._as_verifier(r.actor)
        self._in(Stage.AWAITING_VERIFIER)

    @action(UPDATE_VERIFIER_RESPONSE, check=_check_verifier_response)
    async def verifier_response(self, r: VerifierResponse) -> IssuanceState:
        if r.accept:
            await self._enter(Stage.VERIFICATION, "verifier_accepted", r.actor, {})
        else:
            await self._enter(Stage.VERIFIER_DECLINED, "verifier_declined", r.actor, {"reason": r.reason},
                              grants=[Grant("verifier", organisation_id=self.s.verifier_organisation_id, revoke=True)])
        return self.s

    def _check_commission(self, c: CommissionVerifier) -> None:
        self._as_developer(c.actor)
        self._in(Stage.VERIFIER_DECLINED)

    @action(UPDATE_COMMISSION_VERIFIER, check=_check_commission)
    async def commission_verifier(self, c: CommissionVerifier) -> IssuanceState:
        self.s.verifier_organisation_id = c.verifier_organisation_id
        self.s.engagement_no += 1
        await self._enter(Stage.AWAITING_VERIFIER, "verifier_commissioned", c.actor,
                          {"verifier_organisation_id": c.verifier_organisation_id},
                          grants=[Grant("verifier", organisation_id=c.verifier_organisation_id)])
        return self.s

    def _check_corrections(self, c: CorrectionRequest) -> None:
        self._as_verifier(c.actor)
        self._in(Stage.VERIFICATION)

    @action(UPDATE_REQUEST_CORRECTIONS, check=_check_corrections)
    async def request_corrections(self, c: CorrectionRequest) -> IssuanceState:
        self.s.corrections_no += 1
        self.s.last_comments = c.comments
        await self._enter(Stage.CORRECTION, "corrections_requested", c.actor, {"comments": c.comments})
        return self.s

    def _check_amendment(self, a: Amendment) -> None:
        self._as_developer(a.actor)
        self._in(Stage.CORRECTION)

    @action(UPDATE_AMEND_REPORT, check=_check_amendment)
    async def amend_report(self, a: Amendment) -> IssuanceState:
        if a.claimed_grams is not None:
            self.s.claimed_grams = a.claimed_grams
        await self._enter(Stage.VERIFICATION, "report_amended", a.actor,
                          {"claimed_grams": self.s.claimed_grams, "comments": a.comments,
                           "benefit_sharing_changed": a.benefit_sharing is not None},
                          benefit_sharing=a.benefit_sharing)
        return self.s

    def _check_report(self, v: VerificationReport) -> None:
        self._as_verifier(v.actor)
        self._in(Stage.VERIFICATION)
        if v.verified_grams > self.s.claimed_grams:
            raise refuse(Kind.INVALID, Rule.ART21_WITHIN_CLAIM,
                         f"the verified quantity ({v.verified_grams} g) exceeds the claimed quantity "
                         f"({self.s.claimed_grams} g)", field="verified_tco2e")

    @action(UPDATE_FILE_VERIFICATION_REPORT, check=_check_report)
    async def file_verification_report(self, v: VerificationReport) -> IssuanceState:
        self.s.reports_no += 1
        self.s.verified_grams, self.conclusion = v.verified_grams, v.conclusion
        round_no = (self.s.publicity.round_no + 1) if self.s.publicity else 1
        starts = workflow.now()
        d = await self.act(COMPUTE_DEADLINE, DeadlineRequest(
            start=starts, working_days=self.policy.publicity_working_days), Deadline)
        self.s.publicity = PublicityState(round_no=round_no, starts_at=starts, ends_at=d.end,
                                          provisional=d.provisional)
        await self._enter(Stage.PUBLICITY, "verification_report_filed", v.actor,
                          {"verified_grams": v.verified_grams, "conclusion": v.conclusion, "round_no": round_no,
                           "starts_at": starts.isoformat(), "ends_at": d.end.isoformat(),
                           "provisional": d.provisional}, notice=self._notice(self.s.publicity))
        return self.s

    # --- publicity and objections -----------------------------------------------------------------

    def _check_objection(self, f: ObjectionFiled) -> None:
        p = self._open_publicity()
        if workflow.now() >= p.ends_at:
            raise refuse(Kind.CONFLICT, Rule.ART20_PUBLICITY_OVER,
                         f"the publicity of {self.s.case_id} ended at {p.ends_at.isoformat()}")
        if any(o.objection_id == f.objection_id for o in self.s.objections):
            raise refuse(Kind.CONFLICT, Rule.ALREADY_DONE, f"objection {f.objection_id} is already filed")

    @action(UPDATE_FILE_OBJECTION, check=_check_objection)
    async def file_objection(self, f: ObjectionFiled) -> ObjectionState:
        assert self.s.publicity is not None
        d = await self.act(COMPUTE_DEADLINE, DeadlineRequest(
            start=workflow.now(), working_days=self.policy.objection_answer_working_days), Deadline)
        objection = ObjectionState(objection_id=f.objection_id, round_no=self.s.publicity.round_no, answer_due=d.end)
        self.s.objections.append(objection)
        await self.step(self.s.stage, "objection_filed", None,
                        {"objection_id": f.objection_id, "answer_due": d.end.isoformat()})
        return objection

    def _check_answer(self, a: ObjectionAnswer) -> None:
        self._as_developer(a.actor)
        p = self._open_publicity()
        o = self._objection(a.objection_id)
        if o.round_no != p.round_no or o.ruling is not None:
            raise refuse(Kind.CONFLICT, Rule.STAGE, f"objection {o.objection_id} is closed")
        if o.answered:
            raise refuse(Kind.CONFLICT, Rule.ALREADY_DONE, f"objection {o.objection_id} is already answered")

    @action(UPDATE_ANSWER_OBJECTION, check=_check_answer)
    async def answer_objection(self, a: ObjectionAnswer) -> ObjectionState:
        o = self._objection(a.objection_id)
        o.answered = True
        await self.step(self.s.stage, "objection_answered", a.actor, {"objection_id": o.objection_id},
                        facts=self.facts(objection=ObjectionStep(objection_id=o.objection_id, at=workflow.now(),
                                                                 answer=a.answer)))
        return o

    def _check_ruling(self, r: ObjectionRuling) -> None:
        self._as(r.actor, BUREAU)
        p = self._open_publicity()
        o = self._objection(r.objection_id)
        if o.round_no != p.round_no or o.ruling is not None:
            raise refuse(Kind.CONFLICT, Rule.ALREADY_DONE, f"objection {o.objection_id} is already ruled on")
        if not o.answered and workflow.now() < o.answer_due:
            raise refuse(Kind.CONFLICT, Rule.ART20_ANSWER_PERIOD,
                         f"the developer may answer objection {o.objection_id} until {o.answer_due.isoformat()}")

    @action(UPDATE_RULE_OBJECTION, check=_check_ruling)
    async def rule_objection(self, r: ObjectionRuling) -> ObjectionState:
        o = self._objection(r.objection_id)
        ruling = "upheld" if r.upheld else "dismissed"
        o.ruling = ruling
        await self.step(self.s.stage, f"objection_{ruling}", r.actor, {"objection_id": o.objection_id,
                                                                       "reason": r.reason},
                        facts=self.facts(objection=ObjectionStep(
                            objection_id=o.objection_id, at=workflow.now(), ruling=ruling, ruling_reason=r.reason,
                            ruled_by_user_id=r.actor.user_id)))
        if r.upheld:  # back to the developer; a corrected, re-verified case gets a full new publicity
            assert self.s.publicity is not None
            self.s.last_comments = r.reason
            self.s.corrections_no += 1
            # After the ruling is stored: closing lapses the round's objections still unruled.
            await self._enter(Stage.CORRECTION, "returned_for_correction", r.actor, {"objection_id": o.objection_id},
                              close=self._close_notice(self.s.publicity, "returned"))
        return o

    @workflow.signal(name=SIGNAL_CALENDAR_LOADED)
    def calendar_loaded(self) -> None:
        self._calendar_loaded = True
        self.changed()

    # --- application, evaluation, decision, issuance ----------------------------------------------

    def _check_application(self, a: Application) -> None:
        self._as_developer(a.actor)
        self._in(Stage.AWAITING_APPLICATION, Stage.REVISION)

    @action(UPDATE_SUBMIT_APPLICATION, check=_check_application)
    async def submit_application(self, a: Application) -> IssuanceState:
        self.s.review_round += 1
        self.s.revision_due = None
        await self.start_review(self.s.review_round, authority_role=BUREAU,
                                subject=f"Verification report of {self.start.project_name} ({self.s.case_id})",
                                applicant_organisation_id=self.s.developer_organisation_id,
                                verifier_organisation_id=self.s.verifier_organisation_id)
        await self._enter(Stage.EVALUATION, "application_submitted", a.actor,
                          {"round_no": self.s.review_round, "statement": a.statement})
        return self.s

    def _check_decision(self, d: Decision) -> None:
        self._as(d.actor, BUREAU)
        self._in(Stage.DECISION)
        if d.publish and self.s.review_outcome != Vote.APPROVE:
            # Art. 21: only reductions that pass the expert evaluation are published.
            raise refuse(Kind.INVALID, Rule.ART21_PANEL_APPROVAL,
                         f"the expert evaluation did not approve ({self.s.review_outcome})")

    @action(UPDATE_DECIDE, check=_check_decision)
    async def decide(self, d: Decision) -> IssuanceState:
        self.s.decision_reason = d.reason
        await self._enter(Stage.PUBLISHED if d.publish else Stage.REJECTED,
                          "published" if d.publish else "rejected", d.actor, {"reason": d.reason})
        return self.s

    def _check_issue(self, i: IssueOrderUpdate) -> None:
        self._as(i.actor, OPERATOR)
        self._in(Stage.PUBLISHED)

    @action(UPDATE_ISSUE, check=_check_issue)
    async def issue(self, i: IssueOrderUpdate) -> IssueResult:
        result = await self.act(ISSUE_REDUCTIONS, IssueRequest(
            case_id=self.s.case_id, issued_at=workflow.now(), operator_user_id=i.actor.user_id), IssueResult)
        self.s.issued = result
        await self._enter(Stage.ISSUED, "issued", i.actor, result.model_dump())
        return result

    def _check_withdrawal(self, w: Withdrawal) -> None:
        self._as_developer(w.actor)
        if self.s.stage in TERMINAL_STAGES:
            raise refuse(Kind.CONFLICT, Rule.STAGE,
                         f"{self.s.case_id} is {self.s.stage.value} and can no longer be withdrawn")
        if self.s.stage == Stage.PUBLISHED:
            # Art. 21: what the bureau published is registered and issued; the developer cannot undo it.
            raise refuse(Kind.CONFLICT, Rule.ART21_PUBLISHED_IS_FINAL,
                         f"{self.s.case_id} is published: only its issuance may follow")

    @action(UPDATE_WITHDRAW, check=_check_withdrawal)
    async def withdraw(self, w: Withdrawal) -> IssuanceState:
        self.s.withdrawal_reason = w.reason
        p = self.s.publicity
        await self._enter(Stage.WITHDRAWN, "withdrawn", w.actor, {"reason": w.reason},
                          close=self._close_notice(p, "withdrawn") if p is not None and not p.closed else None)
        return self.s

    async def on_terminated(self, m: ParticipantMeasure) -> None:
        """Art. 33: the developer is terminated: the case is withdrawn with the reason and its publicity
        notice closed, as a withdrawal would; a published case stays (Art. 21: published is final)."""
        details = {"reason": m.reason, "sanction": m.sanction_case_id}
        if self.s.stage == Stage.PUBLISHED:
            await self._enter(self.s.stage, "participant_terminated", None, details)
            return
        self.s.withdrawal_reason = m.reason
        p = self.s.publicity
        await self._enter(Stage.WITHDRAWN, "withdrawn_by_sanction", None, details,
                          close=self._close_notice(p, "withdrawn") if p is not None and not p.closed else None)

    # --- queries --------------------------------------------------------------------------------

    @workflow.query(name=ISSUANCE_STATE_QUERY)
    def state(self) -> IssuanceState:
        return self.s


WORKFLOWS: list[type] = [IssuanceCaseWorkflow]
