"""Crash drill of the accounting (SPEC §2.5): the worker — `tanpuhui worker`, its own process — is killed with
SIGKILL while it accounts batches (24 of 2,000 records), again and again; then one worker finishes. Every record ends with exactly
one outcome and the grams on the records equal the balances: a batch's accounting is one transaction, so a
kill mid-batch leaves nothing, and the retry accounts it once."""

from __future__ import annotations

import asyncio
import os
import uuid

import httpx
import pytest
from sqlalchemy import text

from api.app import create_app
from domain.roles import Role
from tests.personal_helpers import approve_source, bind, publish_personal, record, sign_up
from tests.test_crash_drill import Killer, _server

# Enough batches that the kills fall mid-way: a pass accounts up to 8 batches of a source at once.
BATCHES = 24


@pytest.mark.slow
async def test_batches_are_accounted_once_while_the_worker_is_killed(settings, session_factory, database_url,
                                                                    make_actor, operator):
    publish_personal(session_factory)
    env = await _server()
    app = create_app(settings.model_copy(update={"temporal_wait_seconds": 5.0}), session_factory=session_factory,
                     temporal_client=env.client)
    worker_env = {**os.environ, "DATABASE_URL": database_url, "TASK_QUEUE": settings.task_queue,
                  "WORKER_METRICS_ADDRESS": "", "MAX_CACHED_WORKFLOWS": "0",
                  "TEMPORAL_ADDRESS": env.client.service_client.config.target_host, "TEMPORAL_NAMESPACE": "default",
                  "TANPUHUI_DATA_DIR": str(settings.data_dir)}
    killer = Killer(worker_env)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                     timeout=60) as http:
            source, _ = await approve_source(http, operator, make_actor)
            residents = [(await sign_up(http, f"r{i}"))[0] for i in range(5)]
            subjects = [f"u-{uuid.uuid4().hex[:10]}" for _ in residents]
            for headers, subject in zip(residents, subjects, strict=True):
                await bind(http, source.headers, headers, subject)
            batches = []
            for b in range(BATCHES):  # batches of 2,000 records; a tenth re-sent from the batch before
                recs = [record(f"{b}-{i}", subjects[i % 5], behaviour="walk_step", quantity=37, unit="step")
                        for i in range(2000)]
                if b:
                    recs[:200] = [record(f"{b - 1}-{i}", subjects[i % 5], behaviour="walk_step", quantity=37,
                                         unit="step") for i in range(200, 400)]
                r = await http.post("/api/v1/behaviour-batches", headers=source.headers, json={"records": recs})
                assert r.status_code == 202, r.text
                batches.append(r.json()["batch_id"])
            at_kills = []
            for _ in range(3):  # start a worker, let it begin accounting, kill it
                polling = await killer.start()
                await asyncio.wait_for(polling.wait(), 60)
                await asyncio.sleep(0.3)
                await killer.kill()
                with session_factory() as s:
                    at_kills.append(s.execute(text(
                        "SELECT count(*) FROM behaviour_batches WHERE status = 'accounted'")).scalar())
            # The kills fell while batches were still being accounted (not after the work was done).
            assert at_kills[0] < len(batches), at_kills
            await killer.start()
            for _ in range(600):
                with session_factory() as s:
                    left = s.execute(text("SELECT count(*) FROM behaviour_batches WHERE status <> 'accounted'")).scalar()
                if not left:
                    break
                await asyncio.sleep(0.5)
            assert left == 0, "\n".join(killer.log[-50:])
    finally:
        await killer.stop()
        await env.shutdown()
    assert killer.kills == 3
    with session_factory() as s:
        outcomes = dict(s.execute(text("SELECT outcome, count(*) FROM behaviour_records GROUP BY 1")).all())
        assert sum(outcomes.values()) == BATCHES * 2000 and None not in outcomes, outcomes
        assert outcomes["duplicate"] == (BATCHES - 1) * 200, outcomes
        on_records = s.execute(text("SELECT sum(grams) FROM behaviour_records")).scalar()
        balances = s.execute(text(  # the balance is the sum of an account's day rows
            "SELECT sum(b) FROM personal_accounts a CROSS JOIN LATERAL "
            "(SELECT sum(grams) b FROM personal_daily_credits d WHERE d.account_id = a.id) x")).scalar()
        days = s.execute(text("SELECT sum(grams) FROM personal_daily_credits")).scalar()
        keys = s.execute(text("SELECT count(*) FROM behaviour_event_keys")).scalar()
    assert on_records == balances == days and keys == BATCHES * (2000 - 200) + 200
