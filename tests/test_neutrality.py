"""Scenario annual neutrality (Art. 17) through HTTP with the real worker on the time-skipping server:
started when the label is published, the report in whole tonnes with a document, cancellations with
purpose annual_neutrality that cover it (met / late / unmet), reminders and overdue entries, the
operator's extension (audited), refusals by role, the public compliance list, one run per year."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

from domain import neutrality as neutrality_rules
from domain.contracts import neutrality as n
from domain.contracts.cases import CASE_STATE_QUERY, CaseView
from domain.roles import Role
from store import ledger
from store.audit import trail
from store.models.disclosure import NeutralityObligation
from store.models.notifications import Notification as NotificationRow
from tests import sample_files
from tests.ledger_helpers import issue_units, make_project
from tests.review_helpers import deployment
from tests.test_scenario import (  # noqa: F401 (fixtures)
    APPROVE_HIGH,
    applied_case,
    applicant,
    panel_decides,
    publish_spec,
    wait_stage,
)

API = "/api/v1"
SCENARIO = {"name": "Tea House", "category": "restaurant", "address": "Tanhualin 3", "district": "wu_chang",
            "behaviour_description": "no disposable cups"}


async def _scenario(client, owner) -> int:
    r = await client.post(f"{API}/scenarios", json=SCENARIO, headers=owner.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _upload(client, actor) -> int:
    r = await client.post(f"{API}/documents", files={"file": ("emissions.pdf", sample_files.pdf(), "application/pdf")},
                          headers=actor.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _start(temporal_env, session_factory, settings, scenario_id: int, org_id: int, year: int,
                 valid_until: datetime) -> None:
    """What the scenario case does when it publishes the label (tested below on its own)."""
    start = n.NeutralityStart(case_id=n.case_id(scenario_id), deployment_id=deployment(session_factory),
                              scenario_id=scenario_id, organisation_id=org_id, label_code="WH-S-2026-0001",
                              label_valid_until=valid_until, year=year)
    await temporal_env.client.start_workflow(n.NEUTRALITY_WORKFLOW, start, id=start.case_id,
                                             task_queue=settings.task_queue)


async def _row(session_factory, scenario_id: int, year: int, **expect) -> NeutralityObligation:
    for _ in range(300):
        with session_factory() as s:
            o = s.scalar(select(NeutralityObligation).where(NeutralityObligation.scenario_id == scenario_id,
                                                            NeutralityObligation.year == year))
            if o is not None and all(getattr(o, k) == v for k, v in expect.items()):
                return o
        await asyncio.sleep(0.05)
    raise AssertionError(f"obligation {scenario_id}/{year} never had {expect}: {o and o.__dict__}")


async def _running(client, temporal_env, session_factory, settings, owner, valid_until) -> tuple[int, int, datetime]:
    """A scenario of `owner` whose obligation for the current year runs; its label ends `valid_until(now, year)`."""
    scenario_id = await _scenario(client, owner)
    now = await temporal_env.get_current_time()
    year = neutrality_rules.year_of(now)
    await _start(temporal_env, session_factory, settings, scenario_id, owner.user.organisation_id, year,
                 valid_until(now, year))
    await _row(session_factory, scenario_id, year)
    return scenario_id, year, now


async def _ended(temporal_env, scenario_id: int) -> n.NeutralityState:
    """The case's last state once its workflow completed (the time-skipping server skips to its timers)."""
    handle = temporal_env.client.get_workflow_handle(n.case_id(scenario_id))
    for _ in range(600):
        # Raw describe: the SDK's describe() cannot decode the test server's datetime search attributes.
        found = await temporal_env.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(namespace=temporal_env.client.namespace,
                                             execution=WorkflowExecution(workflow_id=handle.id)))
        if found.workflow_execution_info.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED:
            return await handle.query(n.NEUTRALITY_STATE_QUERY, result_type=n.NeutralityState)
        await temporal_env.sleep(timedelta(days=30))
    raise AssertionError(f"{handle.id} did not complete")


def _kinds(session_factory) -> list[str]:
    with session_factory() as s:
        return list(s.scalars(select(NotificationRow.kind).order_by(NotificationRow.id)))


async def _cancel(client, session_factory, holder, operator, scenario_id: int, year: int, tonnes: int,
                  key: str) -> dict:
    org = holder.user.organisation_id
    project = make_project(session_factory, org, holder.id, facility_id=f"FAC-{key}")
    issue_units(session_factory, project, org, tonnes, key=f"issuance-{key}")
    with session_factory() as s, s.begin():
        number = ledger.ensure_account(s, org).account_number
    r = await client.post(f"{API}/cancellations", headers=holder.headers, json={
        "account_number": number, "quantity": tonnes, "purpose": "annual_neutrality",
        "purpose_text": f"annual neutrality {year}", "beneficiary_name": SCENARIO["name"],
        "scenario_id": scenario_id, "neutrality_year": year})
    assert r.status_code == 201, r.text
    r = await client.post(f"{API}/cancellations/{r.json()['cancellation_id']}/confirm", headers=operator.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_report_then_cancellations_meet_the_year_and_the_next_year_opens(
        client, worker, temporal_env, session_factory, settings, make_actor, operator, bureau):
    owner = make_actor(Role.APPLICANT)
    scenario_id, year, now = await _running(client, temporal_env, session_factory, settings, owner,
                                            lambda now, year: now + timedelta(days=3 * 365))
    row = await _row(session_factory, scenario_id, year, status="open")
    assert (row.report_due.month, row.report_due.day, row.due.month, row.due.day) == (3, 31, 6, 30)
    assert row.report_due.year == row.due.year == year + 1
    url = f"{API}/scenarios/{scenario_id}/neutrality/{year}"
    doc = await _upload(client, owner)

    # Refusals by role, organisation and content.
    stranger = make_actor(Role.APPLICANT)
    body = {"emissions_tco2e": 12, "document_id": doc}
    assert (await client.post(f"{url}/report", json=body, headers=operator.headers)).status_code == 403
    assert (await client.post(f"{url}/report", json=body, headers=stranger.headers)).status_code == 404
    assert (await client.get(f"{API}/scenarios/{scenario_id}/neutrality", headers=stranger.headers)).status_code == 404
    r = await client.post(f"{url}/report", json={**body, "emissions_tco2e": 12.5}, headers=owner.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("emissions_tco2e")  # whole tonnes
    r = await client.post(f"{url}/report", json={**body, "emissions_tco2e": -1}, headers=owner.headers)
    assert r.status_code == 422
    r = await client.post(f"{url}/report", json={**body, "document_id": await _upload(client, stranger)},
                          headers=owner.headers)
    assert r.status_code == 422 and r.json()["errors"][0] == {**r.json()["errors"][0], "field": "document_id",
                                                               "rule": "art17.report_document"}
    r = await client.post(f"{API}/scenarios/{scenario_id}/neutrality/{year - 1}/report", json=body,
                          headers=owner.headers)
    assert r.status_code == 404

    r = await client.post(f"{url}/report", json=body, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["emissions_tco2e"] == 12 and r.json()["status"] == "open" and not r.json()["reported_late"]
    r = await client.post(f"{url}/report", json={**body, "emissions_tco2e": 13}, headers=owner.headers)
    assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "art17.already_reported"

    # Extension refusals: only the operator, with a reason, to a later day.
    ext = {"reason": "疫情 / epidemic", "due": f"{year + 1}-09-30"}
    assert (await client.post(f"{url}/extension", json=ext, headers=owner.headers)).status_code == 403
    assert (await client.post(f"{url}/extension", json=ext, headers=bureau.headers)).status_code == 403
    r = await client.post(f"{url}/extension", json={**ext, "reason": " "}, headers=operator.headers)
    assert r.status_code == 422 and "reason" in r.text
    r = await client.post(f"{url}/extension", json={**ext, "due": f"{year + 1}-05-01"}, headers=operator.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "art17.extension_later"

    # 5 t are not enough; 7 more cover the 12 t: met (the API tells the case at confirmation).
    await _cancel(client, session_factory, owner, operator, scenario_id, year, 5, "n1")
    await _row(session_factory, scenario_id, year, cancelled_tonnes=5, status="open")
    await _cancel(client, session_factory, owner, operator, scenario_id, year, 7, "n2")
    met = await _row(session_factory, scenario_id, year, status="met", cancelled_tonnes=12)
    assert met.met_at is not None
    r = await client.post(f"{url}/extension", json=ext, headers=operator.headers)
    assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "art17.obligation_closed"

    # Public compliance list and CSV; the next year's run is open (continue-as-new).
    await _row(session_factory, scenario_id, year + 1, status="open")
    public = (await client.get(f"{API}/disclosure/neutrality", params={"year": year})).json()
    assert [(x["scenario_name"], x["status"], x["emissions_tco2e"]) for x in public["items"]] == [
        (SCENARIO["name"], "met", 12)]
    csv = (await client.get(f"{API}/disclosure/neutrality", params={"format": "csv"})).content.decode("utf-8-sig")
    assert "履约状态 / status" in csv and ",met," in csv
    with session_factory() as s:
        actions = [e.action for e in trail(s, n.case_id(scenario_id))]
    for action in ("neutrality.obligation_opened", "neutrality.emissions_reported",
                   "neutrality.cancellations_counted", "neutrality.met"):
        assert action in actions
    assert actions.count("neutrality.obligation_opened") == 2  # this year's and next year's


async def test_reminders_overdue_extension_then_late_and_the_last_labelled_year_ends(
        client, worker, temporal_env, session_factory, settings, make_actor, operator):
    owner = make_actor(Role.APPLICANT)
    # The label ends with this year: no obligation for the next one.
    scenario_id, year, now = await _running(client, temporal_env, session_factory, settings, owner,
                                            lambda now, year: datetime(year, 12, 31, tzinfo=timezone.utc))
    url = f"{API}/scenarios/{scenario_id}/neutrality/{year}"

    report_at = neutrality_rules.end_of(neutrality_rules.due_day(year, 331))
    await temporal_env.sleep(report_at - timedelta(days=15) - await temporal_env.get_current_time())
    assert "neutrality.report_reminder" not in _kinds(session_factory)
    await temporal_env.sleep(timedelta(days=2))
    await _row(session_factory, scenario_id, year)  # the worker catches up
    for _ in range(100):
        if "neutrality.report_reminder" in _kinds(session_factory):
            break
        await asyncio.sleep(0.05)
    assert "neutrality.report_reminder" in _kinds(session_factory)
    await temporal_env.sleep(timedelta(days=14))
    for _ in range(100):
        if "neutrality.report_overdue" in _kinds(session_factory):
            break
        await asyncio.sleep(0.05)
    assert "neutrality.report_overdue" in _kinds(session_factory)
    overdue = (await client.get(f"{API}/neutrality-obligations", params={"overdue": True},
                                headers=operator.headers)).json()
    assert [(o["scenario_id"], o["year"]) for o in overdue] == [(scenario_id, year)]
    assert (await client.get(f"{API}/neutrality-obligations", headers=owner.headers)).status_code == 403
    # What the admin view asks every case (the time-skipping server has no visibility to list it).
    view = await temporal_env.client.get_workflow_handle(n.case_id(scenario_id)).query(
        CASE_STATE_QUERY, result_type=CaseView)
    assert [(t.kind, t.assignee, t.overdue) for t in view.open_tasks] == [("neutrality_report", "applicant", True)]

    # The operator extends both days with a reason: no longer overdue; the step is audited.
    r = await client.post(f"{url}/extension", headers=operator.headers, json={
        "reason": "数据系统故障 / data system failure", "report_due": f"{year + 1}-07-31", "due": f"{year + 1}-09-30"})
    assert r.status_code == 200, r.text
    assert r.json()["report_due"] == f"{year + 1}-07-31" and not r.json()["overdue"]
    with session_factory() as s:
        [granted] = [e for e in trail(s, n.case_id(scenario_id)) if e.action == "neutrality.extension_granted"]
        assert granted.details["reason"] == "数据系统故障 / data system failure"
        assert granted.actor_user_id == operator.id

    # Reported within the extension, but nothing cancelled by the new due day: unmet for now ...
    r = await client.post(f"{url}/report", headers=owner.headers,
                          json={"emissions_tco2e": 3, "document_id": await _upload(client, owner)})
    assert r.status_code == 200 and not r.json()["reported_late"]
    due_at = neutrality_rules.end_of(datetime(year + 1, 9, 30).date())
    await temporal_env.sleep(due_at + timedelta(hours=1) - await temporal_env.get_current_time())
    await _row(session_factory, scenario_id, year, status="unmet")
    assert "neutrality.offset_overdue" in _kinds(session_factory)
    public = (await client.get(f"{API}/disclosure/neutrality")).json()["items"]
    assert [x["status"] for x in public] == ["unmet"]
    # ... and late once covered.
    await _cancel(client, session_factory, owner, operator, scenario_id, year, 3, "late")
    await _row(session_factory, scenario_id, year, status="late")
    state = await _ended(temporal_env, scenario_id)
    assert state.stage == n.Stage.LATE  # and no run for a year the label does not reach
    with session_factory() as s:
        assert s.scalar(select(NeutralityObligation).where(NeutralityObligation.year == year + 1)) is None


async def test_an_unreported_year_is_unmet_at_the_end_of_the_next_year(
        client, worker, temporal_env, session_factory, settings, make_actor):
    owner = make_actor(Role.APPLICANT)
    scenario_id, year, _ = await _running(client, temporal_env, session_factory, settings, owner,
                                          lambda now, year: now + timedelta(days=10))
    state = await _ended(temporal_env, scenario_id)
    assert state.stage == n.Stage.UNMET and state.emissions_tco2e is None
    await _row(session_factory, scenario_id, year, status="unmet")


async def test_publishing_a_scenario_starts_its_annual_neutrality(
        publish_spec, client, operator, applicant, experts, worker, temporal_env, session_factory):
    await publish_spec()
    case_id = await applied_case(client, operator, applicant)
    await panel_decides(client, operator, experts, case_id, APPROVE_HIGH)
    await wait_stage(client, operator, case_id, "awaiting_decision")
    r = await client.post(f"{API}/scenario-cases/{case_id}/decision", json={"decision": "publish"},
                          headers=operator.headers)
    assert r.status_code == 200, r.text
    scenario_id = r.json()["scenario_id"]
    year = neutrality_rules.year_of(await temporal_env.get_current_time())
    row = await _row(session_factory, scenario_id, year, status="open")
    assert row.organisation_id == applicant.user.organisation_id
    listed = (await client.get(f"{API}/disclosure/scenarios", params={"year": year})).json()["items"]
    assert [(x["scenario_id"], x["neutrality_status"]) for x in listed] == [(scenario_id, "open")]
    mine = (await client.get(f"{API}/scenarios/{scenario_id}/neutrality", headers=applicant.headers)).json()
    assert [(o["year"], o["status"]) for o in mine] == [(year, "open")]


@pytest.mark.parametrize("value", [230, 1301, 700])
async def test_policy_refuses_impossible_or_inverted_days(client, bureau, value):
    r = await client.post(f"{API}/policy/changes", headers=bureau.headers, json={
        "parameter": "neutrality_report_due", "value": value, "reason": "r"})
    assert r.status_code == 422, r.text


async def test_a_label_granted_again_carries_the_obligation_into_the_next_year(
        client, worker, temporal_env, session_factory, settings, make_actor):
    owner = make_actor(Role.APPLICANT)
    # The first label ends with this year; a re-evaluation (Art. 16) granted a second one for three more.
    scenario_id, year, now = await _running(client, temporal_env, session_factory, settings, owner,
                                            lambda now, year: datetime(year, 12, 31, tzinfo=timezone.utc))
    with session_factory() as s, s.begin():
        # The label row alone (its evaluation case's rows are not what this test is about): without
        # foreign-key checks for this one statement.
        s.execute(text("SET LOCAL session_replication_role = replica"))
        s.execute(text("INSERT INTO scenario_labels (code, case_id, scenario_id, year, seq, valid_from, valid_until, "
                       "published_by) VALUES ('WH-S-2026-0999', 'scenario-re', :s, :y, 999, :now, :until, :u)"),
                  {"s": scenario_id, "y": year, "u": owner.id, "now": now, "until": now + timedelta(days=3 * 365)})
    r = await client.post(f"{API}/scenarios/{scenario_id}/neutrality/{year}/report", headers=owner.headers,
                          json={"emissions_tco2e": 0, "document_id": await _upload(client, owner)})
    assert r.status_code == 200, r.text
    await _row(session_factory, scenario_id, year, status="met")
    await _row(session_factory, scenario_id, year + 1, status="open")
