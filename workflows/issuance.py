"""The issuance case (SPEC §2.4, Art. 19–21): one workflow per monitoring period, id `issuance-{n}`.

verification (accept/decline, corrections, report) → publicity of N working days with objections →
registration application → expert evaluation (PanelReview child) → bureau decision → issuance.
Human actions are updates whose validators refuse the wrong actor (forbidden), the wrong stage
(conflict) or bad content (invalid) before anything is written; handlers re-check under the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from domain.contracts.audit import RECORD_AUDIT, AuditRecord
    from domain.contracts.calendar import COMPUTE_DEADLINE, Deadline, DeadlineRequest
    from domain.contracts.cases import (
        CASE_STATE_QUERY,
        GRANT_CASE_ACCESS,
        CaseAccessGrant,
        CaseMirror,
        CaseView,
        OpenTask,
    )
    from domain.contracts.issuance import (
        CASE_TYPE,
        CLOSE_PUBLICITY_NOTICE,
        ISSUANCE_STATE_QUERY,
        ISSUANCE_WORKFLOW,
        ISSUE_REDUCTIONS,
        RECORD_ISSUANCE_STEP,
        RECORD_OBJECTION_STEP,
        SAVE_PUBLICITY_NOTICE,
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
        Actor,
        Amendment,
        Application,
        CaseFacts,
        CommissionVerifier,
        CorrectionRequest,
        Decision,
        IssuanceStart,
        IssuanceState,
        IssuanceStep,
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
    from domain.contracts.notifications import Notification
    from domain.contracts.policy import SNAPSHOT_POLICY, PolicySnapshotRequest
    from domain.contracts.review import REVIEW_WORKFLOW, ReviewOutcome, ReviewRequest, Vote, review_workflow_id
    from domain.issuance import FINAL_STAGES, Stage
    from domain.policy import PolicyParameters
    from domain.roles import Role
    from workflows import search_attributes as sa

_ACTIVITY = {"start_to_close_timeout": timedelta(seconds=30),
             "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30))}


def _refuse(kind: str, message: str) -> ApplicationError:
    # kind: forbidden (403), conflict (409), invalid (422); the API maps it.
    return ApplicationError(message, type=kind)


@workflow.defn(name=ISSUANCE_WORKFLOW)
class IssuanceCaseWorkflow:
    @workflow.init
    def __init__(self, start: IssuanceStart) -> None:
        self.start = start
        self.s = IssuanceState(case_id=start.case_id, stage=Stage.AWAITING_VERIFIER,
                               developer_organisation_id=start.developer_organisation_id,
                               verifier_organisation_id=start.verifier_organisation_id,
                               claimed_grams=start.claimed_grams)
        self.policy: PolicyParameters | None = None
        self.conclusion: str | None = None
        self._lock = asyncio.Lock()
        self._tick = 0  # moves on every change the main loop may be waiting for
        self._seq = 0  # numbers the case's writes (facts, audit dedupe keys)
        self._calendar_loaded = False
        self._started = False

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """A human action's turn: after the case has started, one at a time."""
        await workflow.wait_condition(lambda: self._started)
        async with self._lock:
            yield

    # --- the main loop: only what time or a child decides ----------------------------------------

    @workflow.run
    async def run(self, start: IssuanceStart) -> IssuanceState:
        self.policy = await workflow.execute_activity(
            SNAPSHOT_POLICY, PolicySnapshotRequest(at=workflow.now()), result_type=PolicyParameters, **_ACTIVITY)
        async with self._lock:  # the case row first: access grants refer to it
            await self._enter(Stage.AWAITING_VERIFIER, "filed", Actor(
                user_id=start.filed_by_user_id, organisation_id=start.developer_organisation_id,
                role=Role.APPLICANT.value), {"claimed_grams": start.claimed_grams})
            await self._grant_verifier(self.s.verifier_organisation_id)
            self._started = True
        while self.s.stage not in FINAL_STAGES:
            if self.s.stage == Stage.PUBLICITY and self.s.publicity and not self.s.publicity.closed:
                await self._publicity(self.s.publicity)
            elif self.s.stage == Stage.EVALUATION:
                await self._evaluation(self.s.review_round)
            elif self.s.stage == Stage.REVISION:
                await self._revision()
            else:
                await self._next_change()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.s

    async def _next_change(self, timeout: timedelta | None = None) -> None:
        tick = self._tick
        try:
            await workflow.wait_condition(lambda: self._tick != tick, timeout=timeout)
        except asyncio.TimeoutError:
            pass

    async def _publicity(self, p: PublicityState) -> None:
        """Ends only after its end instant AND after every objection of the round is ruled on."""
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
                        await asyncio.gather(
                            self._close_notice(p, "completed"),
                            self._enter(Stage.AWAITING_APPLICATION, "publicity_completed", None,
                                        {"round_no": p.round_no, "ends_at": p.ends_at.isoformat()}))
                return
            await self._next_change(p.ends_at - now if now < p.ends_at else None)

    async def _recompute_publicity(self, p: PublicityState) -> None:
        assert self.policy is not None
        d = await self._act(COMPUTE_DEADLINE, DeadlineRequest(
            start=p.starts_at, working_days=self.policy.publicity_working_days, not_before=p.ends_at), Deadline)
        before = p.ends_at
        ends = max(d.end, p.ends_at)  # never shorter (SPEC §3)
        if (ends, d.provisional) == (p.ends_at, p.provisional):
            return
        p.ends_at, p.provisional = ends, d.provisional
        await self._act(SAVE_PUBLICITY_NOTICE, NoticeWrite(
            case_id=self.s.case_id, round_no=p.round_no, starts_at=p.starts_at, ends_at=p.ends_at,
            provisional=p.provisional, verified_grams=self.s.verified_grams or 0), int)
        await self._enter(Stage.PUBLICITY, "publicity_recomputed", None,
                          {"round_no": p.round_no, "from": before.isoformat(), "to": p.ends_at.isoformat(),
                           "provisional": p.provisional})

    async def _evaluation(self, round_no: int) -> None:
        assert self.policy is not None
        child = await workflow.start_child_workflow(
            REVIEW_WORKFLOW,
            ReviewRequest(case_id=self.s.case_id, case_type=CASE_TYPE, round_no=round_no,
                          authority_role=Role.BUREAU_ADMIN.value,
                          subject=f"Verification report of {self.start.project_name} ({self.s.case_id})",
                          applicant_organisation_id=self.s.developer_organisation_id,
                          verifier_organisation_id=self.s.verifier_organisation_id, policy=self.policy),
            id=review_workflow_id(self.s.case_id, round_no), result_type=ReviewOutcome)
        left = asyncio.ensure_future(workflow.wait_condition(lambda: self.s.stage != Stage.EVALUATION))
        await workflow.wait([child, left], return_when=asyncio.FIRST_COMPLETED)
        if not child.done():  # withdrawn while the panel was still at work: wind the review down first
            child.cancel()
            with contextlib.suppress(ChildWorkflowError, asyncio.CancelledError):
                await child
            return
        left.cancel()
        outcome: ReviewOutcome = child.result()
        async with self._lock:
            if self.s.stage != Stage.EVALUATION:
                return
            self.s.review_outcome = outcome.outcome.value
            details: dict[str, Any] = {"review_id": outcome.review_id, "outcome": outcome.outcome.value}
            if outcome.outcome == Vote.REVISE and round_no < self.policy.max_revision_rounds:
                self.s.revision_due = workflow.now() + timedelta(days=self.policy.revision_days)
                await self._enter(Stage.REVISION, "evaluation_revise", None, details)
            else:
                await self._enter(Stage.DECISION, "evaluation_completed", None, details)

    async def _revision(self) -> None:
        assert self.s.revision_due is not None
        remaining = self.s.revision_due - workflow.now()
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(lambda: self.s.stage != Stage.REVISION, timeout=remaining)
                return
            except asyncio.TimeoutError:
                pass
        async with self._lock:
            if self.s.stage == Stage.REVISION:
                self.s.withdrawal_reason = "the application was not resubmitted in time"
                await self._enter(Stage.WITHDRAWN, "withdrawn_not_resubmitted", None,
                                  {"revision_due": self.s.revision_due.isoformat()})

    # --- helpers --------------------------------------------------------------------------------

    async def _act(self, name: str, arg: Any, result_type: type | None = None) -> Any:
        return await workflow.execute_activity(name, arg, result_type=result_type, **_ACTIVITY)

    def _deadline(self):
        if self.s.stage == Stage.PUBLICITY and self.s.publicity is not None:
            return self.s.publicity.ends_at
        if self.s.stage == Stage.REVISION:
            return self.s.revision_due
        return None

    async def _enter(self, stage: Stage, action: str, actor: Actor | None, details: dict[str, Any],
                     *, benefit_sharing: str | None = None) -> None:
        """Record a step (one activity, one transaction): the case row, the case register, the audit
        trail, the notification; then the search attributes."""
        self.s.stage = stage
        self._seq += 1
        self._tick += 1
        now = workflow.now()
        deadline = self._deadline()
        await self._act(RECORD_ISSUANCE_STEP, IssuanceStep(
            facts=CaseFacts(
                case_id=self.s.case_id, seq=self._seq, stage=stage, occurred_at=now,
                verifier_organisation_id=self.s.verifier_organisation_id, claimed_grams=self.s.claimed_grams,
                benefit_sharing=benefit_sharing, verified_grams=self.s.verified_grams,
                verification_conclusion=self.conclusion),
            mirror=CaseMirror(
                case_id=self.s.case_id, case_type=CASE_TYPE, stage=stage.value, occurred_at=now,
                owner_organisation_id=self.s.developer_organisation_id, title=self.start.project_name,
                deadline=deadline, details={"project_id": self.start.project_id}),
            audit=self._audit_record(action, actor, details),
            notification=self._notification(stage, action)))
        sa.upsert_case(CASE_TYPE, self.s.case_id, stage.value, deadline)

    def _notification(self, stage: Stage, action: str) -> Notification:
        """Tell whoever must act next (or the developer, of an outcome)."""
        developer = [self.s.developer_organisation_id]
        orgs, roles = {
            Stage.AWAITING_VERIFIER: ([self.s.verifier_organisation_id], []),
            Stage.VERIFIER_DECLINED: (developer, []),
            Stage.VERIFICATION: ([self.s.verifier_organisation_id], []),
            Stage.CORRECTION: (developer, []),
            Stage.PUBLICITY: (developer, [Role.BUREAU_ADMIN.value]),
            Stage.AWAITING_APPLICATION: (developer, []),
            Stage.REVISION: (developer, []),
            Stage.DECISION: ([], [Role.BUREAU_ADMIN.value]),
            Stage.PUBLISHED: (developer, [Role.OPERATOR_ADMIN.value]),
        }.get(stage, (developer, []))
        return Notification(
            dedupe_key=f"{self.s.case_id}:{self._seq}:{action}", occurred_at=workflow.now(),
            kind=f"issuance.{action}", subject=f"{self.s.case_id} ({self.start.project_name}): {stage.value}",
            body=self.s.last_comments if stage == Stage.CORRECTION and self.s.last_comments else "",
            case_id=self.s.case_id, recipient_organisation_ids=orgs, recipient_roles=roles)

    def _audit_record(self, action: str, actor: Actor | None, details: dict[str, Any]) -> AuditRecord:
        return AuditRecord(
            dedupe_key=f"{self.s.case_id}:{self._seq}:{action}", occurred_at=workflow.now(),
            action=f"issuance.{action}", entity_type="issuance_case", entity_id=self.s.case_id,
            case_id=self.s.case_id, workflow_id=self.s.case_id,
            actor_user_id=actor.user_id if actor else None, actor_role=actor.role if actor else "system",
            details=details)

    async def _audit(self, action: str, actor: Actor | None, details: dict[str, Any]) -> None:
        await self._act(RECORD_AUDIT, self._audit_record(action, actor, details))

    async def _grant_verifier(self, organisation_id: int, *, revoke: bool = False) -> None:
        await self._act(GRANT_CASE_ACCESS, CaseAccessGrant(
            case_id=self.s.case_id, capacity="verifier", granted_at=workflow.now(),
            organisation_id=organisation_id, revoke=revoke))

    async def _close_notice(self, p: PublicityState, outcome: str) -> None:
        p.closed = True
        for o in self.s.objections:
            if o.round_no == p.round_no and o.ruling is None:
                o.ruling = "lapsed"
        await self._act(CLOSE_PUBLICITY_NOTICE, NoticeClose(case_id=self.s.case_id, round_no=p.round_no,
                                                            closed_at=workflow.now(), outcome=outcome))

    def _unruled(self, round_no: int) -> bool:
        return any(o.round_no == round_no and o.ruling is None for o in self.s.objections)

    def _objection(self, objection_id: int) -> ObjectionState:
        for o in self.s.objections:
            if o.objection_id == objection_id:
                return o
        raise _refuse("not_found", f"objection {objection_id} is not part of {self.s.case_id}")

    def _open_publicity(self) -> PublicityState:
        p = self.s.publicity
        if self.s.stage != Stage.PUBLICITY or p is None or p.closed:
            raise _refuse("conflict", f"{self.s.case_id} is not in publicity")
        return p

    def _as_developer(self, actor: Actor) -> None:
        if actor.role != Role.APPLICANT or actor.organisation_id != self.s.developer_organisation_id:
            raise _refuse("forbidden", "only the project developer's users may do this")

    def _as_verifier(self, actor: Actor) -> None:
        if actor.role != Role.VERIFIER or actor.organisation_id != self.s.verifier_organisation_id:
            raise _refuse("forbidden", "only users of the commissioned verification body may do this")

    def _as(self, actor: Actor, role: Role) -> None:
        if actor.role != role:
            raise _refuse("forbidden", f"only {role.value} may do this")

    def _in(self, *stages: Stage) -> None:
        if self.s.stage not in stages:
            raise _refuse("conflict", f"{self.s.case_id} is {self.s.stage.value}; this needs "
                                      f"{' or '.join(s.value for s in stages)}")

    # --- verification ---------------------------------------------------------------------------

    @workflow.update(name=UPDATE_VERIFIER_RESPONSE)
    async def verifier_response(self, r: VerifierResponse) -> IssuanceState:
        async with self._turn():
            self._check_verifier_response(r)
            if r.accept:
                await self._enter(Stage.VERIFICATION, "verifier_accepted", r.actor, {})
            else:
                await self._grant_verifier(self.s.verifier_organisation_id, revoke=True)
                await self._enter(Stage.VERIFIER_DECLINED, "verifier_declined", r.actor, {"reason": r.reason})
            return self.s

    @verifier_response.validator
    def _check_verifier_response(self, r: VerifierResponse) -> None:
        self._as_verifier(r.actor)
        self._in(Stage.AWAITING_VERIFIER)

    @workflow.update(name=UPDATE_COMMISSION_VERIFIER)
    async def commission_verifier(self, c: CommissionVerifier) -> IssuanceState:
        async with self._turn():
            self._check_commission(c)
            self.s.verifier_organisation_id = c.verifier_organisation_id
            self.s.engagement_no += 1
            await self._grant_verifier(c.verifier_organisation_id)
            await self._enter(Stage.AWAITING_VERIFIER, "verifier_commissioned", c.actor,
                              {"verifier_organisation_id": c.verifier_organisation_id})
            return self.s

    @commission_verifier.validator
    def _check_commission(self, c: CommissionVerifier) -> None:
        self._as_developer(c.actor)
        self._in(Stage.VERIFIER_DECLINED)

    @workflow.update(name=UPDATE_REQUEST_CORRECTIONS)
    async def request_corrections(self, c: CorrectionRequest) -> IssuanceState:
        async with self._turn():
            self._check_corrections(c)
            self.s.corrections_no += 1
            self.s.last_comments = c.comments
            await self._enter(Stage.CORRECTION, "corrections_requested", c.actor, {"comments": c.comments})
            return self.s

    @request_corrections.validator
    def _check_corrections(self, c: CorrectionRequest) -> None:
        self._as_verifier(c.actor)
        self._in(Stage.VERIFICATION)

    @workflow.update(name=UPDATE_AMEND_REPORT)
    async def amend_report(self, a: Amendment) -> IssuanceState:
        async with self._turn():
            self._check_amendment(a)
            if a.claimed_grams is not None:
                self.s.claimed_grams = a.claimed_grams
            await self._enter(Stage.VERIFICATION, "report_amended", a.actor,
                              {"claimed_grams": self.s.claimed_grams, "comments": a.comments,
                               "benefit_sharing_changed": a.benefit_sharing is not None},
                              benefit_sharing=a.benefit_sharing)
            return self.s

    @amend_report.validator
    def _check_amendment(self, a: Amendment) -> None:
        self._as_developer(a.actor)
        self._in(Stage.CORRECTION)

    @workflow.update(name=UPDATE_FILE_VERIFICATION_REPORT)
    async def file_verification_report(self, v: VerificationReport) -> IssuanceState:
        async with self._turn():
            self._check_report(v)
            assert self.policy is not None
            self.s.reports_no += 1
            self.s.verified_grams, self.conclusion = v.verified_grams, v.conclusion
            round_no = (self.s.publicity.round_no + 1) if self.s.publicity else 1
            starts = workflow.now()
            d = await self._act(COMPUTE_DEADLINE, DeadlineRequest(
                start=starts, working_days=self.policy.publicity_working_days), Deadline)
            self.s.publicity = PublicityState(round_no=round_no, starts_at=starts, ends_at=d.end,
                                              provisional=d.provisional)
            await asyncio.gather(
                self._act(SAVE_PUBLICITY_NOTICE, NoticeWrite(
                    case_id=self.s.case_id, round_no=round_no, starts_at=starts, ends_at=d.end,
                    provisional=d.provisional, verified_grams=v.verified_grams), int),
                self._enter(Stage.PUBLICITY, "verification_report_filed", v.actor,
                            {"verified_grams": v.verified_grams, "conclusion": v.conclusion, "round_no": round_no,
                             "starts_at": starts.isoformat(), "ends_at": d.end.isoformat(),
                             "provisional": d.provisional}))
            return self.s

    @file_verification_report.validator
    def _check_report(self, v: VerificationReport) -> None:
        self._as_verifier(v.actor)
        self._in(Stage.VERIFICATION)
        if v.verified_grams > self.s.claimed_grams:
            raise _refuse("invalid", f"the verified quantity ({v.verified_grams} g) exceeds the claimed quantity "
                                     f"({self.s.claimed_grams} g)")

    # --- publicity and objections -----------------------------------------------------------------

    @workflow.update(name=UPDATE_FILE_OBJECTION)
    async def file_objection(self, f: ObjectionFiled) -> ObjectionState:
        async with self._turn():
            self._check_objection(f)
            assert self.policy is not None and self.s.publicity is not None
            d = await self._act(COMPUTE_DEADLINE, DeadlineRequest(
                start=workflow.now(), working_days=self.policy.objection_answer_working_days), Deadline)
            objection = ObjectionState(objection_id=f.objection_id, round_no=self.s.publicity.round_no,
                                       answer_due=d.end)
            self.s.objections.append(objection)
            self._seq += 1
            self._tick += 1
            await self._audit("objection_filed", None, {"objection_id": f.objection_id,
                                                         "answer_due": d.end.isoformat()})
            return objection

    @file_objection.validator
    def _check_objection(self, f: ObjectionFiled) -> None:
        p = self._open_publicity()
        if workflow.now() >= p.ends_at:
            raise _refuse("conflict", f"the publicity of {self.s.case_id} ended at {p.ends_at.isoformat()}")
        if any(o.objection_id == f.objection_id for o in self.s.objections):
            raise _refuse("conflict", f"objection {f.objection_id} is already filed")

    @workflow.update(name=UPDATE_ANSWER_OBJECTION)
    async def answer_objection(self, a: ObjectionAnswer) -> ObjectionState:
        async with self._turn():
            self._check_answer(a)
            o = self._objection(a.objection_id)
            o.answered = True
            self._seq += 1
            self._tick += 1
            await asyncio.gather(
                self._act(RECORD_OBJECTION_STEP, ObjectionStep(objection_id=o.objection_id, at=workflow.now(),
                                                               answer=a.answer)),
                self._audit("objection_answered", a.actor, {"objection_id": o.objection_id}))
            return o

    @answer_objection.validator
    def _check_answer(self, a: ObjectionAnswer) -> None:
        self._as_developer(a.actor)
        p = self._open_publicity()
        o = self._objection(a.objection_id)
        if o.round_no != p.round_no or o.ruling is not None:
            raise _refuse("conflict", f"objection {o.objection_id} is closed")
        if o.answered:
            raise _refuse("conflict", f"objection {o.objection_id} is already answered")

    @workflow.update(name=UPDATE_RULE_OBJECTION)
    async def rule_objection(self, r: ObjectionRuling) -> ObjectionState:
        async with self._turn():
            self._check_ruling(r)
            o = self._objection(r.objection_id)
            ruling = "upheld" if r.upheld else "dismissed"
            o.ruling = ruling
            self._seq += 1
            self._tick += 1
            await asyncio.gather(
                self._act(RECORD_OBJECTION_STEP, ObjectionStep(
                    objection_id=o.objection_id, at=workflow.now(), ruling=ruling, ruling_reason=r.reason,
                    ruled_by_user_id=r.actor.user_id)),
                self._audit(f"objection_{ruling}", r.actor, {"objection_id": o.objection_id, "reason": r.reason}))
            if r.upheld:  # back to the developer; a corrected, re-verified case gets a full new publicity
                assert self.s.publicity is not None
                self.s.last_comments = r.reason
                self.s.corrections_no += 1
                # After the ruling is stored: closing lapses the round's objections still unruled.
                await asyncio.gather(
                    self._close_notice(self.s.publicity, "returned"),
                    self._enter(Stage.CORRECTION, "returned_for_correction", r.actor,
                                {"objection_id": o.objection_id}))
            return o

    @rule_objection.validator
    def _check_ruling(self, r: ObjectionRuling) -> None:
        self._as(r.actor, Role.BUREAU_ADMIN)
        p = self._open_publicity()
        o = self._objection(r.objection_id)
        if o.round_no != p.round_no or o.ruling is not None:
            raise _refuse("conflict", f"objection {o.objection_id} is already ruled on")
        if not o.answered and workflow.now() < o.answer_due:
            raise _refuse("conflict", f"the developer may answer objection {o.objection_id} until "
                                      f"{o.answer_due.isoformat()}")

    @workflow.signal(name=SIGNAL_CALENDAR_LOADED)
    def calendar_loaded(self) -> None:
        self._calendar_loaded = True
        self._tick += 1

    # --- application, evaluation, decision, issuance ----------------------------------------------

    @workflow.update(name=UPDATE_SUBMIT_APPLICATION)
    async def submit_application(self, a: Application) -> IssuanceState:
        async with self._turn():
            self._check_application(a)
            self.s.review_round += 1
            self.s.revision_due = None
            await self._enter(Stage.EVALUATION, "application_submitted", a.actor,
                              {"round_no": self.s.review_round, "statement": a.statement})
            return self.s

    @submit_application.validator
    def _check_application(self, a: Application) -> None:
        self._as_developer(a.actor)
        self._in(Stage.AWAITING_APPLICATION, Stage.REVISION)

    @workflow.update(name=UPDATE_DECIDE)
    async def decide(self, d: Decision) -> IssuanceState:
        async with self._turn():
            self._check_decision(d)
            self.s.decision_reason = d.reason
            await self._enter(Stage.PUBLISHED if d.publish else Stage.REJECTED,
                              "published" if d.publish else "rejected", d.actor, {"reason": d.reason})
            return self.s

    @decide.validator
    def _check_decision(self, d: Decision) -> None:
        self._as(d.actor, Role.BUREAU_ADMIN)
        self._in(Stage.DECISION)
        if d.publish and self.s.review_outcome != Vote.APPROVE:
            # Art. 21: only reductions that pass the expert evaluation are published.
            raise _refuse("invalid", f"the expert evaluation did not approve ({self.s.review_outcome})")

    @workflow.update(name=UPDATE_ISSUE)
    async def issue(self, i: IssueOrderUpdate) -> IssueResult:
        async with self._turn():
            self._check_issue(i)
            result = await self._act(ISSUE_REDUCTIONS, IssueRequest(
                case_id=self.s.case_id, issued_at=workflow.now(), operator_user_id=i.actor.user_id), IssueResult)
            self.s.issued = result
            await self._enter(Stage.ISSUED, "issued", i.actor, result.model_dump())
            return result

    @issue.validator
    def _check_issue(self, i: IssueOrderUpdate) -> None:
        self._as(i.actor, Role.OPERATOR_ADMIN)
        self._in(Stage.PUBLISHED)

    @workflow.update(name=UPDATE_WITHDRAW)
    async def withdraw(self, w: Withdrawal) -> IssuanceState:
        async with self._turn():
            self._check_withdrawal(w)
            self.s.withdrawal_reason = w.reason
            steps = [self._enter(Stage.WITHDRAWN, "withdrawn", w.actor, {"reason": w.reason})]
            if self.s.publicity is not None and not self.s.publicity.closed:
                steps.append(self._close_notice(self.s.publicity, "withdrawn"))
            await asyncio.gather(*steps)
            return self.s

    @withdraw.validator
    def _check_withdrawal(self, w: Withdrawal) -> None:
        self._as_developer(w.actor)
        if self.s.stage in FINAL_STAGES:
            raise _refuse("conflict", f"{self.s.case_id} is {self.s.stage.value} and can no longer be withdrawn")

    # --- queries --------------------------------------------------------------------------------

    @workflow.query(name=ISSUANCE_STATE_QUERY)
    def state(self) -> IssuanceState:
        return self.s

    @workflow.query(name=CASE_STATE_QUERY)
    def case_state(self) -> CaseView:
        now = workflow.now()
        tasks: list[OpenTask] = []
        owner = {Stage.AWAITING_VERIFIER: ("engagement", Role.VERIFIER),
                 Stage.VERIFIER_DECLINED: ("commission", Role.APPLICANT),
                 Stage.VERIFICATION: ("verification", Role.VERIFIER),
                 Stage.CORRECTION: ("correction", Role.APPLICANT),
                 Stage.AWAITING_APPLICATION: ("application", Role.APPLICANT),
                 Stage.REVISION: ("resubmission", Role.APPLICANT),
                 Stage.DECISION: ("decision", Role.BUREAU_ADMIN),
                 Stage.PUBLISHED: ("issuance", Role.OPERATOR_ADMIN)}.get(self.s.stage)
        deadline = self._deadline()
        if owner is not None:
            tasks.append(OpenTask(task_id=f"{self.s.case_id}-{owner[0]}", kind=owner[0], assignee=owner[1].value,
                                  due=deadline, overdue=bool(deadline and now > deadline)))
        if self.s.stage == Stage.PUBLICITY and self.s.publicity is not None:
            for o in self.s.objections:
                if o.round_no == self.s.publicity.round_no and o.ruling is None:
                    tasks.append(OpenTask(
                        task_id=f"objection-{o.objection_id}", kind="objection",
                        assignee=(Role.BUREAU_ADMIN if o.answered else Role.APPLICANT).value,
                        due=None if o.answered else o.answer_due,
                        overdue=not o.answered and now > o.answer_due))
        return CaseView(case_id=self.s.case_id, case_type=CASE_TYPE, stage=self.s.stage.value,
                        deadline=deadline, open_tasks=tasks)


WORKFLOWS: list[type] = [IssuanceCaseWorkflow]
