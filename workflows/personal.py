"""The accounting of a behaviour batch (SPEC §2.5, Art. 22), a case on the kit: `behaviour-batch-{id}`.

The API has written the batch's records (one COPY) before starting it. The case accounts the whole batch
in one activity (set-based SQL in one transaction, idempotent on the batch: a crash or a second worker
credits nothing twice), then, when some records wait for their residents to bind, waits until the policy's
`unbound_wait_days` have passed and expires those still waiting. Payloads are ids and counts only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.contracts.personal import (
        ACCOUNT_BATCH,
        BATCH_STATE_QUERY,
        CASE_TYPE,
        EXPIRE_WAITING,
        FINAL_STAGES,
        AccountRequest,
        AccountResult,
        BatchStart,
        BatchState,
        ExpireRequest,
        ExpireResult,
        Stage,
    )
    from workflows.kit import CaseWorkflow, stage_in


@workflow.defn(name="BehaviourBatchCase")
class BehaviourBatchWorkflow(CaseWorkflow):
    CASE_TYPE = CASE_TYPE
    ENTITY_TYPE = "behaviour_batch"
    AUDIT_PREFIX = "behaviour_batch"

    @workflow.init
    def __init__(self, start: BatchStart) -> None:
        self.start = start
        self.s = BatchState(case_id=start.case_id, batch_id=start.batch_id, stage=Stage.RECEIVED)
        self.open_case(start.case_id, start.deployment_id, Stage.RECEIVED)

    stage = stage_in("s")

    @workflow.run
    async def run(self, start: BatchStart) -> BatchState:
        await self.begin("received", None, {"records": start.records})
        result: AccountResult = await self.act(ACCOUNT_BATCH, AccountRequest(
            batch_id=start.batch_id, unbound_wait_days=self.policy.unbound_wait_days), AccountResult)
        self.s.counts = result.counts
        self.s.expires_at = result.expires_at
        details: dict[str, Any] = {"counts": result.counts, "grams": result.grams}
        if result.waiting:
            await self.step(Stage.AWAITING_BINDING, "accounted", None, details)
            await self.follow(FINAL_STAGES, {Stage.AWAITING_BINDING: self._awaiting_binding})
        else:
            await self.step(Stage.ACCOUNTED, "accounted", None, details)
        await self.close()
        return self.s

    async def _awaiting_binding(self) -> None:
        assert self.s.expires_at is not None
        await self.when_due(self.s.expires_at, self._expire)

    async def _expire(self) -> None:
        result: ExpireResult = await self.act(EXPIRE_WAITING, ExpireRequest(batch_id=self.start.batch_id),
                                              ExpireResult)
        await self.step(Stage.ACCOUNTED, "waiting_expired", None, {"expired": result.expired})

    def deadline(self) -> datetime | None:
        return self.s.expires_at if self.s.stage == Stage.AWAITING_BINDING else None

    def mirror(self) -> dict[str, Any]:
        return {"owner_organisation_id": self.start.source_organisation_id,
                "title": f"行为数据批次 / behaviour batch {self.start.batch_id} ({self.start.records})",
                "details": {"batch_id": self.start.batch_id}}

    @workflow.query(name=BATCH_STATE_QUERY)
    def state(self) -> BatchState:
        return self.s


WORKFLOWS: list[type] = [BehaviourBatchWorkflow]
