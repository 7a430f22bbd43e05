"""No request holds a database connection while it waits on Temporal (issue 10, defect 3).

With the worker down, human actions and live reads wait for an answer that does not come. They must give
their connection back first, wait at most TEMPORAL_WAIT_SECONDS, and answer 504 problem+json; meanwhile
every other route that touches the database answers as usual, from a deliberately small pool.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text

from api.app import create_app
from domain.roles import Role
from store.session import make_engine, make_session_factory

POOL = 3  # far fewer connections than waiting requests
WAITING = 24
WAIT = 10.0  # seconds a request waits on Temporal: room for all of them to get past their reads first


async def _all_waiting(engine, tasks) -> None:
    """Until every request has done its reads (the pool is idle) while none has answered yet."""
    for _ in range(100):
        if engine.pool.checkedout() == 0:
            break
        await asyncio.sleep(0.05)
    assert not any(t.done() for t in tasks), [t.result().text for t in tasks if t.done()][:1]
    assert engine.pool.checkedout() == 0


@asynccontextmanager
async def _small_pool_app(database_url, settings, temporal_client):
    engine = make_engine(database_url, pool_size=POOL, max_overflow=0, pool_timeout=3)
    wait_settings = settings.model_copy(update={"temporal_wait_seconds": WAIT})
    app = create_app(wait_settings, session_factory=make_session_factory(engine), temporal_client=temporal_client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c, engine
    engine.dispose()


@pytest_asyncio.fixture
async def small_pool_app(database_url, settings, temporal_env):
    async with _small_pool_app(database_url, settings, temporal_env.client) as app:
        yield app


@pytest_asyncio.fixture
async def small_pool_app_on_dev_server(database_url, settings, local_temporal_env):
    # The admin view reads a case's history, which only the dev server implements.
    async with _small_pool_app(database_url, settings, local_temporal_env.client) as app:
        yield app


def _idle_in_transaction(engine) -> int:
    with engine.connect() as conn:  # a connection of its own, outside the app's pool
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND state LIKE 'idle in transaction%'")).scalar_one()


async def test_waiting_on_a_missing_worker_holds_no_connection(small_pool_app, database_url, bureau, make_actor,
                                                              session_factory):
    client, engine = small_pool_app
    applicant = make_actor(Role.APPLICANT)
    # Started, but no worker runs: every update and query of this case waits.
    r = await client.post("/api/v1/methodologies", headers=applicant.headers, json={
        "title": "Bike sharing", "scope": "project", "domain": "low_carbon_travel", "summary": "s"})
    assert r.status_code == 201, r.text
    case_no = r.json()["id"]

    waiting = [asyncio.create_task(client.post(f"/api/v1/methodologies/{case_no}/completeness",
                                               json={"decision": "accept"}, headers=bureau.headers))
               for _ in range(WAITING)]
    waiting += [asyncio.create_task(client.post(f"/api/v1/methodologies/{case_no}/withdrawal",
                                                json={"reason": "no longer"}, headers=applicant.headers))
                for _ in range(WAITING // 2)]
    await asyncio.sleep(0.5)
    await _all_waiting(engine, waiting)

    outside = make_engine(database_url, pool_size=1)
    try:
        assert _idle_in_transaction(outside) == 0
    finally:
        outside.dispose()
    assert engine.pool.checkedout() == 0
    # The database routes still answer from the small pool; health says the database is up.
    health = await client.get("/api/v1/health")
    assert health.json()["database"] == "up", health.text
    for path in ("/api/v1/projects", "/api/v1/publicity-notices", f"/api/v1/methodologies/{case_no}"):
        r = await client.get(path, headers=bureau.headers)
        assert r.status_code == 200, (path, r.status_code, r.text)

    # Half the callers give up; the others get a bounded, clear answer.
    for t in waiting[::2]:
        t.cancel()
    answered = [t for t in waiting[1::2]]
    for r in await asyncio.gather(*answered):
        assert r.status_code == 504, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "retry" in r.json()["detail"]
    assert engine.pool.checkedout() == 0


async def test_a_live_read_waits_bounded_and_holds_no_connection(small_pool_app_on_dev_server, bureau, make_actor):
    client, engine = small_pool_app_on_dev_server
    # The admin view of a case asks the case itself (a query): no worker, so no answer.
    applicant = make_actor(Role.APPLICANT)
    r = await client.post("/api/v1/methodologies", headers=applicant.headers, json={
        "title": "Bus", "scope": "project", "domain": "low_carbon_travel", "summary": "s"})
    case_id = r.json()["case_id"]
    reads = [asyncio.create_task(client.get(f"/api/v1/admin/cases/{case_id}", headers=bureau.headers))
             for _ in range(WAITING)]
    await asyncio.sleep(0.5)
    await _all_waiting(engine, reads)
    assert (await client.get("/api/v1/projects")).status_code == 200
    for r in await asyncio.gather(*reads):
        # A bounded answer: the case without its live state, or 504 when even that took too long.
        assert r.status_code in (200, 504), r.text
        assert r.json()["state_available"] is False if r.status_code == 200 else "retry" in r.json()["detail"]


@pytest.mark.parametrize("path", ["/api/v1/methodologies/{case_no}/completeness"])
async def test_with_temporal_gone_an_action_is_a_quick_503(path, settings, session_factory, bureau, make_actor,
                                                          temporal_env):
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from settings import binary_path

    from tests.conftest import _search_attribute_request

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary_path("temporal-test-server"), data_converter=pydantic_data_converter)
    await env.client.operator_service.add_search_attributes(_search_attribute_request(env.client))
    app = create_app(settings.model_copy(update={"temporal_wait_seconds": 30.0}), session_factory=session_factory,
                     temporal_client=env.client)
    applicant = make_actor(Role.APPLICANT)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        r = await c.post("/api/v1/methodologies", headers=applicant.headers, json={
            "title": "Metro", "scope": "project", "domain": "low_carbon_travel", "summary": "s"})
        case_no = r.json()["id"]
        await env.shutdown()
        started = asyncio.get_running_loop().time()
        r = await c.post(path.format(case_no=case_no), json={"decision": "accept"}, headers=bureau.headers)
        took = asyncio.get_running_loop().time() - started
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "Temporal" in r.json()["detail"]
    # Not a timed assertion on speed: it must not have sat out the 30 s wait meant for a slow worker.
    assert took < 30
