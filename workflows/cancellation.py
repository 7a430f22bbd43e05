"""The cancellation case (注销, SPEC §2.6, Art. 29), id `cancellation-{n}`, on the case kit.

awaiting_decision (units reserved by the application) → confirmed (retired, certificate) | rejected |
withdrawn (released). The operator decides within policy.cancellation_confirm_working_days working
days: a reminder the working day before, then an overdue entry (CaseDeadline, case_state) and a
notice to the operator and the bureau. The ledger writes are idempotent activities, so a retried
update or a worker dying mid-step moves the units once.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.contracts.calendar import COMPUTE_DEADLINE, Deadline, DeadlineRequest
    from domain.contracts.cancellation import (
        CANCELLATION_STATE_QUERY,
        CANCELLATION_WORKFLOW,
        CASE_TYPE,
        CONFIRM_CANCELLATION,
        FINAL_STAGES,
        RELEASE_CANCELLATION,
        UPDATE_DECIDE,
        UPDATE_WITHDRAW,
        CancellationStart,
        CancellationState,
        ConfirmRequest,
        ConfirmResult,
        Decision,
        ReleaseRequest,
        Stage,
        Withdrawal,
    )
    from domain.contracts.policy import SNAPSHOT_POLICY, PolicySnapshotRequest
    from domain.policy import PolicyParameters
    from domain.roles import Role
    from domain.rules import Kind, Rule
    from workflows.kit import CaseWorkflow, Tell, action, refuse, stage_in

OPERATOR, BUREAU = Role.OPERATOR_ADMIN.value, Role.BUREAU_ADMIN.value


@workflow.defn(name=CANCELLATION_WORKFLOW)
class CancellationCaseWorkflow(CaseWorkflow):
    CASE_TYPE = CASE_TYPE
    ENTITY_TYPE = "cancellation"
    AUDIT_PREFIX = "cancellation"
    TASKS = {Stage.AWAITING_DECISION: ("decision", OPERATOR)}
    stage = stage_in("s")

    @workflow.init
    def __init__(self, start: CancellationStart) -> None:
        self.start = start
        self.s = CancellationState(case_id=start.case_id, cancellation_id=start.cancellation_id,
                                   stage=Stage.AWAITING_DECISION)
        self.open_case(start.case_id, start.deployment_id, Stage.AWAITING_DECISION)
        self._remind_at: datetime | None = None

    @workflow.run
    async def run(self, start: CancellationStart) -> CancellationState:
        # The deadline counts from the application, with the policy in force then.
        policy = await self.act(SNAPSHOT_POLICY, PolicySnapshotRequest(at=workflow.now()), PolicyParameters)
        days = policy.cancellation_confirm_working_days
        due, remind = await asyncio.gather(
            self.act(COMPUTE_DEADLINE, DeadlineRequest(start=start.applied_at, working_days=days), Deadline),
            self.act(COMPUTE_DEADLINE, DeadlineRequest(start=start.applied_at, working_days=days - 1), Deadline))
        self.s.due, self._remind_at = due.end, remind.end if days > 1 else None
        await self.begin("applied", start.applicant, {"quantity": start.quantity, "account_number": start.account_number,
                                                     "due": due.end.isoformat()}, policy=policy,
                         tell=[Tell("applied", f"{self.case_id}: 申请注销待确认 / cancellation awaiting confirmation",
                                    roles=[OPERATOR])])
        await self.follow(FINAL_STAGES, {Stage.AWAITING_DECISION: self._timers})
        await self.close()
        return self.s

    async def _timers(self) -> None:
        """A reminder the working day before the decision is due, then an overdue notice."""
        if self._remind_at is not None and not self.s.reminded and workflow.now() < self.s.due:
            await self.when_due(self._remind_at, lambda: self._timer_step("reminder_sent", reminded=True))
        elif not self.s.overdue:
            await self.when_due(self.s.due, lambda: self._timer_step("overdue", overdue=True))
        else:
            await self.next_change()

    async def _timer_step(self, action: str, *, reminded: bool = False, overdue: bool = False) -> None:
        self.s.reminded = self.s.reminded or reminded
        self.s.overdue = self.s.overdue or overdue
        subject = ("注销确认即将到期 / cancellation decision due soon" if reminded
                   else "注销确认已逾期 / cancellation decision overdue")
        await self.step(self.stage, action, None, {"due": self.s.due.isoformat() if self.s.due else None},
                        tell=[Tell(action, f"{self.case_id}: {subject}",
                                   roles=[OPERATOR] + ([BUREAU] if overdue else []))])

    # --- the kit's hooks ------------------------------------------------------------------------

    def deadline(self) -> datetime | None:
        return self.s.due if self.stage == Stage.AWAITING_DECISION else None

    def mirror(self) -> dict[str, Any]:
        return {"owner_organisation_id": self.start.holder_organisation_id,
                "title": f"注销 {self.start.quantity} t ({self.start.account_number})",
                "details": {"cancellation_id": self.s.cancellation_id}}

    def _holder(self, kind: str, subject: str) -> list[Tell]:
        orgs = [self.start.holder_organisation_id] if self.start.holder_organisation_id else []
        users = [self.start.holder_user_id] if self.start.holder_user_id and not orgs else []
        return [Tell(kind, f"{self.case_id}: {subject}", organisations=orgs, users=users)]

    def _in_decision(self) -> None:
        if self.stage != Stage.AWAITING_DECISION:
            raise refuse(Kind.CONFLICT, "art29.already_decided",
                         f"{self.case_id} is {self.stage.value}; it was already decided", field="stage")

    # --- the operator decides ------------------------------------------------------------------

    def _check_decision(self, d: Decision) -> None:
        if d.actor.role != OPERATOR:
            raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only the operator confirms or rejects a cancellation (Art. 29)")
        self._in_decision()
        if not d.confirm and not (d.reason or "").strip():
            raise refuse(Kind.INVALID, Rule.REQUIRED, "a rejection needs a reason", field="reason")

    @action(UPDATE_DECIDE, check=_check_decision)
    async def decide(self, d: Decision) -> CancellationState:
        now = workflow.now()
        if d.confirm:
            # Art. 29: the operator confirms; the units are retired for ever with a certificate.
            result: ConfirmResult = await self.act(CONFIRM_CANCELLATION, ConfirmRequest(
                cancellation_id=self.s.cancellation_id, at=now, actor_user_id=d.actor.user_id), ConfirmResult)
            self.s.certificate_number = result.certificate_number
            await self.step(Stage.CONFIRMED, "confirmed", d.actor,
                            {"certificate_number": result.certificate_number, "quantity": result.quantity,
                             "serial_ranges": result.serial_ranges},
                            tell=self._holder("confirmed", f"注销已确认，证书 {result.certificate_number} / confirmed"))
        else:
            await self.act(RELEASE_CANCELLATION, ReleaseRequest(
                cancellation_id=self.s.cancellation_id, status="rejected", reason=d.reason, at=now,
                actor_user_id=d.actor.user_id))
            self.s.reason = d.reason
            await self.step(Stage.REJECTED, "rejected", d.actor, {"reason": d.reason},
                            tell=self._holder("rejected", "注销申请被驳回 / rejected"))
        return self.s

    # --- the holder withdraws ------------------------------------------------------------------

    def _check_withdrawal(self, w: Withdrawal) -> None:
        holder = (w.actor.organisation_id is not None and w.actor.organisation_id == self.start.holder_organisation_id) \
            or (self.start.holder_user_id is not None and w.actor.user_id == self.start.holder_user_id)
        if not holder:
            raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only the holder withdraws its application")
        self._in_decision()

    @action(UPDATE_WITHDRAW, check=_check_withdrawal)
    async def withdraw(self, w: Withdrawal) -> CancellationState:
        await self.act(RELEASE_CANCELLATION, ReleaseRequest(
            cancellation_id=self.s.cancellation_id, status="withdrawn", reason=w.reason, at=workflow.now(),
            actor_user_id=w.actor.user_id))
        self.s.reason = w.reason
        await self.step(Stage.WITHDRAWN, "withdrawn", w.actor, {"reason": w.reason},
                        tell=[Tell("withdrawn", f"{self.case_id}: 注销申请已撤回 / withdrawn", roles=[OPERATOR])])
        return self.s

    @workflow.query(name=CANCELLATION_STATE_QUERY)
    def state(self) -> CancellationState:
        return self.s


WORKFLOWS: list[type] = [CancellationCaseWorkflow]
