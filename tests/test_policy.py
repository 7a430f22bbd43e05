"""Policy parameters (SPEC §3): defaults, scheduled changes by the bureau, snapshots at case start."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from domain.clock import now_utc
from domain.policy import DEFAULT_POLICY, PolicyParameters
from domain.roles import Role
from store import policy
from store.models.audit import AuditEvent
from store.models.policy import PolicyChange
from store.models.identity import User
from tests.probe_workflows import PolicySnapshotProbe, probe_worker

URL = "/api/v1/policy/changes"


def change(parameter: str, value, days_ahead: float | None = 1, reason: str = "test") -> dict:
    body = {"parameter": parameter, "value": value, "reason": reason}
    if days_ahead is not None:
        body["effective_from"] = (now_utc() + timedelta(days=days_ahead)).isoformat()
    return body


def stored(session_factory) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(PolicyChange))


def test_defaults_follow_the_measures(db):
    p = policy.effective(db, now_utc())
    assert p == DEFAULT_POLICY
    assert (p.publicity_working_days, p.panel_size, p.review_task_working_days, p.review_reminder_working_days,
            p.revision_days, p.max_revision_rounds) == (7, 3, 10, 2, 30, 3)


async def test_the_public_sees_the_parameters_in_force(client):
    r = await client.get("/api/v1/policy")
    assert r.status_code == 200
    assert r.json()["in_force"] == DEFAULT_POLICY.model_dump() and r.json()["scheduled"] == []


async def test_a_future_change_applies_from_its_effective_instant(client, bureau, db):
    r = await client.post(URL, json=change("publicity_working_days", 10, days_ahead=3, reason="longer notice"),
                          headers=bureau.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    effective_from = datetime.fromisoformat(created["effective_from"])
    assert created["changed_by"] == bureau.id and created["value"] == 10
    assert policy.effective(db, effective_from - timedelta(microseconds=1)).publicity_working_days == 7
    assert policy.effective(db, effective_from).publicity_working_days == 10
    assert policy.effective(db, effective_from + timedelta(days=365)).publicity_working_days == 10

    body = (await client.get("/api/v1/policy")).json()
    assert body["in_force"]["publicity_working_days"] == 7
    assert [(c["parameter"], c["value"], c["reason"]) for c in body["scheduled"]] == [
        ("publicity_working_days", 10, "longer notice")]
    assert "changed_by" not in body["scheduled"][0]
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "policy.change_scheduled"))
    assert event.actor_user_id == bureau.id and event.details["value"] == 10


async def test_the_latest_effective_change_wins(client, bureau, db):
    for value, days in ((12, 2), (9, 5), (15, 1)):
        assert (await client.post(URL, json=change("review_task_working_days", value, days),
                                  headers=bureau.headers)).status_code == 201
    at = lambda days: policy.effective(db, now_utc() + timedelta(days=days)).review_task_working_days  # noqa: E731
    assert (at(0), at(1.5), at(3), at(6)) == (10, 15, 12, 9)
    # Without effective_from a change applies at once.
    r = await client.post(URL, json=change("panel_size", 5, days_ahead=None), headers=bureau.headers)
    assert r.status_code == 201 and policy.effective(db, now_utc()).panel_size == 5
    r = await client.get(URL, headers=bureau.headers)
    assert [c["value"] for c in r.json()] == [9, 12, 15, 5]


async def test_only_the_bureau_changes_and_authorities_list(client, bureau, make_actor, session_factory):
    body = change("panel_size", 5)
    assert (await client.post(URL, json=body)).status_code == 401
    for role in (Role.OPERATOR_ADMIN, Role.APPLICANT, Role.EXPERT):
        assert (await client.post(URL, json=body, headers=make_actor(role).headers)).status_code == 403, role
    assert (await client.get(URL)).status_code == 401
    assert (await client.get(URL, headers=make_actor(Role.APPLICANT).headers)).status_code == 403
    assert (await client.get(URL, headers=make_actor(Role.OPERATOR_ADMIN).headers)).status_code == 200
    assert stored(session_factory) == 0


async def test_invalid_changes_are_refused_naming_field_and_rule(client, bureau, session_factory):
    async def refused(body) -> dict:
        r = await client.post(URL, json=body, headers=bureau.headers)
        assert r.status_code == 422, r.text
        return r.json()["errors"][0]

    e = await refused(change("publicity_working_days", 5))
    assert (e["field"], e["rule"]) == ("value", "greater_than_equal") and "Art. 20" in e["message"]
    e = await refused(change("coffee_breaks", 2))
    assert (e["field"], e["rule"]) == ("parameter", "unknown_parameter")
    e = await refused(change("panel_size", 5, days_ahead=-1))
    assert (e["field"], e["rule"]) == ("effective_from", "not_in_past")
    assert (await refused(change("panel_size", 4.5)))["field"] == "value"
    assert (await refused(change("panel_size", "5")))["field"] == "value"
    assert (await refused({**change("panel_size", 5), "effective_from": "2030-01-01T00:00:00"}))["field"] == "effective_from"
    assert (await refused(change("panel_size", 5, reason="")))["field"] == "reason"
    e = await refused(change("review_reminder_working_days", 10))
    assert (e["field"], e["rule"]) == ("value", "reminder_before_task_start")
    assert stored(session_factory) == 0


async def test_a_change_may_not_break_a_later_scheduled_change(client, bureau, session_factory):
    assert (await client.post(URL, json=change("review_task_working_days", 5, days_ahead=10),
                              headers=bureau.headers)).status_code == 201
    # Valid on day 1 (task still 10 working days), invalid from day 10 when the task shrinks to 5.
    r = await client.post(URL, json=change("review_reminder_working_days", 6, days_ahead=1), headers=bureau.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["rule"] == "reminder_before_task_start"
    assert "together with the change scheduled" in r.json()["errors"][0]["message"]
    assert stored(session_factory) == 1


async def test_idempotency_key_schedules_a_change_once(client, bureau, session_factory):
    body = change("scenario_pass_mark", 85)
    h = {**bureau.headers, "Idempotency-Key": "pass-mark-85"}
    first = await client.post(URL, json=body, headers=h)
    again = await client.post(URL, json=body, headers=h)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = await client.post(URL, json={**body, "value": 90}, headers=h)
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert stored(session_factory) == 1


async def test_a_case_keeps_the_policy_it_started_under(temporal_env, bureau, session_factory, settings,
                                                       activity_executor):
    queue = f"policy-probe-{uuid.uuid4().hex[:8]}"
    async with probe_worker(temporal_env.client, session_factory, settings, activity_executor, queue):
        handle = await temporal_env.client.start_workflow(
            PolicySnapshotProbe.run, id=f"policy-probe-{uuid.uuid4().hex[:8]}", task_queue=queue)
        assert await handle.execute_update(PolicySnapshotProbe.snapshot_taken) == DEFAULT_POLICY
        # The bureau lengthens publicity, effective at once, while the case runs.
        with session_factory() as s, s.begin():
            now = datetime.now(timezone.utc)
            policy.schedule_change(s, parameter="publicity_working_days", value=15, effective_from=now,
                                   reason="test", actor=s.get(User, bureau.id), now=now)
        await handle.signal(PolicySnapshotProbe.go)
        kept, fresh = await handle.result()
    assert kept == DEFAULT_POLICY and kept.publicity_working_days == 7
    assert isinstance(fresh, PolicyParameters) and fresh.publicity_working_days == 15
