"""The case kit's guarantees, seen through the API: idempotent human actions (a different payload under
the same step is refused, an identical retry answers the first result), a published issuance cannot be
withdrawn, and a worker of another deployment refuses a case's tasks."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from temporalio.api.enums.v1 import EventType

from domain.contracts.review import Vote
from store import cases
from store.migrate import upgrade
from store.models.audit import AuditEvent
from store.models.cases import Case
from store.session import make_engine, make_session_factory
from tests.conftest import scratch_database
from tests.issuance_flow import flow, make_flow  # noqa: F401 (flow: the fixture)
from tests.temporal_hygiene import end_running_cases
from worker import build_worker


async def _to_decision(flow, case_id: str, vote: Vote = Vote.APPROVE) -> None:
    await flow.verify(case_id)
    await flow.skip_past_publicity(case_id)
    await flow.apply(case_id)
    await flow.conclude_review(case_id, 1, vote)
    await flow.until(case_id, "decision")


def _audited(session_factory, case_id: str, action: str) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.action == action))


async def test_issuance_publish_and_reject_at_once_one_wins_and_neither_answer_lies(flow, session_factory):
    case_id = (await flow.file())["case_id"]
    await _to_decision(flow, case_id)
    url = f"/issuance-cases/{case_id}/decision"
    publish, reject = await asyncio.gather(
        flow.call("POST", url, flow.bureau, None, json={"publish": True, "reason": "Evaluation passed."}),
        flow.call("POST", url, flow.bureau, None, json={"publish": False, "reason": "Not credible."}))
    assert sorted([publish.status_code, reject.status_code]) == [200, 409], (publish.text, reject.text)
    winner, loser = (publish, reject) if publish.status_code == 200 else (reject, publish)
    final = "published" if winner is publish else "rejected"
    assert winner.json()["stage"] == final
    assert loser.headers["content-type"].startswith("application/problem+json")
    assert f"is {final}" in loser.json()["detail"]  # refused because the other decision was taken
    assert (await flow.state(case_id))["stage"] == final
    assert _audited(session_factory, case_id, "issuance.published") + _audited(
        session_factory, case_id, "issuance.rejected") == 1
    # The identical request again answers what the first one answered; the other stays refused.
    again = await flow.call("POST", url, flow.bureau, None, json=(
        {"publish": True, "reason": "Evaluation passed."} if winner is publish
        else {"publish": False, "reason": "Not credible."}))
    assert (again.status_code, again.json()) == (200, winner.json())
    refused = await flow.call("POST", url, flow.bureau, None, json=(
        {"publish": False, "reason": "Not credible."} if winner is publish
        else {"publish": True, "reason": "Evaluation passed."}))
    assert refused.status_code == 409


async def test_issuance_identical_retry_after_success_answers_the_first_result(flow, session_factory):
    case_id = (await flow.file())["case_id"]
    await flow.until(case_id, "awaiting_verifier")
    url = f"/issuance-cases/{case_id}/verifier-response"
    first = (await flow.call("POST", url, flow.verifier, json={"accept": True})).json()
    assert first["stage"] == "verification"
    assert (await flow.call("POST", url, flow.verifier, json={"accept": True})).json() == first
    # Another payload for the step that already happened is refused, not reported as done.
    declined = await flow.call("POST", url, flow.verifier, 409, json={"accept": False, "reason": "busy"})
    assert "verification" in declined.json()["detail"]
    assert _audited(session_factory, case_id, "issuance.verifier_accepted") == 1
    assert _audited(session_factory, case_id, "issuance.verifier_declined") == 0


async def test_issuance_identical_retry_after_the_case_ended_answers_the_first_result(flow):
    case_id = (await flow.file())["case_id"]
    await flow.until(case_id, "awaiting_verifier")
    url = f"/issuance-cases/{case_id}/withdrawal"
    first = (await flow.call("POST", url, flow.developer, json={"reason": "Sold the plant."})).json()
    assert first["stage"] == "withdrawn"
    await flow.env.client.get_workflow_handle(case_id).result()  # the case's workflow has ended
    assert (await flow.call("POST", url, flow.developer, json={"reason": "Sold the plant."})).json() == first
    await flow.call("POST", url, flow.developer, 409, json={"reason": "Another reason."})


async def test_a_published_issuance_case_cannot_be_withdrawn(flow):
    case_id = (await flow.file())["case_id"]
    await _to_decision(flow, case_id)
    await flow.publish(case_id)
    await flow.until(case_id, "published")
    refused = await flow.call("POST", f"/issuance-cases/{case_id}/withdrawal", flow.developer, 409,
                              json={"reason": "Changed our mind."})
    assert "published" in refused.json()["detail"]
    assert refused.json()["errors"][0]["rule"] == "art21.published_is_final"
    issued = await flow.issue(case_id)
    assert issued["tonnes"] == 1000


# --- a stray worker -------------------------------------------------------------------------------

@pytest.fixture
def other_database(admin_database_url):
    """Another migrated database: another deployment."""
    with scratch_database(admin_database_url, "tanpuhui_other") as url:
        upgrade(url)
        engine = make_engine(url, pool_size=2)
        try:
            yield make_session_factory(engine)
        finally:
            engine.dispose()


async def _failed_activity(handle) -> str | None:
    async for event in handle.fetch_history_events():
        if EventType.Name(event.event_type) == "EVENT_TYPE_ACTIVITY_TASK_FAILED":
            return event.activity_task_failed_event_attributes.failure.message
    return None


async def test_a_worker_of_another_deployment_refuses_the_case_and_the_right_one_carries_on(
        client, temporal_env, session_factory, settings, activity_executor, other_database, make_actor, make_org,
        bureau, operator):
    flow = await make_flow(client, temporal_env, make_actor, make_org, bureau, operator, session_factory)
    with session_factory() as s:
        ours = cases.deployment_id(s)
    with other_database() as s:
        theirs = cases.deployment_id(s)
    assert ours != theirs
    # No workflow cache: its workflow tasks are not sticky to it, so the right worker takes them up.
    stray = build_worker(temporal_env.client, other_database, settings, executor=activity_executor,
                         workflow_failure_exception_types=[Exception], max_cached_workflows=0)
    try:
        async with stray:
            case_id = (await flow.file())["case_id"]
            handle = temporal_env.client.get_workflow_handle(case_id)
            for _ in range(400):
                message = await _failed_activity(handle)
                if message is not None:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the stray worker never refused the task")
        assert ours in message and theirs in message and "wrong deployment" in message
        with other_database() as s:
            assert s.scalar(select(func.count()).select_from(Case)) == 0  # nothing written there
        with session_factory() as s:
            assert s.get(Case, case_id) is None  # nor here, by the stray worker
        right = build_worker(temporal_env.client, session_factory, settings, executor=activity_executor,
                             workflow_failure_exception_types=[Exception])
        async with right:
            await temporal_env.sleep(timedelta(seconds=20))  # the case tries again after a pause
            for _ in range(400):
                with session_factory() as s:
                    row = s.get(Case, case_id)
                if row is not None:
                    break
                await asyncio.sleep(0.05)
            assert row is not None and (row.stage, row.seq) == ("awaiting_verifier", 1)
            await end_running_cases(temporal_env.client, session_factory, temporal_env.started_workflows)
    finally:
        await end_running_cases(temporal_env.client, session_factory, temporal_env.started_workflows)
