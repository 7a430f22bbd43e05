"""The benchmark's yardstick: a workflow with the issuance case's number of activities, updates and
one long timer, doing nothing else. Kept apart so the workflow sandbox imports only temporalio."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow

NOOP = "bench_noop"


class BareShape(BaseModel):
    activities: int  # spread evenly over the steps after each update
    updates: int
    timer_days: int


@activity.defn(name=NOOP)
def bench_noop(step: int) -> int:
    return step


@workflow.defn(name="BenchBareCase")
class BareCase:
    def __init__(self) -> None:
        self.received = 0
        self.finished = False

    @workflow.run
    async def run(self, shape: BareShape) -> int:
        per_step, extra = divmod(shape.activities, shape.updates + 1)
        done = 0
        for step in range(shape.updates + 1):
            if step:
                await workflow.wait_condition(lambda: self.received >= step)
            for _ in range(per_step + (1 if step < extra else 0)):
                done = await workflow.execute_activity(NOOP, done + 1, start_to_close_timeout=timedelta(seconds=30))
            if step == 2:  # like publicity, after the verification report
                await asyncio.sleep(timedelta(days=shape.timer_days).total_seconds())
        self.finished = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return done

    @workflow.update
    async def step(self, last: bool) -> int:
        """The last update returns when the work is done, as the real last step (issuance) does."""
        self.received += 1
        if last:
            await workflow.wait_condition(lambda: self.finished)
        return self.received
