"""Sanctions (Art. 33) end to end through HTTP with the real worker: a suspension pauses the
participant's open cases (actions refused, deadlines stopped), freezes its units and stops its users; a
reinstatement undoes it all and the deadlines resume with the working days they had left; a
termination withdraws the open cases and is final. (Own module: its own time-skipping server, so the
cases' deadlines start from the wall clock.)"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from domain.contracts.cases import CASE_STATE_QUERY, CaseView
from domain.roles import Role
from store import calendar, ledger
from store.models.audit import AuditEvent
from store.models.identity import Organisation
from store.models.ledger import Cancellation, InstitutionalAccount
from store.models.supervision import Sanction
from tests.ledger_helpers import issue_units, make_project
from tests.test_supervision import _file, _until


# --- sanctions -----------------------------------------------------------------------------------

@pytest.fixture
def holder(session_factory, make_actor):
    actor = make_actor(Role.APPLICANT)
    project = make_project(session_factory, actor.user.organisation_id, actor.id)
    prefix = issue_units(session_factory, project, actor.user.organisation_id, 20, key=f"issuance-s{actor.id}")
    with session_factory() as s, s.begin():
        number = ledger.ensure_account(s, actor.user.organisation_id).account_number
    return type("Holder", (), {"actor": actor, "prefix": prefix, "number": number,
                               "org_id": actor.user.organisation_id})


async def _cancellation(client, h, quantity=4):
    r = await client.post("/api/v1/cancellations", headers=h.actor.headers, json={
        "account_number": h.number, "quantity": quantity, "purpose": "event", "beneficiary_name": "武汉"})
    assert r.status_code == 201, r.text
    return r.json()


def _sanction_stage(session_factory, n):
    with session_factory() as s:
        return s.get(Sanction, n).stage


async def _view(temporal_env, case_id) -> CaseView:
    return await temporal_env.client.get_workflow_handle(case_id).query(CASE_STATE_QUERY, result_type=CaseView)


async def test_suspension_pauses_freezes_and_reinstatement_undoes_it(client, worker, holder, operator, bureau,
                                                                    make_actor, session_factory, temporal_env):
    h = holder
    x = await _cancellation(client, h)
    before = await _view(temporal_env, x["case_id"])
    while before.deadline is None:  # the case computes its deadline first
        await asyncio.sleep(0.1)
        before = await _view(temporal_env, x["case_id"])
    m = (await client.post("/api/v1/methodologies", headers=h.actor.headers, json={
        "title": "光伏", "scope": "project", "domain": "energy_substitution", "summary": "s"})).json()
    await _until_view(temporal_env, m["case_id"], "completeness_check")
    n_report = (await _file(client, h.org_id)).json()["report_id"]
    # Only the operator or the exchange imposes (Art. 33).
    body = {"organisation_id": h.org_id, "measure": "suspend", "reason": "虚假材料 / forged documents",
            "report_id": n_report}
    for who in (bureau, h.actor, make_actor(Role.VERIFIER)):
        assert (await client.post("/api/v1/sanctions", json=body, headers=who.headers)).status_code == 403
    r = await client.post("/api/v1/sanctions", json=body, headers={**operator.headers, "Idempotency-Key": "s1"})
    assert r.status_code == 201, r.text
    n = r.json()["sanction_id"]
    again = await client.post("/api/v1/sanctions", json=body, headers={**operator.headers, "Idempotency-Key": "s1"})
    assert again.status_code == 200 and again.json()["sanction_id"] == n
    await _until(lambda: _sanction_stage(session_factory, n) == "in_force")
    other = await client.post("/api/v1/sanctions", json={**body, "measure": "terminate"}, headers=operator.headers)
    assert other.status_code == 409 and other.json()["errors"][0]["rule"] == "art33.measure_in_force"
    with session_factory() as s:
        assert s.get(Organisation, h.org_id).status == "suspended"
        assert s.scalar(select(InstitutionalAccount.frozen_at).where(
            InstitutionalAccount.account_number == h.number)) is not None
        assert s.get(Sanction, n).cases_told == sorted([x["case_id"], m["case_id"]])
        progress = s.scalars(select(AuditEvent.action).where(AuditEvent.case_id == f"sanction-{n}")
                             .order_by(AuditEvent.id)).all()
    assert progress == ["sanction.imposed", "sanction.status_set", "sanction.cases_told_suspend",
                        "sanction.units_frozen", "sanction.in_force"]
    # The open case is paused: its actions refused naming the suspension, its deadline stopped.
    view = await _until_view(temporal_env, x["case_id"], "paused")
    assert view.paused.sanction_case_id == f"sanction-{n}" and "working days left" in view.paused.note
    assert view.stage_before_pause == "awaiting_decision" and view.open_tasks == []
    admin = await client.get(f"/api/v1/admin/cases/{x['case_id']}", headers=operator.headers)
    assert admin.status_code == 200, admin.text
    assert admin.json()["stage"] == "paused" and admin.json()["paused"]["sanction_case_id"] == f"sanction-{n}"
    admin = (await client.get(f"/api/v1/admin/cases/sanction-{n}", headers=operator.headers)).json()
    assert admin["stage"] == "in_force"
    r = await client.post(f"/api/v1/cancellations/{x['cancellation_id']}/confirm", headers=operator.headers)
    assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "art33.participant_suspended"
    assert f"sanction-{n}" in r.json()["detail"]
    await _until_view(temporal_env, m["case_id"], "paused")
    r = await client.post(f"/api/v1/methodologies/{m['id']}/completeness", headers=bureau.headers,
                          json={"decision": "accept"})
    assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "art33.participant_suspended", r.text
    # Its users cannot act.
    r = await client.post(f"/api/v1/cancellations/{x['cancellation_id']}/withdraw", headers=h.actor.headers, json={})
    assert r.status_code in (401, 403)
    r = await client.post(f"/api/v1/organisations/{h.org_id}/reinstate", headers=operator.headers,
                          json={"reason": "the status alone"})
    assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "art33.measure_in_force", r.text
    public = (await client.get("/api/v1/public/sanctions")).json()
    assert [(p["organisation_id"], p["measure"]) for p in public] == [(h.org_id, "suspend")]
    assert "reason" not in public[0] and "report_id" not in public[0]
    # Three days later the participant is reinstated: the deadline resumes with the days it had left.
    await temporal_env.sleep(timedelta(days=3))
    for who in (bureau, h.actor):
        r = await client.post(f"/api/v1/sanctions/{n}/reinstatement", json={"reason": "整改完成"}, headers=who.headers)
        assert r.status_code == 403
    r = await client.post(f"/api/v1/sanctions/{n}/reinstatement", json={"reason": "整改完成 / remedied"},
                          headers=operator.headers)
    assert r.status_code == 200 and r.json()["stage"] == "lifted", r.text
    r = await client.post(f"/api/v1/sanctions/{n}/reinstatement", json={"reason": "again, other"},
                          headers=operator.headers)
    assert r.status_code == 409, r.text  # the sanction's case has ended
    with session_factory() as s:
        assert s.get(Organisation, h.org_id).status == "active"
        assert s.scalar(select(InstitutionalAccount.frozen_at).where(
            InstitutionalAccount.account_number == h.number)) is None
    view = await _until_view(temporal_env, x["case_id"], "awaiting_decision")
    # The deadline runs again from the reinstatement with the working days it had left at the pause.
    with session_factory() as s:
        cal = calendar.current(s)
        steps = {e.action: e for e in s.scalars(select(AuditEvent).where(AuditEvent.case_id == x["case_id"]))}
    paused_at, resumed_at = steps["cancellation.paused"].occurred_at, steps["cancellation.resumed"].occurred_at
    left = cal.remaining(paused_at, before.deadline)
    assert steps["cancellation.paused"].details["working_days_left"] == left
    assert view.paused is None and view.deadline == cal.period_end(resumed_at, left).end > before.deadline
    assert (await client.get("/api/v1/public/sanctions")).json() == []
    r = await client.post(f"/api/v1/cancellations/{x['cancellation_id']}/confirm", headers=operator.headers)
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    await _until_view(temporal_env, m["case_id"], "completeness_check")
    r = await client.post(f"/api/v1/methodologies/{m['id']}/completeness", headers=bureau.headers,
                          json={"decision": "accept"})
    assert r.status_code == 200, r.text


async def _until_view(temporal_env, case_id, stage) -> CaseView:
    for _ in range(300):
        view = await _view(temporal_env, case_id)
        if view.stage == stage:
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"{case_id} is {view.stage}, not {stage}")


async def test_termination_withdraws_open_cases_and_is_final(client, worker, holder, operator, make_actor,
                                                             session_factory, temporal_env):
    h = holder
    x = await _cancellation(client, h)
    m = await client.post("/api/v1/methodologies", headers=h.actor.headers, json={
        "title": "光伏", "scope": "project", "domain": "energy_substitution", "summary": "s"})
    assert m.status_code == 201, m.text
    m = m.json()
    await _until_view(temporal_env, m["case_id"], "completeness_check")
    exchange = make_actor(Role.EXCHANGE)
    r = await client.post("/api/v1/sanctions", headers=exchange.headers,
                          json={"organisation_id": h.org_id, "measure": "terminate", "reason": "泄露用户信息"})
    assert r.status_code == 201, r.text
    n = r.json()["sanction_id"]
    await _until(lambda: _sanction_stage(session_factory, n) == "terminated")
    await _until_view(temporal_env, x["case_id"], "withdrawn")
    with session_factory() as s:
        c = s.get(Cancellation, x["cancellation_id"])
        assert (c.status, c.decision_reason) == ("withdrawn", "泄露用户信息")
        assert s.get(Organisation, h.org_id).status == "terminated"
        assert ledger.balance(s, ledger.find_account(s, h.number).id) == 20  # released, then frozen
    with session_factory() as s:
        withdrawn = s.scalars(select(AuditEvent.action).where(AuditEvent.case_id == m["case_id"])).all()
    assert "methodology.withdrawn_by_sanction" in withdrawn
    r = await client.get(f"/api/v1/methodologies/{m['id']}", headers=operator.headers)
    assert r.json()["stage"] == "withdrawn", r.text
    r = await client.post(f"/api/v1/sanctions/{n}/reinstatement", json={"reason": "r"}, headers=exchange.headers)
    assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "art33.termination_final"
    # Government organisations are not participants.
    r = await client.post("/api/v1/sanctions", headers=operator.headers,
                          json={"organisation_id": operator.user.organisation_id, "measure": "suspend", "reason": "r"})
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "art33.participant"


async def test_concurrent_identical_sanctions_impose_one(client, worker, holder, operator, make_org, session_factory):
    h = holder
    body = {"organisation_id": h.org_id, "measure": "suspend", "reason": "once"}

    async def post(headers, payload=body):
        while True:  # 503/504 (the engine slow to answer under load): the same request again
            r = await client.post("/api/v1/sanctions", json=payload, headers=headers)
            if r.status_code not in (503, 504):
                return r
            await asyncio.sleep(0.2)

    same = await asyncio.gather(*(post({**operator.headers, "Idempotency-Key": "k"}) for _ in range(16)))
    assert {r.status_code for r in same} <= {200, 201}, [r.text for r in same if r.status_code >= 300]
    assert len({r.json()["sanction_id"] for r in same}) == 1
    other = await asyncio.gather(*(post(operator.headers, {**body, "reason": "another"}) for _ in range(8)))
    assert {r.status_code for r in other} == {409}
    # Without a key, the same request is the same sanction (until it is lifted).
    org = make_org()
    keyless = {"organisation_id": org.id, "measure": "terminate", "reason": "keyless"}
    again = await asyncio.gather(*(post(operator.headers, keyless) for _ in range(8)))
    assert {r.status_code for r in again} <= {200, 201} and len({r.json()["sanction_id"] for r in again}) == 1
    n = same[0].json()["sanction_id"]
    await _until(lambda: _sanction_stage(session_factory, n) == "in_force")
    await _until(lambda: _sanction_stage(session_factory, again[0].json()["sanction_id"]) == "terminated")
    with session_factory() as s:
        assert len(s.scalars(select(Sanction)).all()) == 2


async def test_every_open_case_is_told_at_once(client, worker, session_factory, make_actor, operator, temporal_env):
    """A participant with many open cases: one sanction pauses them all (and the figure is printed)."""
    import time

    a = make_actor(Role.APPLICANT)
    project = make_project(session_factory, a.user.organisation_id, a.id)
    issue_units(session_factory, project, a.user.organisation_id, 40, key=f"issuance-many-{a.id}")
    with session_factory() as s, s.begin():
        number = ledger.ensure_account(s, a.user.organisation_id).account_number
    h = type("Holder", (), {"actor": a, "number": number})
    xs = [await _cancellation(client, h, quantity=1) for _ in range(MANY)]
    for x in xs:
        await _until_view(temporal_env, x["case_id"], "awaiting_decision")
    started = time.monotonic()
    r = await client.post("/api/v1/sanctions", headers=operator.headers,
                          json={"organisation_id": a.user.organisation_id, "measure": "suspend", "reason": "many"})
    n = r.json()["sanction_id"]
    await _until(lambda: _sanction_stage(session_factory, n) == "in_force")
    in_force = time.monotonic() - started
    for x in xs:
        await _until_view(temporal_env, x["case_id"], "paused")
    all_paused = time.monotonic() - started
    print(f"\nsanction of a participant with {MANY} open cases: in force after {in_force:.2f} s, "
          f"all paused after {all_paused:.2f} s")
    with session_factory() as s:
        assert len(s.get(Sanction, n).cases_told) == MANY


MANY = 25
