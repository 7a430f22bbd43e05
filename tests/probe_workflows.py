"""Test-only workflows that call the calendar and policy activities by name, as real workflows do.

Kept apart from test modules so the workflow sandbox imports only temporalio and pure contracts."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from domain.contracts.calendar import COMPUTE_DEADLINE, Deadline, DeadlineRequest
from domain.contracts.policy import SNAPSHOT_POLICY, PolicySnapshotRequest
from domain.policy import PolicyParameters

_TIMEOUT = timedelta(seconds=30)


@workflow.defn
class DeadlineProbe:
    @workflow.run
    async def run(self, req: DeadlineRequest) -> Deadline:
        return await workflow.execute_activity(COMPUTE_DEADLINE, req, result_type=Deadline,
                                               start_to_close_timeout=_TIMEOUT)


@workflow.defn
class PolicySnapshotProbe:
    """Snapshots the policy at start like a case does, waits, then reports the snapshot it kept and
    what a case starting now would get."""

    def __init__(self) -> None:
        self.snapshot: PolicyParameters | None = None
        self.proceed = False

    @workflow.run
    async def run(self) -> list[PolicyParameters]:
        self.snapshot = await self._snapshot()
        await workflow.wait_condition(lambda: self.proceed)
        return [self.snapshot, await self._snapshot()]

    async def _snapshot(self) -> PolicyParameters:
        return await workflow.execute_activity(SNAPSHOT_POLICY, PolicySnapshotRequest(at=workflow.now()),
                                               result_type=PolicyParameters, start_to_close_timeout=_TIMEOUT)

    @workflow.update
    async def snapshot_taken(self) -> PolicyParameters:
        await workflow.wait_condition(lambda: self.snapshot is not None)
        assert self.snapshot is not None
        return self.snapshot

    @workflow.signal
    def go(self) -> None:
        self.proceed = True


PROBES = [DeadlineProbe, PolicySnapshotProbe]


def probe_worker(client, session_factory, settings, executor, task_queue: str):
    """A worker running the probes with the real activities (imported here: never inside the sandbox)."""
    from temporalio.worker import Worker

    from activities.registry import activity_objects, collect

    return Worker(client, task_queue=task_queue, workflows=PROBES,
                  activities=collect(activity_objects(session_factory, settings)),
                  activity_executor=executor, workflow_failure_exception_types=[Exception])


@workflow.defn
class FailingActivityProbe:
    """Calls an activity that refuses (non-retryable), for the worker's failure metrics."""

    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity("probe_refuse", start_to_close_timeout=_TIMEOUT)
        except Exception:  # noqa: BLE001 (the failure is what the probe is for)
            return "refused"
        return "done"
