"""GET /health: the database, the Temporal frontend, and whether workers poll the task queue.

"Temporal unreachable" and "worker not polling" are told apart: the frontend may answer while no worker has
polled the task queue for a minute (cases then wait without moving). A server that cannot describe task
queues (the time-skipping test server) reports the workers as "unknown", which is not a failure.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from api import temporal

router = APIRouter(tags=["health"])

POLLER_SILENCE = timedelta(minutes=1)


def _database_up(request: Request) -> bool:
    try:
        with request.app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


async def _temporal_up(request: Request) -> bool:
    state = request.app.state
    try:
        if state.temporal is None:
            if not state.settings.temporal_address:
                return False
            state.temporal = await asyncio.wait_for(temporal.connect(state.settings), timeout=3)
        await asyncio.wait_for(state.temporal.service_client.check_health(), timeout=3)
        return True
    except Exception:
        return False


async def _workers(request: Request) -> str:
    """"polling", "not polling: …" (no poller of a kind within a minute), or "unknown"."""
    client = request.app.state.temporal
    queue = request.app.state.settings.task_queue
    silent = []
    try:
        for kind, name in ((TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, "workflow"),
                           (TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, "activity")):
            described = await asyncio.wait_for(client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
                namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind)), timeout=3)
            recent = datetime.now(timezone.utc) - POLLER_SILENCE
            if not any(p.last_access_time.ToDatetime(tzinfo=timezone.utc) >= recent for p in described.pollers):
                silent.append(name)
    except Exception:
        return "unknown"
    return f"not polling: no {' or '.join(silent)} poller on task queue {queue} for a minute" if silent else "polling"


class HealthOut(BaseModel):
    status: str = Field(description="ok, or unavailable")
    database: str = Field(description="up or down")
    temporal: str = Field(description="up or unreachable")
    workers: str = Field(description="polling, not polling: …, or unknown")
    detail: str | None = Field(default=None, description="what is down")


@router.get("/health", summary="State of the database, the workflow engine and its workers",
            response_model=HealthOut,
            responses={503: {"model": HealthOut, "description": "something is down: the same report"}})
async def health(request: Request) -> JSONResponse:
    database = await asyncio.to_thread(_database_up, request)
    engine = await _temporal_up(request)
    parts = {"database": "up" if database else "down", "temporal": "up" if engine else "unreachable"}
    parts["workers"] = await _workers(request) if engine else "unknown"
    down = [name for name in ("database", "temporal") if parts[name] != "up"]
    if parts["workers"].startswith("not polling"):
        down.append("workers")
    body = {"status": "ok" if not down else "unavailable", **parts}
    if down:
        body["detail"] = "down: " + ", ".join(down)
    return JSONResponse(body, status_code=200 if not down else 503)
