"""Ending a test's cases on the shared time-skipping server without stalling it.

The Temporal server outlives each test's rows: a case left running would wake in a later test whose
tables no longer hold it, and its retried activities would keep time skipping locked. Terminating a
workflow while one of its tasks is in flight locks time skipping too, so each case is first waited on
until it is quiet. Review children go first (the test server applies no parent close policies).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from sqlalchemy import case, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, Interceptor, OutboundInterceptor, StartWorkflowInput, WorkflowHandle
from temporalio.service import RPCError

from store.models.cases import Case

_CLOSING = {"EVENT_TYPE_WORKFLOW_TASK_COMPLETED", "EVENT_TYPE_WORKFLOW_TASK_FAILED",
            "EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT"}
_ACTIVITY_DONE = {"EVENT_TYPE_ACTIVITY_TASK_COMPLETED", "EVENT_TYPE_ACTIVITY_TASK_FAILED",
                  "EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT", "EVENT_TYPE_ACTIVITY_TASK_CANCELED"}


async def is_quiet(handle: WorkflowHandle) -> bool:
    """No activity is running and every workflow task scheduled has been completed."""
    open_tasks = 0
    running: set[int] = set()
    async for event in handle.fetch_history_events():
        kind = EventType.Name(event.event_type)
        if kind == "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED":
            open_tasks += 1
        elif kind in _CLOSING:
            open_tasks -= 1
        elif kind == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED":
            running.add(event.event_id)
        elif kind in _ACTIVITY_DONE:
            attrs = getattr(event, kind.removeprefix("EVENT_TYPE_").lower() + "_event_attributes")
            running.discard(attrs.scheduled_event_id)
    return open_tasks == 0 and not running


class StartedWorkflows(Interceptor):
    """Records the id of every workflow the test client starts (a case may end a test before its
    first activity has put it in the case register)."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Recorder(next, self.ids)


class _Recorder(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, ids: list[str]) -> None:
        super().__init__(next)
        self._ids = ids

    async def start_workflow(self, input: StartWorkflowInput):
        self._ids.append(input.id)
        return await super().start_workflow(input)


async def end_running_cases(client: Client, session_factory: sessionmaker[Session],
                            started: StartedWorkflows | None = None) -> None:
    """End the registered cases (review children first) and every workflow the client started."""
    with session_factory() as s:
        case_ids = list(s.scalars(select(Case.case_id).order_by(case((Case.case_type == "review", 0), else_=1))))
    if started is not None:
        case_ids += [i for i in dict.fromkeys(started.ids) if i not in case_ids]
        started.ids.clear()
    record_to = os.environ.get("TANPUHUI_RECORD_HISTORIES")
    for case_id in case_ids:
        handle = client.get_workflow_handle(case_id)
        with contextlib.suppress(RPCError):
            for _ in range(200):
                if await is_quiet(handle):
                    break
                await asyncio.sleep(0.02)
            if record_to:  # refreshing tests/histories/ (see tests/test_replay.py)
                history = await handle.fetch_history()
                Path(record_to, f"{case_id}.json").write_text(history.to_json())
            await handle.terminate("test finished")
