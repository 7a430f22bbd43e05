"""GET /api/v1/health: 200 when the database and Temporal answer, 503 naming the part that is down."""

from __future__ import annotations

import asyncio
import socket

import httpx
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from settings import Settings, binary_path
from store.session import make_engine, make_session_factory


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


async def _health(settings: Settings, *, database_url: str | None = None, session_factory=None,
                  temporal_client=None) -> httpx.Response:
    """GET /health of an app wired as given; a database_url builds (and disposes) its own engine."""
    engine = make_engine(database_url, pool_size=1) if database_url else None
    if engine is not None:
        session_factory = make_session_factory(engine)
    app = create_app(settings, session_factory=session_factory, temporal_client=temporal_client)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            return await c.get("/api/v1/health")
    finally:
        if engine is not None:
            engine.dispose()


async def test_health_is_200_when_database_and_temporal_answer(client):
    r = await client.get("/api/v1/health")
    assert r.status_code == 200
    # The time-skipping test server cannot describe task queues: the workers are "unknown", not a failure.
    assert r.json() == {"status": "ok", "database": "up", "temporal": "up", "workers": "unknown"}


async def test_health_is_503_naming_the_database_when_it_is_down(settings, temporal_env):
    r = await _health(settings, database_url=f"postgresql://postgres@127.0.0.1:{_closed_port()}/tanpuhui",
                      temporal_client=temporal_env.client)
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "database": "down", "temporal": "up", "workers": "unknown",
                        "detail": "down: database"}


async def test_health_is_503_naming_temporal_when_its_server_was_shut_down(settings, session_factory):
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary_path("temporal-test-server"), data_converter=pydantic_data_converter)
    await env.shutdown()
    r = await _health(settings, session_factory=session_factory, temporal_client=env.client)
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "database": "up", "temporal": "unreachable", "workers": "unknown",
                        "detail": "down: temporal"}


async def test_health_is_503_naming_temporal_when_nothing_listens_at_its_address(settings, session_factory):
    nowhere = settings.model_copy(update={"temporal_address": f"127.0.0.1:{_closed_port()}"})
    # No Temporal client given: health tries to connect itself.
    r = await _health(nowhere, session_factory=session_factory)
    assert r.status_code == 503
    assert r.json()["temporal"] == "unreachable" and r.json()["database"] == "up"
    assert r.json()["detail"] == "down: temporal"


async def test_health_names_both_parts_when_both_are_down():
    settings = Settings(DATABASE_URL="postgresql://postgres@127.0.0.1:1/x", TEMPORAL_ADDRESS=None)
    r = await _health(settings, database_url=settings.database_url)
    assert r.status_code == 503
    assert r.json()["detail"] == "down: database, temporal"


async def test_health_tells_workers_not_polling_from_temporal_unreachable(settings, session_factory,
                                                                        local_temporal_env):
    """Issue 10: the frontend answers, but no worker has polled the task queue for a minute."""
    import uuid

    from temporalio.worker import Worker

    from tests.probe_workflows import PROBES

    quiet = settings.model_copy(update={"task_queue": f"nobody-{uuid.uuid4().hex[:8]}"})
    r = await _health(quiet, session_factory=session_factory, temporal_client=local_temporal_env.client)
    assert r.status_code == 503
    body = r.json()
    assert body["temporal"] == "up" and body["detail"] == "down: workers"
    assert body["workers"] == (f"not polling: no workflow or activity poller on task queue {quiet.task_queue} "
                               "for a minute")
    async with Worker(local_temporal_env.client, task_queue=quiet.task_queue, workflows=PROBES):
        for _ in range(100):  # the server notes a poller once its first poll arrives
            r = await _health(quiet, session_factory=session_factory, temporal_client=local_temporal_env.client)
            if "workflow" not in r.json()["workers"]:
                break
            await asyncio.sleep(0.1)
    # A worker with workflows only: the activity side still has nobody.
    assert r.json()["workers"] == f"not polling: no activity poller on task queue {quiet.task_queue} for a minute"
