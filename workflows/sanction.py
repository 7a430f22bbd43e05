"""The sanction case (Art. 33), id `sanction-{n}`, on the case kit.

A suspension: the organisation's status becomes `suspended` (its users cannot act; data-source pushes
are refused by the status), every open case it owns is told at once (the kit's `participant_measure`:
paused, actions refused 409 art33.participant_suspended, deadlines stopped) and its account is frozen
(ledger freeze). A reinstatement undoes the three in reverse order. A termination does the same with
`terminated`, and its open cases are withdrawn with the reason; it is final.

Each part is an idempotent activity (or signals the kit dedupes) followed by its own audited step, so a
worker dying anywhere in the middle resumes where the history stands and ends in the same state; the
`progress` of the state query (and the case's audit trail) show how far it got.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.contracts.cases import PARTICIPANT_MEASURE_SIGNAL, OpenTask, ParticipantMeasure
    from domain.contracts.sanction import (
        CASE_TYPE,
        CASES_OF_PARTICIPANT,
        FINAL_STAGES,
        FREEZE_PARTICIPANT_UNITS,
        SANCTION_STATE_QUERY,
        SANCTION_WORKFLOW,
        SET_PARTICIPANT_STATUS,
        TERMINATE,
        UPDATE_REINSTATE,
        CasesRequest,
        FreezeRequest,
        FreezeResult,
        Reinstatement,
        SanctionFacts,
        SanctionStart,
        SanctionState,
        Stage,
        StatusRequest,
    )
    from domain.roles import Role
    from domain.rules import Kind, Rule
    from workflows.kit import CaseWorkflow, Tell, action, refuse, stage_in

OPERATOR, EXCHANGE, BUREAU = Role.OPERATOR_ADMIN.value, Role.EXCHANGE.value, Role.BUREAU_ADMIN.value


@workflow.defn(name=SANCTION_WORKFLOW)
class SanctionCaseWorkflow(CaseWorkflow):
    CASE_TYPE = CASE_TYPE
    ENTITY_TYPE = "sanction"
    AUDIT_PREFIX = "sanction"

    @workflow.init
    def __init__(self, start: SanctionStart) -> None:
        self.start = start
        self.s = SanctionState(case_id=start.case_id, sanction_id=start.sanction_id,
                               organisation_id=start.organisation_id, measure=start.measure, stage=Stage.IMPOSING)
        self.open_case(start.case_id, start.deployment_id, Stage.IMPOSING)

    stage = stage_in("s")

    @workflow.run
    async def run(self, start: SanctionStart) -> SanctionState:
        await self.begin("imposed", start.actor, {"organisation_id": start.organisation_id, "measure": start.measure,
                                                  "reason": start.reason, "report_id": start.report_id})
        async with self._lock:
            await self._impose()
        await self.follow(FINAL_STAGES, {})
        await self.close()
        return self.s

    async def _impose(self) -> None:
        s = self.start
        status = "terminated" if s.measure == TERMINATE else "suspended"
        # 1. Its users cannot act (the API checks the status on every action; sessions are revoked).
        await self.act(SET_PARTICIPANT_STATUS, StatusRequest(
            sanction_id=s.sanction_id, organisation_id=s.organisation_id, status=status, reason=s.reason,
            actor_user_id=s.actor.user_id))
        await self._progress("status_set", {"status": status})
        # 2. Its open cases: paused (suspension) or withdrawn (termination), all told at once. Termination
        # comes before the freeze: a withdrawn cancellation releases its reserved units first.
        await self._tell_cases(s.measure, s.reason)
        # 3. Its units are frozen.
        frozen: FreezeResult = await self.act(FREEZE_PARTICIPANT_UNITS, FreezeRequest(
            sanction_id=s.sanction_id, organisation_id=s.organisation_id, freeze=True,
            reason=f"{s.case_id}: {s.reason}", at=workflow.now(), actor_user_id=s.actor.user_id), FreezeResult)
        self.s.froze_account = frozen.froze_account
        await self._progress("units_frozen", {"account_number": frozen.account_number,
                                              "froze_account": frozen.froze_account})
        final = Stage.TERMINATED if s.measure == TERMINATE else Stage.IN_FORCE
        await self.step(final, "in_force", None, {"measure": s.measure},
                        tell=[Tell("in_force", self._subject(
                            "已终止服务和交易 / terminated" if s.measure == TERMINATE else "已暂停服务和交易 / suspended"),
                            body=s.reason, organisations=[s.organisation_id], roles=[OPERATOR, BUREAU])])

    async def _tell_cases(self, measure: str, reason: str) -> None:
        found: list[str] = await self.act(CASES_OF_PARTICIPANT, CasesRequest(organisation_id=self.start.organisation_id),
                                          list[str])
        m = ParticipantMeasure(sanction_case_id=self.case_id, organisation_id=self.start.organisation_id,
                               measure=measure, reason=reason, at=workflow.now(), actor_user_id=self.start.actor.user_id)
        sent = await asyncio.gather(*(workflow.get_external_workflow_handle(case).signal(PARTICIPANT_MEASURE_SIGNAL, m)
                                      for case in found), return_exceptions=True)
        # A case that has ended meanwhile cannot be told (and needs not be).
        told = [case for case, result in zip(found, sent, strict=True) if not isinstance(result, BaseException)]
        self.s.cases_told = sorted(set(self.s.cases_told) | set(told))
        await self._progress(f"cases_told_{measure}", {"cases": told, "ended": len(found) - len(told)})

    async def _progress(self, what: str, details: dict[str, Any]) -> None:
        self.s.progress.append(what)
        await self.step(self.stage, what, None, details)

    # --- the kit's hooks ------------------------------------------------------------------------

    def mirror(self) -> dict[str, Any]:
        return {"owner_organisation_id": self.start.organisation_id,
                "title": f"{'终止' if self.start.measure == TERMINATE else '暂停'} / {self.start.measure}",
                "details": {"sanction_id": self.s.sanction_id, "measure": self.start.measure}}

    def facts(self) -> SanctionFacts:
        return SanctionFacts(sanction_id=self.s.sanction_id, stage=self.s.stage.value, cases_told=self.s.cases_told,
                             lift_reason=self.s.lift_reason, lifted_at=self.s.lifted_at)

    def open_tasks(self) -> list[OpenTask]:
        if self.s.stage in (Stage.IMPOSING, Stage.LIFTING):
            return [OpenTask(task_id=f"{self.case_id}-{self.s.stage.value}", kind=self.s.stage.value,
                             assignee="system")]
        return []

    def _subject(self, text: str) -> str:
        return f"{self.case_id}: {text}"

    # --- reinstatement ----------------------------------------------------------------------------

    def _check_reinstate(self, r: Reinstatement) -> None:
        # Art. 33: the operator or the exchange imposes and lifts its measures.
        if r.actor.role not in (OPERATOR, EXCHANGE):
            raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only the operator or the exchange reinstates (Art. 33)")
        if self.start.measure == TERMINATE:
            raise refuse(Kind.CONFLICT, Rule.ART33_TERMINATION_FINAL, "a termination is final / 终止不可恢复",
                         field="sanction")
        if self.s.stage in (Stage.LIFTING, Stage.LIFTED):
            raise refuse(Kind.CONFLICT, Rule.ART33_ALREADY_LIFTED, f"{self.case_id} is {self.s.stage.value}",
                         field="sanction")
        if self.s.stage != Stage.IN_FORCE:
            raise refuse(Kind.CONFLICT, Rule.STAGE, f"{self.case_id} is still {self.s.stage.value}; try again shortly",
                         field="sanction")

    @action(UPDATE_REINSTATE, check=_check_reinstate)
    async def reinstate(self, r: Reinstatement) -> SanctionState:
        s = self.start
        self.s.lift_reason = r.reason
        await self.step(Stage.LIFTING, "reinstatement", r.actor, {"reason": r.reason})
        result: FreezeResult = await self.act(FREEZE_PARTICIPANT_UNITS, FreezeRequest(
            sanction_id=s.sanction_id, organisation_id=s.organisation_id, freeze=False,
            reason=f"{s.case_id}: {r.reason}", at=workflow.now(), actor_user_id=r.actor.user_id), FreezeResult)
        await self._progress("units_unfrozen", {"account_number": result.account_number})
        await self._tell_cases("reinstate", r.reason)
        await self.act(SET_PARTICIPANT_STATUS, StatusRequest(
            sanction_id=s.sanction_id, organisation_id=s.organisation_id, status="active", reason=r.reason,
            actor_user_id=r.actor.user_id))
        self.s.lifted_at = workflow.now()
        await self.step(Stage.LIFTED, "lifted", r.actor, {"status": "active"},
                        tell=[Tell("lifted", self._subject("已恢复 / reinstated"), body=r.reason,
                                   organisations=[s.organisation_id], roles=[OPERATOR, BUREAU])])
        return self.s

    @workflow.query(name=SANCTION_STATE_QUERY)
    def state(self) -> SanctionState:
        return self.s


WORKFLOWS: list[type] = [SanctionCaseWorkflow]
