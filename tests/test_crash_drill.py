"""Crash drills (issue 10: keep the holes closed), black-box: HTTP calls and database checks only.

1. The worker — `tanpuhui worker`, its own process as in deployment — is killed with SIGKILL again and again
   while methodology and issuance cases move through the API on a time-skipping server. Callers retry what
   answered 503/504 (the same request: update ids make that safe). Every case ends exactly once: one
   publication, one issuance, one block of units, each audited once, the audit chain intact.
2. With Temporal gone the API answers at once with 503 and, once Temporal is back, serves again on its own.

Bounded: DRILL_SECONDS (default 300) for the whole first drill.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.contracts.review import Vote, review_workflow_id
from domain.roles import Role
from settings import binary_path
from store.models.audit import AuditEvent
from store.models.cases import Case
from store.models.ledger import Issuance, UnitBlock
from store.models.methodology import MethodologyVersion
from tests.conftest import _search_attribute_request
from tests.issuance_flow import Flow, make_flow

pytestmark = pytest.mark.slow

DRILL_SECONDS = float(os.environ.get("DRILL_SECONDS", "300"))
RETRY = (503, 504)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _server(port: int | None = None) -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary_path("temporal-test-server"), data_converter=pydantic_data_converter,
        port=port)
    await env.client.operator_service.add_search_attributes(_search_attribute_request(env.client))
    return env


@dataclass
class Killer:
    """Starts the deployment's worker and, once it polls, kills it with SIGKILL a few seconds later, again and
    again until told to stop; then one last worker runs until the test stops it."""

    env: dict[str, str]
    log: list[str] = field(default_factory=list)  # the workers' log lines, shown when the drill fails
    kills: int = 0
    process: asyncio.subprocess.Process | None = None

    async def start(self) -> asyncio.Event:
        polling = asyncio.Event()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli.main", "worker", env=self.env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)

        async def drain(stream: asyncio.StreamReader) -> None:
            while line := await stream.readline():
                self.log.append(line.decode(errors="replace").rstrip()[:500])
                if b"polling task queue" in line:
                    polling.set()

        assert self.process.stderr is not None
        asyncio.create_task(drain(self.process.stderr))
        return polling

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
            self.kills += 1

    async def killed(self, times: int) -> None:
        """Until the worker has been killed `times` times: cases wait here so kills fall between their steps."""
        while self.kills < times:
            await asyncio.sleep(0.1)

    async def run(self, stop: asyncio.Event, rng: random.Random) -> None:
        while not stop.is_set():
            polling = await self.start()
            await asyncio.wait({asyncio.create_task(polling.wait()), asyncio.create_task(stop.wait())},
                               return_when=asyncio.FIRST_COMPLETED)
            # It polls: let it work long enough to get past what the last kill left behind (a task the dead worker
            # held is handed on only when its 10 s workflow task timeout runs out), then kill it mid-case.
            try:
                await asyncio.wait_for(stop.wait(), rng.uniform(12.0, 20.0))
            except TimeoutError:
                await self.kill()
                await asyncio.sleep(rng.uniform(0.2, 1.5))

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


class DrillFlow(Flow):
    """The issuance steps of tests/issuance_flow.py, retried while the worker is down."""

    async def call(self, method: str, url: str, actor, expect: int | None = 200, **kw) -> httpx.Response:
        headers = {**(actor.headers if actor is not None else {}), **kw.pop("headers", {})}
        loop = asyncio.get_running_loop()
        deadline, retried = loop.time() + DRILL_SECONDS, False
        while True:
            r = await self.http.request(method, f"/api/v1{url}", headers=headers, **kw)
            if r.status_code in RETRY and loop.time() < deadline:
                retried = True
                await asyncio.sleep(0.5)
                continue
            if retried and expect == 200 and r.status_code == 409:
                return r  # an earlier attempt that timed out was applied after all: the case moved on
            if expect is not None:
                assert r.status_code == expect, f"{method} {url}: {r.status_code} {r.text}"
            return r

    async def until(self, case_id: str, stage: str, seconds: float = DRILL_SECONDS) -> dict:
        return await super().until(case_id, stage, seconds)

    async def skip_past_publicity(self, case_id: str, round_no: int = 1) -> None:
        # The test server skips time only while no workflow task is outstanding: with the worker dead the skip
        # times out, and is tried again (from wherever the clock got to).
        notice = await self.notice(case_id, round_no)
        while True:
            remaining = datetime.fromisoformat(notice["ends_at"]) - await self.env.get_current_time()
            if remaining <= timedelta(0):
                return
            try:
                await self.skip(remaining + timedelta(seconds=1))
                return
            except RPCError:
                await asyncio.sleep(1)


async def _methodology(flow: DrillFlow, applicant, killer: Killer) -> str:
    """Submit, accept, review (approve), publish: one methodology case through the API."""
    r = await flow.call("POST", "/methodologies", applicant, 201, json={
        "title": f"Drill {random.randrange(10**6)}", "scope": "project", "domain": "energy_substitution",
        "summary": "Distributed solar."})
    case_no, case_id = r.json()["id"], r.json()["case_id"]

    async def stage() -> str:
        return (await flow.call("GET", f"/methodologies/{case_no}", applicant)).json()["stage"]

    async def reach(wanted: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRILL_SECONDS
        while (current := await stage()) != wanted:
            assert loop.time() < deadline, f"{case_id} stuck in {current}, not {wanted}"
            await asyncio.sleep(0.2)

    await flow.call("POST", f"/methodologies/{case_no}/completeness", flow.bureau, json={"decision": "accept"})
    await killer.killed(1)
    review_id = review_workflow_id(case_id, 1)
    while (await flow.call("GET", f"/reviews/{review_id}", flow.bureau, None)).status_code != 200:
        await asyncio.sleep(0.2)
    await flow.call("POST", f"/reviews/{review_id}/panel", flow.bureau, json={"expert_ids": [e for _, e in flow.experts]})
    for expert, _ in flow.experts:
        while True:
            tasks = [t for t in (await flow.call("GET", "/review-tasks", expert)).json() if t["review_id"] == review_id]
            if tasks:
                break
            await asyncio.sleep(0.2)
        await flow.call("POST", f"/review-tasks/{tasks[0]['task_id']}/decision", expert,
                        json={"vote": "approve", "comments": "Sound."})
    await killer.killed(2)
    await reach("publication_decision")
    await flow.call("POST", f"/methodologies/{case_no}/publication", flow.bureau, json={"decision": "publish"})
    await reach("published")
    return case_id


async def _issuance(flow: DrillFlow, period: tuple[str, str], killer: Killer) -> str:
    case_id = (await flow.file(period=period, claimed="120.5"))["case_id"]
    await flow.verify(case_id, verified="100.25")
    await killer.killed(1)
    await flow.until(case_id, "publicity")
    await flow.skip_past_publicity(case_id)
    await flow.apply(case_id)
    await killer.killed(2)
    await flow.conclude_review(case_id, 1, Vote.APPROVE)
    await killer.killed(3)
    await flow.publish(case_id)
    await flow.until(case_id, "published")
    await flow.issue(case_id)
    await flow.until(case_id, "issued")
    return case_id


async def test_cases_end_exactly_once_while_the_worker_is_killed_again_and_again(
        settings, session_factory, database_url, make_actor, make_org, bureau, operator):
    env = await _server()
    app = create_app(settings.model_copy(update={"temporal_wait_seconds": 2.0}), session_factory=session_factory,
                     temporal_client=env.client)
    worker_env = {**os.environ, "DATABASE_URL": database_url, "TASK_QUEUE": settings.task_queue,
                  "WORKER_METRICS_ADDRESS": "",
                  # The time-skipping test server does not hand a dead worker's sticky tasks on: no sticky
                  # execution here (the dev and production servers do, after a few seconds).
                  "MAX_CACHED_WORKFLOWS": "0",
                  "TEMPORAL_ADDRESS": env.client.service_client.config.target_host, "TEMPORAL_NAMESPACE": "default",
                  "TANPUHUI_DATA_DIR": str(settings.data_dir)}
    killer, stop = Killer(worker_env), asyncio.Event()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                     timeout=60) as http:
            base = await make_flow(http, env, make_actor, make_org, bureau, operator, session_factory)
            flow = DrillFlow(**base.__dict__)
            applicants = [make_actor(Role.APPLICANT)]
            killing = asyncio.create_task(killer.run(stop, random.Random(20261202)))
            try:
                done = await asyncio.wait_for(asyncio.gather(
                    _issuance(flow, ("2024-01-01", "2024-06-30"), killer),
                    *(_methodology(flow, a, killer) for a in applicants)), DRILL_SECONDS + 60)
            except BaseException:
                print("\n".join(line for line in killer.log if '"level": "INFO"' not in line)[-20000:])
                raise
            finally:
                stop.set()
                await killing
            issuance_ids, methodology_ids = done[:1], done[1:]
            assert killer.kills >= 3, f"the worker was killed only {killer.kills} times"
            verify = await flow.call("GET", "/audit/verify", bureau)
    finally:
        await killer.stop()
        await env.shutdown()

    assert verify.json()["ok"] is True, verify.text
    with session_factory() as s:
        for case_id in issuance_ids:
            assert s.get(Case, case_id).stage == "issued"
            assert s.scalar(select(func.count()).select_from(Issuance).where(Issuance.issuance_key == case_id)) == 1
            issued = s.scalar(select(Issuance).where(Issuance.issuance_key == case_id))
            assert s.scalar(select(func.count()).select_from(UnitBlock)
                            .where(UnitBlock.issuance_id == issued.id)) == 1
            assert issued.tonnes == 100
            actions = Counter(s.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case_id)))
            for once in ("issuance.filed", "issuance.verification_report_filed", "issuance.publicity_completed",
                         "issuance.application_submitted", "issuance.published", "issuance.issued"):
                assert actions[once] == 1, (case_id, once, actions)
        for case_id in methodology_ids:
            assert s.get(Case, case_id).stage == "published"
            actions = Counter(s.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case_id)))
            for once in ("methodology.submitted", "methodology.completeness_accepted", "methodology.panel_approved",
                         "methodology.published"):
                assert actions[once] == 1, (case_id, once, actions)
            assert s.scalar(select(func.count()).select_from(MethodologyVersion)
                            .where(MethodologyVersion.case_id == case_id)) == 1


async def test_with_temporal_down_the_api_answers_503_at_once_and_recovers(settings, session_factory, make_actor,
                                                                        bureau):
    port = _free_port()
    env = await _server(port)
    app = create_app(settings.model_copy(update={"temporal_wait_seconds": 60.0}), session_factory=session_factory,
                     temporal_client=env.client)
    applicant = make_actor(Role.APPLICANT)
    body = {"title": "Metro", "scope": "project", "domain": "low_carbon_travel", "summary": "s"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=60) as c:
        assert (await c.post("/api/v1/methodologies", headers=applicant.headers, json=body)).status_code == 201
        await env.shutdown()
        loop = asyncio.get_running_loop()
        for _ in range(5):
            started = loop.time()
            r = await c.post("/api/v1/methodologies", headers=applicant.headers, json=body)
            # Not the 60 s a slow worker would be given: the frontend is known to be gone.
            assert r.status_code == 503 and loop.time() - started < 30, r.text
            assert "Temporal" in r.json()["detail"] and r.headers["retry-after"]
        health = await c.get("/api/v1/health")
        assert health.status_code == 503 and health.json()["temporal"] == "unreachable"
        # The database routes do not care.
        assert (await c.get("/api/v1/projects")).status_code == 200

        back = await _server(port)  # Temporal returns at the same address
        try:
            deadline = loop.time() + 60
            while True:
                r = await c.post("/api/v1/methodologies", headers=applicant.headers, json=body)
                if r.status_code == 201:
                    break
                assert r.status_code == 503 and loop.time() < deadline, r.text
                await asyncio.sleep(0.5)
            assert (await c.get("/api/v1/health")).json()["temporal"] == "up"
        finally:
            await back.shutdown()
