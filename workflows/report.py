"""The report case (举报, SPEC §2.7, Art. 34), id `report-{n}`, on the case kit.

awaiting_assignment → awaiting_acknowledgement → investigating → concluded. The bureau assigns a
handler (a bureau or operator user, never of the reported organisation); the handler acknowledges by
`report_ack_working_days` and concludes by `report_conclude_working_days` after the filing. Before each
deadline a reminder goes to the handler; past it, an overdue step tells the bureau (escalation) and the
case's open task shows overdue in the admin view. Nothing in this workflow names the reporter.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.contracts.calendar import COMPUTE_DEADLINE, Deadline, DeadlineRequest
    from domain.contracts.cases import OpenTask
    from domain.contracts.policy import SNAPSHOT_POLICY, PolicySnapshotRequest
    from domain.contracts.report import (
        CASE_TYPE,
        FINAL_STAGES,
        REPORT_STATE_QUERY,
        REPORT_WORKFLOW,
        UPDATE_ACKNOWLEDGE,
        UPDATE_ASSIGN,
        UPDATE_CONCLUDE,
        Acknowledgement,
        Assignment,
        Conclusion,
        ReportFacts,
        ReportStart,
        ReportState,
        Stage,
    )
    from domain.policy import PolicyParameters
    from domain.roles import Role
    from domain.rules import Kind, Rule
    from workflows.kit import CaseWorkflow, Grant, Tell, action, refuse, stage_in

BUREAU, OPERATOR = Role.BUREAU_ADMIN.value, Role.OPERATOR_ADMIN.value
HANDLER = "report_handler"


@workflow.defn(name=REPORT_WORKFLOW)
class ReportCaseWorkflow(CaseWorkflow):
    CASE_TYPE = CASE_TYPE
    ENTITY_TYPE = "report"
    AUDIT_PREFIX = "report"

    @workflow.init
    def __init__(self, start: ReportStart) -> None:
        self.start = start
        self.s = ReportState(case_id=start.case_id, report_id=start.report_id, stage=Stage.AWAITING_ASSIGNMENT)
        self.open_case(start.case_id, start.deployment_id, Stage.AWAITING_ASSIGNMENT)
        self._remind: dict[str, datetime | None] = {}

    stage = stage_in("s")

    @workflow.run
    async def run(self, start: ReportStart) -> ReportState:
        policy = await self.act(SNAPSHOT_POLICY, PolicySnapshotRequest(at=workflow.now()), PolicyParameters)
        ack, conclude = policy.report_ack_working_days, policy.report_conclude_working_days

        def due(days: int):
            return self.act(COMPUTE_DEADLINE, DeadlineRequest(start=start.filed_at, working_days=days), Deadline)

        a, a1, c, c1 = await asyncio.gather(due(ack), due(ack - 1), due(conclude), due(conclude - 1))
        self.s.ack_due, self.s.conclude_due = a.end, c.end
        self._remind = {"ack": a1.end if ack > 1 else None, "conclude": c1.end}
        await self.begin("filed", None, {"reported_organisation_id": start.reported_organisation_id,
                                         "ack_due": a.end.isoformat(), "conclude_due": c.end.isoformat()},
                         policy=policy, tell=[Tell("filed", self._subject("新举报待分派 / new report to assign"),
                                                   roles=[BUREAU])])
        await self.follow(FINAL_STAGES, {Stage.AWAITING_ASSIGNMENT: self._watch,
                                         Stage.AWAITING_ACKNOWLEDGEMENT: self._watch,
                                         Stage.INVESTIGATING: self._watch})
        await self.close()
        return self.s

    # --- deadlines ------------------------------------------------------------------------------

    def _which(self) -> str:
        return "conclude" if self.s.stage == Stage.INVESTIGATING else "ack"

    def _due(self, which: str) -> datetime:
        due = self.s.conclude_due if which == "conclude" else self.s.ack_due
        assert due is not None
        return due

    async def _watch(self) -> None:
        """The reminder the working day before the stage's deadline, then the overdue step."""
        which = self._which()
        due, remind = self._due(which), self._remind.get(which)
        if remind is not None and which not in self.s.reminded and workflow.now() < self._shifted(due):
            await self.when_due(remind, lambda: self._reminder(which))
        elif which not in self.s.overdue:
            await self.when_due(due, lambda: self._overdue(which))
        else:
            await self.next_change()

    async def _reminder(self, which: str) -> None:
        self.s.reminded.append(which)
        await self.step(self.stage, f"{which}_reminder_sent", None, {"due": self._due(which).isoformat()},
                        tell=[Tell(f"{which}_reminder_sent", self._subject("举报处理即将到期 / report deadline soon"),
                                   **self._handler_or_bureau())])

    async def _overdue(self, which: str) -> None:
        self.s.overdue.append(which)
        # Escalation: the bureau hears of it, whoever handles the report.
        await self.step(self.stage, f"{which}_overdue", None, {"due": self._due(which).isoformat()},
                        tell=[Tell(f"{which}_overdue", self._subject("举报处理已逾期 / report overdue"), roles=[BUREAU],
                                   users=[self.s.handler_user_id] if self.s.handler_user_id else [])])

    def _handler_or_bureau(self) -> dict[str, Any]:
        return {"users": [self.s.handler_user_id]} if self.s.handler_user_id else {"roles": [BUREAU]}

    # --- the kit's hooks ------------------------------------------------------------------------

    def deadline(self) -> datetime | None:
        return None if self.s.stage == Stage.CONCLUDED else self._due(self._which())

    def mirror(self) -> dict[str, Any]:
        # No owner: the reported organisation never sees the case (nor its reporter).
        return {"title": f"举报 / report {self.s.report_id}",
                "details": {"report_id": self.s.report_id, "reported_organisation_id": self.start.reported_organisation_id}}

    def facts(self) -> ReportFacts:
        s = self.s
        return ReportFacts(report_id=s.report_id, stage=s.stage.value, handler_user_id=s.handler_user_id,
                           ack_due=s.ack_due, conclude_due=s.conclude_due, acknowledged_at=s.acknowledged_at,
                           concluded_at=s.concluded_at, substantiated=s.substantiated, conclusion=s.conclusion,
                           measures=s.measures, overdue=bool(s.overdue))

    def open_tasks(self) -> list[OpenTask]:
        if self.s.stage == Stage.CONCLUDED:
            return []
        kind = {Stage.AWAITING_ASSIGNMENT: "assign", Stage.AWAITING_ACKNOWLEDGEMENT: "acknowledge",
                Stage.INVESTIGATING: "conclude"}[self.s.stage]
        assignee = BUREAU if self.s.stage == Stage.AWAITING_ASSIGNMENT else f"user:{self.s.handler_user_id}"
        due = self.current_deadline()
        return [OpenTask(task_id=f"{self.case_id}-{kind}", kind=kind, assignee=assignee, due=due,
                         overdue=due is not None and workflow.now() > due)]

    def _subject(self, text: str) -> str:
        return f"{self.case_id}: {text}"

    # --- the bureau assigns a handler -----------------------------------------------------------

    def _check_assign(self, a: Assignment) -> None:
        if a.actor.role != BUREAU:
            raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only the bureau assigns a report's handler (Art. 34)")
        if self.s.stage == Stage.CONCLUDED:
            raise refuse(Kind.CONFLICT, Rule.ART34_STAGE, f"{self.case_id} is concluded", field="stage")
        # Art. 34: the handler is of the authorities, never of the organisation reported.
        if a.handler_role not in (BUREAU, OPERATOR):
            raise refuse(Kind.INVALID, Rule.ART34_HANDLER, "the handler is a bureau or operator user",
                         field="handler_user_id")
        if a.handler_organisation_id is not None and a.handler_organisation_id == self.start.reported_organisation_id:
            raise refuse(Kind.INVALID, Rule.ART34_HANDLER, "the handler may not belong to the reported organisation",
                         field="handler_user_id")

    @action(UPDATE_ASSIGN, check=_check_assign)
    async def assign(self, a: Assignment) -> ReportState:
        before = self.s.handler_user_id
        grants = [Grant(HANDLER, user_id=a.handler_user_id)]
        if before is not None and before != a.handler_user_id:
            grants.append(Grant(HANDLER, user_id=before, revoke=True))
        self.s.handler_user_id = a.handler_user_id
        stage = Stage.AWAITING_ACKNOWLEDGEMENT if self.s.stage == Stage.AWAITING_ASSIGNMENT else self.s.stage
        await self.step(stage, "assigned", a.actor, {"handler_user_id": a.handler_user_id, "previous": before},
                        grants=grants, tell=[Tell("assigned", self._subject("举报分派给您处理 / report assigned to you"),
                                                  users=[a.handler_user_id])])
        return self.s

    # --- the handler acknowledges and concludes -------------------------------------------------

    def _handler(self, actor_user_id: int) -> None:
        if self.s.handler_user_id is None or actor_user_id != self.s.handler_user_id:
            raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only the assigned handler does this (Art. 34)")

    def _check_ack(self, a: Acknowledgement) -> None:
        self._handler(a.actor.user_id)
        if self.s.stage != Stage.AWAITING_ACKNOWLEDGEMENT:
            raise refuse(Kind.CONFLICT, Rule.ART34_STAGE, f"{self.case_id} is {self.s.stage.value}", field="stage")

    @action(UPDATE_ACKNOWLEDGE, check=_check_ack)
    async def acknowledge(self, a: Acknowledgement) -> ReportState:
        self.s.acknowledged_at = workflow.now()
        await self.step(Stage.INVESTIGATING, "acknowledged", a.actor)
        return self.s

    def _check_conclude(self, c: Conclusion) -> None:
        self._handler(c.actor.user_id)
        if self.s.stage != Stage.INVESTIGATING:
            raise refuse(Kind.CONFLICT, Rule.ART34_STAGE,
                         f"{self.case_id} is {self.s.stage.value}: it is acknowledged first, concluded once",
                         field="stage")

    @action(UPDATE_CONCLUDE, check=_check_conclude)
    async def conclude(self, c: Conclusion) -> ReportState:
        self.s.concluded_at = workflow.now()
        self.s.substantiated, self.s.conclusion, self.s.measures = c.substantiated, c.conclusion, c.measures
        await self.step(Stage.CONCLUDED, "concluded", c.actor, {"substantiated": c.substantiated},
                        tell=[Tell("concluded", self._subject("举报已办结 / report concluded"), roles=[BUREAU])])
        return self.s

    @workflow.query(name=REPORT_STATE_QUERY)
    def state(self) -> ReportState:
        return self.s


WORKFLOWS: list[type] = [ReportCaseWorkflow]
