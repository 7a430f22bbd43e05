"""Admin view of workflows: list by type/stage/deadline (real visibility), describe, overdue tasks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import pytest_asyncio
from temporalio.client import WorkflowHandle
from temporalio.worker import Worker

from api.app import create_app
from api.routes.workflows_admin import visibility_query
from domain.contracts.cases import CaseView, OpenTask
from domain.roles import Role
from tests.case_probe import CaseProbe

NOW = datetime.now(timezone.utc)
PAST = NOW - timedelta(days=2)
FUTURE = NOW + timedelta(days=5)


@pytest_asyncio.fixture
async def admin_client(local_temporal_env, session_factory, settings):
    app = create_app(settings, session_factory=session_factory, temporal_client=local_temporal_env.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest_asyncio.fixture
async def cases(local_temporal_env):
    """Start probe cases on a worker of their own; every case is terminated afterwards."""
    queue = f"admin-view-{uuid.uuid4().hex[:8]}"
    started: list[WorkflowHandle] = []

    async def start(view: CaseView) -> WorkflowHandle:
        handle = await local_temporal_env.client.start_workflow(
            CaseProbe.run, view, id=view.case_id, task_queue=queue)
        started.append(handle)
        return handle

    async with Worker(local_temporal_env.client, task_queue=queue, workflows=[CaseProbe],
                      workflow_failure_exception_types=[Exception]):
        yield start
        for handle in started:
            try:
                await handle.terminate("test over")
            except Exception:
                pass  # finished already


def _case_type() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


async def _eventually(fetch: Callable[[], Awaitable[httpx.Response]], done: Callable[[dict], bool]) -> dict:
    """Visibility is eventually consistent: poll until the listing shows what the test started."""
    for _ in range(100):
        r = await fetch()
        assert r.status_code == 200, r.text
        if done(r.json()):
            return r.json()
        await asyncio.sleep(0.1)
    pytest.fail(f"visibility never showed the expected cases: {r.json()}")


def _listing(client: httpx.AsyncClient, kind: str, actor):
    async def listing(**params) -> httpx.Response:
        return await client.get("/api/v1/admin/cases", params={"case_type": kind, **params}, headers=actor.headers)
    return listing


async def _submitted_cases(cases, n: int) -> str:
    kind = _case_type()
    for i in range(n):
        await cases(CaseView(case_id=f"{kind}-{i}", case_type=kind, stage="submitted"))
    return kind


def _ids(page: dict) -> set[str]:
    return {item["case_id"] for item in page["items"]}


async def test_cases_are_listed_by_type_stage_and_deadline(admin_client, cases, bureau):
    kind = _case_type()
    await cases(CaseView(case_id=f"{kind}-1", case_type=kind, stage="panel_review", deadline=PAST))
    await cases(CaseView(case_id=f"{kind}-2", case_type=kind, stage="panel_review", deadline=FUTURE))
    await cases(CaseView(case_id=f"{kind}-3", case_type=kind, stage="publicity"))

    listing = _listing(admin_client, kind, bureau)
    page = await _eventually(listing, lambda p: len(p["items"]) == 3)
    one = next(i for i in page["items"] if i["case_id"] == f"{kind}-1")
    assert one["case_type"] == kind and one["stage"] == "panel_review" and one["case_number"] == f"{kind}-1"
    assert one["status"] == "running" and one["workflow_type"] == "CaseProbe"
    assert datetime.fromisoformat(one["deadline"]) == PAST

    assert _ids((await listing(stage="panel_review")).json()) == {f"{kind}-1", f"{kind}-2"}
    assert _ids((await listing(stage="publicity")).json()) == {f"{kind}-3"}
    assert _ids((await listing(deadline_before=NOW.isoformat())).json()) == {f"{kind}-1"}
    assert _ids((await listing(deadline_after=NOW.isoformat())).json()) == {f"{kind}-2"}
    assert _ids((await listing(stage="closing")).json()) == set()


async def test_listing_pages_with_the_visibility_page_token(admin_client, cases, operator):
    kind = await _submitted_cases(cases, 5)
    listing = _listing(admin_client, kind, operator)
    await _eventually(listing, lambda p: len(p["items"]) == 5)
    seen: list[str] = []
    token = None
    for _ in range(5):
        r = await listing(page_size=2, **({"page_token": token} if token else {}))
        assert r.status_code == 200 and len(r.json()["items"]) <= 2
        seen += [i["case_id"] for i in r.json()["items"]]
        token = r.json()["next_page_token"]
        if token is None:
            break
    assert sorted(seen) == sorted(f"{kind}-{n}" for n in range(5))


async def test_closed_cases_are_listed_apart_from_running_ones(admin_client, cases, bureau):
    kind = _case_type()
    done = await cases(CaseView(case_id=f"{kind}-done", case_type=kind, stage="published"))
    await cases(CaseView(case_id=f"{kind}-open", case_type=kind, stage="submitted"))
    await done.signal(CaseProbe.finish)
    await done.result()

    async def listing(status):
        return await admin_client.get("/api/v1/admin/cases", params={"case_type": kind, "status": status},
                                      headers=bureau.headers)

    await _eventually(lambda: listing("all"), lambda p: len(p["items"]) == 2)
    closed = await _eventually(lambda: listing("closed"), lambda p: len(p["items"]) == 1)
    assert closed["items"][0]["case_id"] == f"{kind}-done" and closed["items"][0]["status"] == "completed"
    assert closed["items"][0]["closed_at"] is not None
    assert _ids((await listing("running")).json()) == {f"{kind}-open"}
    assert _ids((await listing("all")).json()) == {f"{kind}-done", f"{kind}-open"}

    r = await admin_client.get(f"/api/v1/admin/cases/{kind}-done", headers=bureau.headers)
    assert r.status_code == 200
    detail = r.json()
    assert detail["status"] == "completed" and detail["state_available"] is False
    assert detail["open_tasks"] == [] and "closed" in detail["state_note"]
    assert detail["history"][0]["event_type"] == "WorkflowExecutionCompleted"


async def test_describe_shows_stage_open_tasks_overdue_items_and_recent_history(admin_client, cases, bureau):
    kind = _case_type()
    late = OpenTask(task_id="review-7", kind="review", assignee="expert:7", due=PAST)
    flagged = OpenTask(task_id="review-8", kind="review", assignee="expert:8", due=FUTURE, overdue=True)
    fine = OpenTask(task_id="review-9", kind="review", assignee="expert:9", due=FUTURE)
    await cases(CaseView(case_id=f"{kind}-1", case_type=kind, stage="panel_review", deadline=PAST,
                         open_tasks=[late, flagged, fine]))

    async def describe():
        return await admin_client.get(f"/api/v1/admin/cases/{kind}-1", headers=bureau.headers)

    detail = await _eventually(describe, lambda d: d["state_available"])
    assert detail["stage"] == "panel_review" and detail["case_type"] == kind and detail["status"] == "running"
    assert [t["task_id"] for t in detail["open_tasks"]] == ["review-7", "review-8", "review-9"]
    assert {t["task_id"]: t["overdue"] for t in detail["open_tasks"]} == {
        "review-7": True, "review-8": True, "review-9": False}
    assert [t["task_id"] for t in detail["overdue_tasks"]] == ["review-7", "review-8"]
    assert datetime.fromisoformat(detail["overdue_tasks"][0]["due"]) == PAST
    types = [e["event_type"] for e in detail["history"]]
    assert types[-1] == "WorkflowExecutionStarted"  # newest first; the whole short history fits
    assert "UpsertWorkflowSearchAttributes" in types
    ids = [e["event_id"] for e in detail["history"]]
    assert ids == sorted(ids, reverse=True)

    r = await admin_client.get(f"/api/v1/admin/cases/{kind}-1", params={"history_limit": 2}, headers=bureau.headers)
    assert len(r.json()["history"]) == 2 and r.json()["history"][0]["event_id"] == ids[0]


async def test_a_case_that_cannot_answer_is_described_without_its_state(admin_client, local_temporal_env, bureau):
    # Started on a queue no worker polls: visibility knows it, the state query cannot be answered.
    case_id = f"{_case_type()}-stuck"
    handle = await local_temporal_env.client.start_workflow(
        CaseProbe.run, CaseView(case_id=case_id, case_type="methodology", stage="submitted"),
        id=case_id, task_queue=f"nobody-{uuid.uuid4().hex[:8]}")
    try:
        r = await admin_client.get(f"/api/v1/admin/cases/{case_id}", headers=bureau.headers)
        assert r.status_code == 200, r.text
        assert r.json()["state_available"] is False and "worker" in r.json()["state_note"]
        assert r.json()["history"][-1]["event_type"] == "WorkflowExecutionStarted"
    finally:
        await handle.terminate("test over")


async def test_overdue_tasks_lists_running_cases_past_their_deadline(admin_client, cases, bureau):
    kind = _case_type()
    late = OpenTask(task_id="resubmission-1", kind="resubmission", assignee="applicant", due=PAST)
    await cases(CaseView(case_id=f"{kind}-late", case_type=kind, stage="revision", deadline=PAST,
                         open_tasks=[late, OpenTask(task_id="review-2", kind="review", due=FUTURE)]))
    await cases(CaseView(case_id=f"{kind}-ontime", case_type=kind, stage="panel_review", deadline=FUTURE,
                         open_tasks=[OpenTask(task_id="review-3", kind="review", due=FUTURE)]))
    finished = await cases(CaseView(case_id=f"{kind}-closed", case_type=kind, stage="revision", deadline=PAST))
    await finished.signal(CaseProbe.finish)
    await finished.result()

    async def overdue():
        return await admin_client.get("/api/v1/admin/overdue-tasks", params={"case_type": kind},
                                      headers=bureau.headers)

    page = await _eventually(overdue, lambda p: _ids(p) == {f"{kind}-late"})
    item = page["items"][0]
    assert item["state_available"] is True and item["stage"] == "revision"
    assert [t["task_id"] for t in item["overdue_tasks"]] == ["resubmission-1"]
    assert item["overdue_tasks"][0]["overdue"] is True
    assert datetime.fromisoformat(page["as_of"]) >= NOW


async def test_overdue_tasks_page_at_a_fixed_instant(admin_client, cases, operator):
    kind = _case_type()
    for n in range(3):
        await cases(CaseView(case_id=f"{kind}-{n}", case_type=kind, stage="revision", deadline=PAST))

    async def overdue(**params):
        return await admin_client.get("/api/v1/admin/overdue-tasks", params={"case_type": kind, **params},
                                      headers=operator.headers)

    await _eventually(overdue, lambda p: len(p["items"]) == 3)
    first = (await overdue(page_size=2)).json()
    assert first["next_page_token"]
    # The next page belongs to the same instant; without it the token is someone else's.
    r = await overdue(page_size=2, page_token=first["next_page_token"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "page_token"
    r = await overdue(page_size=2, page_token=first["next_page_token"], as_of=first["as_of"])
    assert r.status_code == 200, r.text
    assert _ids(first) | _ids(r.json()) == {f"{kind}-{n}" for n in range(3)}
    assert r.json()["as_of"] == first["as_of"]


async def test_unknown_case_is_404(admin_client, bureau):
    r = await admin_client.get("/api/v1/admin/cases/methodology-does-not-exist", headers=bureau.headers)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("params, field", [
    ({"case_type": 'methodology" OR CaseType != "x'}, "case_type"),
    ({"stage": "Panel Review"}, "stage"),
    ({"deadline_before": "2026-05-01T00:00:00"}, "deadline_before"),
    ({"deadline_after": "tomorrow"}, "deadline_after"),
    ({"status": "paused"}, "status"),
    ({"page_size": 0}, "page_size"),
    ({"page_token": "***"}, "page_token"),
    ({"page_token": "bm90LWEtdG9rZW4"}, "page_token"),
])
async def test_bad_filters_are_refused_naming_the_field(admin_client, bureau, params, field):
    r = await admin_client.get("/api/v1/admin/cases", params=params, headers=bureau.headers)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field


async def test_overdue_as_of_needs_a_timezone(admin_client, bureau):
    r = await admin_client.get("/api/v1/admin/overdue-tasks", params={"as_of": "2026-05-01T00:00:00"},
                               headers=bureau.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "as_of"


async def test_a_page_token_of_another_listing_is_refused(admin_client, cases, bureau):
    kind = await _submitted_cases(cases, 3)
    listing = _listing(admin_client, kind, bureau)
    first = await _eventually(lambda: listing(page_size=2), lambda p: p["next_page_token"] is not None)
    # The same token with other filters, or tampered with, never reaches Temporal.
    r = await listing(page_size=2, stage="submitted", page_token=first["next_page_token"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "page_token"
    r = await listing(page_size=2, page_token="A" + first["next_page_token"][1:])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "page_token"


@pytest.mark.parametrize("path", ["/api/v1/admin/cases", "/api/v1/admin/cases/methodology-1",
                                  "/api/v1/admin/overdue-tasks"])
async def test_only_authorities_see_workflows(admin_client, make_actor, path):
    assert (await admin_client.get(path)).status_code == 401
    for role in (Role.APPLICANT, Role.EXPERT, Role.VERIFIER):
        r = await admin_client.get(path, headers=make_actor(role).headers)
        assert r.status_code == 403, (role, r.text)


def test_visibility_query_is_built_from_validated_parts_only():
    assert visibility_query() == 'CaseType IS NOT NULL AND ExecutionStatus = "Running"'
    q = visibility_query(case_type="methodology", stage="panel_review", status="closed",
                         deadline_before=datetime(2026, 5, 1, 8, tzinfo=timezone(timedelta(hours=8))),
                         deadline_after=datetime(2026, 4, 1, tzinfo=timezone.utc))
    assert q == ('CaseType = "methodology" AND CaseStage = "panel_review" '
                 'AND CaseDeadline < "2026-05-01T00:00:00+00:00" AND CaseDeadline >= "2026-04-01T00:00:00+00:00" '
                 'AND ExecutionStatus != "Running"')
    assert visibility_query(case_type="x", status="all") == 'CaseType = "x"'
