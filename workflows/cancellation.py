"""The cancellation case (注销, SPEC §2.6, Art. 29), id `cancellation-{n}`, on the case kit.

awaiting_decision (units reserved by the application) → confirmed (retired, certificate) | rejected |
withdrawn (released). The operator decides within policy.cancellation_confirm_working_days working
days: a reminder the working day before, then an overdue entry (CaseDeadline, case_state) and a
notice to the operator and the bureau. Human actions are the kit's `@action`s; the ledger writes are
idempotent activities, so a retried action or a worker dying mid-step moves the units once.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.contracts.calendar import COMPUTE_DEADLINE, Deadline, DeadlineRequest
    from domain.contracts.cancellation import (
        CANCELLATION_STATE_QUERY,
        CANCELLATION_WORKFLOW,
        CASE_TYPE,
        CONFIRM_CANCELLATION,
        RELEASE_CANCELLATION,
        TERMINAL_STAGES,
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
    from domain.contracts.cases import Actor, ParticipantMeasure
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

    @workflow.init
    def __init__(self, start: CancellationStart) -> None:
        self.start = start
        self.s = CancellationState(case_id=start.case_id, cancellation_id=start.cancellation_id,
                                   stage=Stage.AWAITING_DECISION)
        self.open_case(start.case_id, start.deployment_id, Stage.AWAITING_DECISION)
        self._remind_at: datetime | None = None

    stage = stage_in("s")

    @workflow.run
    async def run(self, start: CancellationStart) -> CancellationState:
        policy = await self.act(SNAPSHOT_POLICY, PolicySnapshotRequest(at=workflow.now()), PolicyParameters)
        days = policy.cancellation_confirm_working_days
        due, remind = await asyncio.gather(
            self.act(COMPUTE_DEADLINE, DeadlineRequest(start=start.applied_at, working_days=days), Deadline),
            self.act(COMPUTE_DEADLINE, DeadlineRequest(start=start.applied_at, working_days=days - 1), Deadline))
        self.s.due = due.end
        self._remind_at = remind.end if days > 1 else None
        await self.begin("applied", start.applicant,
                         {"quantity": start.quantity, "account_number": start.account_number,
                          "due": due.end.isoformat()}, policy=policy,
                         tell=[Tell("applied", self._subject("申请注销待确认 / cancellation awaiting confirmation"),
                                    roles=[OPERATOR])])
        await self.follow(TERMINAL_STAGES, {Stage.AWAITING_DECISION: self._awaiting_decision})
        await self.close()
        return self.s

    async def _awaiting_decision(self) -> None:
        """The reminder the working day before the deadline, then the overdue step; then only actions."""
        assert self.s.due is not None
        if self._remind_at is not None and not self.s.reminded and workflow.now() < self.s.due:
            await self.when_due(self._remind_at, self._remind)
        elif not self.s.overdue:
            await self.when_due(self.s.due, self._overdue)
        else:
            await self.next_change()

    async def _remind(self) -> None:
        self.s.reminded = True
        await self.step(self.stage, "reminder_sent", None, self._due_details(),
                        tell=[Tell("reminder_sent", self._subject("注销确认即将到期 / cancellation decision due soon"),
                                   roles=[OPERATOR])])

    async def _overdue(self) -> None:
        self.s.overdue = True
        await self.step(self.stage, "overdue", None, self._due_details(),
                        tell=[Tell("overdue", self._subject("注销确认已逾期 / cancellation decision overdue"),
                                   roles=[OPERATOR, BUREAU])])

    # --- the kit's hooks ------------------------------------------------------------------------

    def deadline(self) -> datetime | None:
        return self.s.due if self.s.stage == Stage.AWAITING_DECISION else None

    def mirror(self) -> dict[str, Any]:
        return {"owner_organisation_id": self.start.holder_organisation_id,
                "title": f"注销 {self.start.quantity} t ({self.start.account_number})",
                "details": {"cancellation_id": self.s.cancellation_id}}

    # --- helpers --------------------------------------------------------------------------------

    def _subject(self, text: str) -> str:
        return f"{self.s.case_id}: {text}"

    def _due_details(self) -> dict[str, Any]:
        return {"due": self.s.due.isoformat() if self.s.due else None}

    def _tell_holder(self, kind: str, text: str) -> list[Tell]:
        """The holding organisation, or the individual whose own account it is."""
        org, user = self.start.holder_organisation_id, self.start.holder_user_id
        return [Tell(kind, self._subject(text), organisations=[org] if org else [],
                     users=[user] if user and not org else [])]

    async def _ledger(self, name: str, arg: Any, actor: Actor, result_type: type | None = None) -> Any:
        """A ledger write of a decision. When the ledger refuses it (a frozen account, Art. 33), the case
        stays where it is and the refusal is a step of its own: the action is refused with the ledger's
        rule, and a later attempt (after the unfreeze) is a new action, at the next step."""
        try:
            return await self.act(name, arg, result_type)
        except ActivityError as err:
            cause = err.cause
            if not isinstance(cause, ApplicationError) or cause.type not in {k.value for k in Kind}:
                raise
            detail = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
            await self.step(self.stage, "decision_refused", actor,
                            {"rule": detail.get("rule"), "message": cause.message})
            raise refuse(cause.type, detail.get("rule") or cause.type, cause.message, detail.get("field")) from None

    def _undecided(self) -> None:
        if self.s.stage != Stage.AWAITING_DECISION:
            raise refuse(Kind.CONFLICT, Rule.ART29_ALREADY_DECIDED,
                         f"{self.s.case_id} is {self.s.stage.value}; it was already decided", field="stage")

    # --- the operator decides ------------------------------------------------------------------------

    def _check_decision(self, d: Decision) -> None:
        if d.actor.role != OPERATOR:
            raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only the operator confirms or rejects a cancellation (Art. 29)")
        self._undecided()
        if not d.confirm and not (d.reason or "").strip():
            raise refuse(Kind.INVALID, Rule.REQUIRED, "a rejection needs a reason", field="reason")

    @action(UPDATE_DECIDE, check=_check_decision)
    async def decide(self, d: Decision) -> CancellationState:
        now = workflow.now()
        if d.confirm:
            # Art. 29: the operator confirms; the units are retired for ever with a certificate.
            result: ConfirmResult = await self._ledger(CONFIRM_CANCELLATION, ConfirmRequest(
                cancellation_id=self.s.cancellation_id, at=now, actor_user_id=d.actor.user_id), d.actor, ConfirmResult)
            self.s.certificate_number = result.certificate_number
            await self.step(Stage.CONFIRMED, "confirmed", d.actor,
                            {"certificate_number": result.certificate_number, "quantity": result.quantity,
                             "serial_ranges": result.serial_ranges},
                            tell=self._tell_holder("confirmed", f"注销已确认，证书 {result.certificate_number} / confirmed"))
        else:
            await self._ledger(RELEASE_CANCELLATION, ReleaseRequest(
                cancellation_id=self.s.cancellation_id, status="rejected", reason=d.reason, at=now,
                actor_user_id=d.actor.user_id), d.actor)
            self.s.reason = d.reason
            await self.step(Stage.REJECTED, "rejected", d.actor, {"reason": d.reason},
                            tell=self._tell_holder("rejected", "注销申请被驳回 / rejected"))
        return self.s

    # --- the holder withdraws ------------------------------------------------------------------------

    def _check_withdrawal(self, w: Withdrawal) -> None:
        holder = (w.actor.organisation_id is not None and w.actor.organisation_id == self.start.holder_organisation_id) \
            or (self.start.holder_user_id is not None and w.actor.user_id == self.start.holder_user_id)
        if not holder:
            raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only the holder withdraws its application")
        self._undecided()

    @action(UPDATE_WITHDRAW, check=_check_withdrawal)
    async def withdraw(self, w: Withdrawal) -> CancellationState:
        await self._ledger(RELEASE_CANCELLATION, ReleaseRequest(
            cancellation_id=self.s.cancellation_id, status="withdrawn", reason=w.reason, at=workflow.now(),
            actor_user_id=w.actor.user_id), w.actor)
        self.s.reason = w.reason
        await self.step(Stage.WITHDRAWN, "withdrawn", w.actor, {"reason": w.reason},
                        tell=[Tell("withdrawn", self._subject("注销申请已撤回 / withdrawn"), roles=[OPERATOR])])
        return self.s

    # --- Art. 33: the holder is terminated ---------------------------------------------------------

    async def on_terminated(self, m: ParticipantMeasure) -> None:
        """The reservation is released (withdrawn with the sanction's reason), then the case is."""
        await self.act(RELEASE_CANCELLATION, ReleaseRequest(
            cancellation_id=self.s.cancellation_id, status="withdrawn", reason=m.reason, at=workflow.now(),
            actor_user_id=m.actor_user_id or self.start.applicant.user_id))
        self.s.reason = m.reason
        await self.step(Stage.WITHDRAWN, "withdrawn_by_sanction", None,
                        {"sanction": m.sanction_case_id, "reason": m.reason},
                        tell=self._tell_holder("withdrawn_by_sanction", "参与主体被终止，注销申请撤回 / withdrawn: terminated"))

    # --- queries ---------------------------------------------------------------------------------

    @workflow.query(name=CANCELLATION_STATE_QUERY)
    def state(self) -> CancellationState:
        return self.s


WORKFLOWS: list[type] = [CancellationCaseWorkflow]
