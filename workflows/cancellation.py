"""The cancellation case (注销, SPEC §2.6, Art. 29), id `cancellation-{n}`.

awaiting_decision (units reserved by the application) → confirmed (retired, certificate) | rejected |
withdrawn (released). The operator decides within policy.cancellation_confirm_working_days working
days: a reminder the working day before, then an overdue entry (CaseDeadline, case_state) and a
notice to the operator and the bureau. Human actions are updates whose validators refuse the wrong
actor or stage before anything is written; the ledger writes are idempotent activities, so a retried
update or a worker dying mid-step moves the units once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.contracts.audit import AuditRecord
    from domain.contracts.calendar import COMPUTE_DEADLINE, Deadline, DeadlineRequest
    from domain.contracts.cancellation import (
        CANCELLATION_STATE_QUERY,
        CANCELLATION_WORKFLOW,
        CASE_TYPE,
        CONFIRM_CANCELLATION,
        FINAL_STAGES,
        RECORD_CANCELLATION_STEP,
        RELEASE_CANCELLATION,
        UPDATE_DECIDE,
        UPDATE_WITHDRAW,
        CancellationStart,
        CancellationState,
        CancellationStep,
        ConfirmRequest,
        ConfirmResult,
        Decision,
        ReleaseRequest,
        Stage,
        Withdrawal,
    )
    from domain.contracts.cases import CASE_STATE_QUERY, CaseMirror, CaseView, OpenTask
    from domain.contracts.issuance import Actor
    from domain.contracts.notifications import Notification
    from domain.contracts.policy import SNAPSHOT_POLICY, PolicySnapshotRequest
    from domain.policy import PolicyParameters
    from domain.roles import Role
    from workflows import search_attributes as sa

_ACTIVITY = {"start_to_close_timeout": timedelta(seconds=30),
             "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30))}


def _refuse(kind: str, message: str, rule: str | None = None, field: str | None = None) -> ApplicationError:
    details = [{"field": field, "rule": rule}] if field else []
    return ApplicationError(message, *details, type=kind)


@workflow.defn(name=CANCELLATION_WORKFLOW)
class CancellationCaseWorkflow:
    @workflow.init
    def __init__(self, start: CancellationStart) -> None:
        self.start = start
        self.s = CancellationState(case_id=start.case_id, cancellation_id=start.cancellation_id,
                                   stage=Stage.AWAITING_DECISION)
        self._lock = asyncio.Lock()
        self._seq = 0
        self._tick = 0
        self._started = False
        self._remind_at = None

    @workflow.run
    async def run(self, start: CancellationStart) -> CancellationState:
        policy = await workflow.execute_activity(
            SNAPSHOT_POLICY, PolicySnapshotRequest(at=workflow.now()), result_type=PolicyParameters, **_ACTIVITY)
        days = policy.cancellation_confirm_working_days
        due, remind = await asyncio.gather(
            self._act(COMPUTE_DEADLINE, DeadlineRequest(start=start.applied_at, working_days=days), Deadline),
            self._act(COMPUTE_DEADLINE, DeadlineRequest(start=start.applied_at, working_days=days - 1), Deadline))
        self.s.due = due.end
        self._remind_at = remind.end if days > 1 else None
        async with self._lock:
            await self._step(Stage.AWAITING_DECISION, "applied", start.applicant,
                             {"quantity": start.quantity, "account_number": start.account_number,
                              "due": due.end.isoformat()},
                             tell=("申请注销待确认 / cancellation awaiting confirmation", [], [Role.OPERATOR_ADMIN]))
            self._started = True
        while self.s.stage not in FINAL_STAGES:
            now = workflow.now()
            if self._remind_at is not None and not self.s.reminded and now < self.s.due:
                if now >= self._remind_at:
                    await self._timer_step("reminder_sent", reminded=True)
                    continue
                await self._wait(self._remind_at - now)
            elif not self.s.overdue:
                if now >= self.s.due:
                    await self._timer_step("overdue", overdue=True)
                    continue
                await self._wait(self.s.due - now)
            else:
                await self._wait(None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.s

    async def _wait(self, timeout: timedelta | None) -> None:
        tick = self._tick
        try:
            await workflow.wait_condition(lambda: self._tick != tick, timeout=timeout)
        except asyncio.TimeoutError:
            pass

    async def _timer_step(self, action: str, *, reminded: bool = False, overdue: bool = False) -> None:
        async with self._lock:
            if self.s.stage in FINAL_STAGES:
                return
            self.s.reminded = self.s.reminded or reminded
            self.s.overdue = self.s.overdue or overdue
            roles = [Role.OPERATOR_ADMIN] + ([Role.BUREAU_ADMIN] if overdue else [])
            subject = ("注销确认即将到期 / cancellation decision due soon" if reminded
                       else "注销确认已逾期 / cancellation decision overdue")
            await self._step(self.s.stage, action, None, {"due": self.s.due.isoformat() if self.s.due else None},
                             tell=(subject, [], roles))

    # --- helpers --------------------------------------------------------------------------------

    async def _act(self, name: str, arg: Any, result_type: type | None = None) -> Any:
        return await workflow.execute_activity(name, arg, result_type=result_type, **_ACTIVITY)

    def _deadline(self):
        return self.s.due if self.s.stage == Stage.AWAITING_DECISION else None

    async def _step(self, stage: Stage, action: str, actor: Actor | None, details: dict[str, Any], *,
                    tell: tuple[str, list[int], list[Role]] | None = None) -> None:
        """Record a step in one activity: the case register, the notification, the audit trail."""
        self.s.stage = stage
        self._seq += 1
        self._tick += 1
        now = workflow.now()
        key = f"{self.s.case_id}:{self._seq}:{action}"
        notification = None
        if tell is not None:
            subject, orgs, roles = tell
            notification = Notification(
                dedupe_key=key, occurred_at=now, kind=f"cancellation.{action}",
                subject=f"{self.s.case_id}: {subject}", case_id=self.s.case_id,
                recipient_organisation_ids=orgs, recipient_roles=[r.value for r in roles],
                recipient_user_ids=[self.start.holder_user_id] if self.start.holder_user_id and not roles else [])
        await self._act(RECORD_CANCELLATION_STEP, CancellationStep(
            mirror=CaseMirror(case_id=self.s.case_id, case_type=CASE_TYPE, stage=stage.value, occurred_at=now,
                              owner_organisation_id=self.start.holder_organisation_id,
                              title=f"注销 {self.start.quantity} t ({self.start.account_number})",
                              deadline=self._deadline(),
                              details={"cancellation_id": self.s.cancellation_id}),
            audit=AuditRecord(dedupe_key=key, occurred_at=now, action=f"cancellation.{action}",
                              entity_type="cancellation", entity_id=str(self.s.cancellation_id),
                              case_id=self.s.case_id, workflow_id=self.s.case_id,
                              actor_user_id=actor.user_id if actor else None,
                              actor_role=actor.role if actor else "system", details=details),
            notification=notification))
        sa.upsert_case(CASE_TYPE, self.s.case_id, stage.value, self._deadline())

    def _holder_told(self, subject: str) -> tuple[str, list[int], list[Role]]:
        orgs = [self.start.holder_organisation_id] if self.start.holder_organisation_id else []
        return subject, orgs, []

    def _in_decision(self) -> None:
        if self.s.stage != Stage.AWAITING_DECISION:
            raise _refuse("conflict", f"{self.s.case_id} is {self.s.stage.value}; it was already decided",
                          "art29.already_decided", "stage")

    # --- the operator decides ------------------------------------------------------------------------

    @workflow.update(name=UPDATE_DECIDE)
    async def decide(self, d: Decision) -> CancellationState:
        await workflow.wait_condition(lambda: self._started)
        async with self._lock:
            self._check_decision(d)
            now = workflow.now()
            if d.confirm:
                # Art. 29: the operator confirms; the units are retired for ever with a certificate.
                result: ConfirmResult = await self._act(CONFIRM_CANCELLATION, ConfirmRequest(
                    cancellation_id=self.s.cancellation_id, at=now, actor_user_id=d.actor.user_id), ConfirmResult)
                self.s.certificate_number = result.certificate_number
                await self._step(Stage.CONFIRMED, "confirmed", d.actor,
                                 {"certificate_number": result.certificate_number, "quantity": result.quantity,
                                  "serial_ranges": result.serial_ranges},
                                 tell=self._holder_told(f"注销已确认，证书 {result.certificate_number} / confirmed"))
            else:
                await self._act(RELEASE_CANCELLATION, ReleaseRequest(
                    cancellation_id=self.s.cancellation_id, status="rejected", reason=d.reason, at=now,
                    actor_user_id=d.actor.user_id))
                self.s.reason = d.reason
                await self._step(Stage.REJECTED, "rejected", d.actor, {"reason": d.reason},
                                 tell=self._holder_told("注销申请被驳回 / rejected"))
            return self.s

    @decide.validator
    def _check_decision(self, d: Decision) -> None:
        if d.actor.role != Role.OPERATOR_ADMIN.value:
            raise _refuse("forbidden", "only the operator confirms or rejects a cancellation (Art. 29)")
        self._in_decision()
        if not d.confirm and not (d.reason or "").strip():
            raise _refuse("invalid", "a rejection needs a reason", "required", "reason")

    # --- the holder withdraws ------------------------------------------------------------------------

    @workflow.update(name=UPDATE_WITHDRAW)
    async def withdraw(self, w: Withdrawal) -> CancellationState:
        await workflow.wait_condition(lambda: self._started)
        async with self._lock:
            self._check_withdrawal(w)
            await self._act(RELEASE_CANCELLATION, ReleaseRequest(
                cancellation_id=self.s.cancellation_id, status="withdrawn", reason=w.reason, at=workflow.now(),
                actor_user_id=w.actor.user_id))
            self.s.reason = w.reason
            await self._step(Stage.WITHDRAWN, "withdrawn", w.actor, {"reason": w.reason},
                             tell=("注销申请已撤回 / withdrawn", [], [Role.OPERATOR_ADMIN]))
            return self.s

    @withdraw.validator
    def _check_withdrawal(self, w: Withdrawal) -> None:
        holder = (w.actor.organisation_id is not None and w.actor.organisation_id == self.start.holder_organisation_id) \
            or (self.start.holder_user_id is not None and w.actor.user_id == self.start.holder_user_id)
        if not holder:
            raise _refuse("forbidden", "only the holder withdraws its application")
        self._in_decision()

    # --- queries ---------------------------------------------------------------------------------

    @workflow.query(name=CANCELLATION_STATE_QUERY)
    def state(self) -> CancellationState:
        return self.s

    @workflow.query(name=CASE_STATE_QUERY)
    def case_state(self) -> CaseView:
        tasks = []
        if self.s.stage == Stage.AWAITING_DECISION:
            tasks.append(OpenTask(task_id=f"{self.s.case_id}-decision", kind="decision",
                                  assignee=Role.OPERATOR_ADMIN.value, due=self.s.due,
                                  overdue=bool(self.s.due and workflow.now() > self.s.due)))
        return CaseView(case_id=self.s.case_id, case_type=CASE_TYPE, stage=self.s.stage.value,
                        deadline=self._deadline(), open_tasks=tasks)


WORKFLOWS: list[type] = [CancellationCaseWorkflow]
