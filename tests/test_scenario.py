"""Scenario lifecycle through the HTTP API under time skipping (SPEC §2.3, Art. 12–16)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import pytest_asyncio
from sqlalchemy import select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

from domain.contracts.scenario import SCENARIO_WORKFLOW, LabelRequest, ScenarioApplication, ScenarioCaseState
from domain.roles import Role
from store import policy, scenarios
from store.audit import trail
from store.models.cases import Case
from store.models.documents import Document
from store.models.identity import User
from store.models.notifications import InboxItem
from store.models.notifications import Notification as NotificationRow
from store.models.scenario import Scenario, ScenarioCase, ScenarioLabel, SelfAssessment
from tests.review_helpers import deployment
from tests import sample_files, support
from tests.support import eventually

API = "/api/v1"
SPEC = {
    "category": "restaurant", "title": "Low-carbon restaurant evaluation v1",
    "items": [
        {"code": "G1", "name": "No single-use plastic tableware", "kind": "gate"},
        {"code": "W1", "name": "Food waste reduction measures", "kind": "weighted", "weight": 60},
        {"code": "W2", "name": "Customer low-carbon rewards", "kind": "weighted", "weight": 40},
    ],
}
PASSING = [{"code": "G1", "passed": True}, {"code": "W1", "score": 55},
           {"code": "W2", "score": 35}]  # 90
SCENARIO = {"name": "Hubu Alley Noodles", "category": "restaurant", "address": "Hubu Alley 1, Wuchang",
            "district": "wu_chang", "behaviour_description": "Customers scan a code for no-tableware orders; points."}


def notifications(db, kind: str) -> list[NotificationRow]:
    db.expire_all()
    return list(db.scalars(select(NotificationRow).where(NotificationRow.kind == kind)))


def inbox_users(db, notification: NotificationRow) -> set[int]:
    return set(db.scalars(select(InboxItem.user_id).where(InboxItem.notification_id == notification.id)))


@pytest.fixture
def applicant(make_actor):
    return make_actor(Role.APPLICANT)


async def spec_review(client, operator, bureau, experts, spec_id: int, vote: str = "approve") -> dict:
    """Art. 12: the operator asks for publication; the bureau forms the panel and each expert votes."""
    r = await client.post(f"{API}/scenario-specs/{spec_id}/publish", headers=operator.headers)
    assert r.status_code == 202 and r.json()["status"] == "in_review", r.text
    review_id = r.json()["review_id"]
    for _ in range(200):
        if (await client.get(f"{API}/reviews/{review_id}", headers=bureau.headers)).status_code == 200:
            break
        await asyncio.sleep(0.05)
    r = await client.post(f"{API}/reviews/{review_id}/panel", json={"expert_ids": [e for _, e in experts]},
                          headers=bureau.headers)
    assert r.status_code == 200, r.text
    for expert, _ in experts:
        [task] = [t for t in (await client.get(f"{API}/review-tasks", headers=expert.headers)).json()
                  if t["review_id"] == review_id]
        r = await client.post(f"{API}/review-tasks/{task['task_id']}/decision", headers=expert.headers,
                              json={"vote": vote, "comments": f"spec: {vote}"})
        assert r.status_code == 200, r.text
    final = "published" if vote == "approve" else "returned"
    for _ in range(200):
        spec = (await client.get(f"{API}/scenario-specs/{spec_id}", headers=operator.headers)).json()
        if spec["status"] == final:
            return spec
        await asyncio.sleep(0.05)
    raise AssertionError(f"specification {spec_id} stayed {spec['status']}")


@pytest_asyncio.fixture
async def publish_spec(client, operator, bureau, experts, worker):
    """Draft a specification and have it published (through the bureau's panel)."""
    async def publish(**changes) -> dict:
        r = await client.post(f"{API}/scenario-specs", json={**SPEC, **changes}, headers=operator.headers)
        assert r.status_code == 201, r.text
        return await spec_review(client, operator, bureau, experts, r.json()["id"])
    return publish


async def upload_pdf(client, actor) -> int:
    content = sample_files.pdf()
    r = await client.post(f"{API}/documents", files={"file": ("evidence.pdf", content, "application/pdf")},
                          data={"kind": "evidence"}, headers=actor.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def new_scenario(client, applicant) -> int:
    r = await client.post(f"{API}/scenarios", json=SCENARIO, headers=applicant.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def self_assess(client, applicant, scenario_id, items=PASSING) -> dict:
    r = await client.post(f"{API}/scenarios/{scenario_id}/self-assessments", json={"items": items},
                          headers=applicant.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def apply(client, applicant, scenario_id, assessment_id, **headers):
    return await client.post(f"{API}/scenarios/{scenario_id}/applications",
                             json={"self_assessment_id": assessment_id}, headers={**applicant.headers, **headers})


async def case_of(client, actor, case_id) -> dict:
    r = await client.get(f"{API}/scenario-cases/{case_id}", headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def wait_stage(client, actor, case_id, stage) -> dict:
    async def reached():
        case = await case_of(client, actor, case_id)
        return case if case["stage"] == stage else None
    return await eventually(reached, f"{case_id} at {stage}", timeout=10)


async def in_review(client, operator, case_id) -> dict:
    """Wait until the case's review child runs and has registered itself (its first activity)."""
    case = await wait_stage(client, operator, case_id, "in_review")

    async def registered():
        return (await client.get(f"{API}/reviews/{case['review_id']}", headers=operator.headers)).status_code == 200
    await eventually(registered, f"review {case['review_id']} registered", timeout=10)
    return case


async def applied_case(client, operator, applicant) -> str:
    scenario_id = await new_scenario(client, applicant)
    assessment = await self_assess(client, applicant, scenario_id)
    r = await apply(client, applicant, scenario_id, assessment["id"])
    assert r.status_code == 201, r.text
    await in_review(client, operator, r.json()["case_id"])
    return r.json()["case_id"]


async def panel_decides(client, operator, experts, case_id, votes: list[tuple[str, dict[str, int]]]) -> None:
    """The operator forms the panel through the review API; each expert votes and scores every weighted item."""
    case = await in_review(client, operator, case_id)  # the round's review child has registered itself
    await support.panel_decides(client, operator, experts, case["review_id"], [v for v, _ in votes],
                                comments=[f"expert {e.id}" for e, _ in experts], scores=[s for _, s in votes])


APPROVE_HIGH = [("approve", {"W1": 55, "W2": 35}), ("approve", {"W1": 50, "W2": 30}), ("approve", {"W1": 58, "W2": 39})]


# --- specifications ---

async def test_operator_drafts_and_publishes_versioned_specs(publish_spec, client, operator, bureau, experts,
                                                             applicant):
    r = await client.post(f"{API}/scenario-specs", json=SPEC, headers=applicant.headers)
    assert r.status_code == 403
    r = await client.post(f"{API}/scenario-specs", json=SPEC)
    assert r.status_code == 401
    bad = {**SPEC, "items": [*SPEC["items"][:2], {**SPEC["items"][2], "weight": 30}]}
    r = await client.post(f"{API}/scenario-specs", json=bad, headers=operator.headers)
    assert r.status_code == 422 and r.json()["errors"][0] == {
        "field": "items", "rule": "weights_sum_to_100", "message": "weights sum to 90, not 100"}

    r = await client.post(f"{API}/scenario-specs", json=SPEC, headers=operator.headers)
    draft = r.json()
    assert (draft["version"], draft["status"], draft["pass_mark"]) == (1, "draft", 80)
    public = await client.get(f"{API}/scenario-specs")
    assert public.json() == []
    assert (await client.get(f"{API}/scenario-specs/{draft['id']}")).status_code == 404

    # Art. 12: published only once the bureau's expert panel has evaluated it.
    asked = await client.post(f"{API}/scenario-specs/{draft['id']}/publish", headers=operator.headers)
    assert asked.status_code == 202 and asked.json()["status"] == "in_review" and asked.json()["published_at"] is None
    assert (await client.get(f"{API}/scenario-specs")).json() == []
    v1 = await spec_review(client, operator, bureau, experts, draft["id"])  # (asking again is harmless)
    assert v1["status"] == "published" and v1["published_at"] is not None
    again = await client.post(f"{API}/scenario-specs/{draft['id']}/publish", headers=operator.headers)
    assert again.status_code == 202 and again.json()["published_at"] == v1["published_at"]
    r = await client.post(f"{API}/scenario-specs", json={**SPEC, "pass_mark": 90}, headers=operator.headers)
    returned = await spec_review(client, operator, bureau, experts, r.json()["id"], vote="reject")
    assert returned["reasons"] == ["spec: reject"] * 3
    r = await client.post(f"{API}/scenario-specs/{returned['id']}/publish", headers=operator.headers)
    assert r.status_code == 409
    v2 = await publish_spec(pass_mark=85)
    assert v2["version"] == 3
    current = (await client.get(f"{API}/scenario-specs", params={"current": True})).json()
    assert [(s["category"], s["version"], s["pass_mark"]) for s in current] == [("restaurant", 3, 85)]
    assert len((await client.get(f"{API}/scenario-specs")).json()) == 2


# --- self-assessment and application ---

async def test_self_assessment_scores_and_the_application_refuses_gates_and_pass_mark(
        publish_spec, client, operator, applicant, make_actor, worker, db):
    scenario_id = await new_scenario(client, applicant)
    r = await client.post(f"{API}/scenarios/{scenario_id}/self-assessments", json={"items": PASSING},
                          headers=applicant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "published_spec_required"
    await publish_spec()

    r = await client.post(f"{API}/scenarios/{scenario_id}/self-assessments",
                          json={"items": [PASSING[0], {"code": "W1", "score": 61}]}, headers=applicant.headers)
    assert r.status_code == 422
    assert {(e["field"], e["rule"]) for e in r.json()["errors"]} == {("items.1.score", "range"), ("items", "missing_item")}

    evidence = await upload_pdf(client, applicant)
    foreign = await upload_pdf(client, make_actor(Role.APPLICANT))
    with_foreign = [{**PASSING[0], "evidence_document_ids": [foreign]}, *PASSING[1:]]
    r = await client.post(f"{API}/scenarios/{scenario_id}/self-assessments", json={"items": with_foreign},
                          headers=applicant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items.0.evidence_document_ids"
    assert r.json()["errors"][0]["rule"] == "own_documents"
    missing = [PASSING[0], {**PASSING[1], "evidence_document_ids": [evidence, 10**9]}, *PASSING[2:]]
    r = await client.post(f"{API}/scenarios/{scenario_id}/self-assessments", json={"items": missing},
                          headers=applicant.headers)
    assert r.status_code == 422 and (r.json()["errors"][0]["field"], r.json()["errors"][0]["rule"]) == (
        "items.1.evidence_document_ids", "own_documents")
    assert db.scalar(select(SelfAssessment.id)) is None  # nothing stored for a refused self-assessment
    passing = await self_assess(client, applicant, scenario_id,
                                [{**PASSING[0], "evidence_document_ids": [evidence]}, *PASSING[1:]])
    assert (passing["total_score"], passing["passes"], passing["failing_items"]) == (90, True, [])
    gate_fails = await self_assess(client, applicant, scenario_id, [{"code": "G1", "passed": False}, *PASSING[1:]])
    assert (gate_fails["total_score"], gate_fails["passes"], gate_fails["failing_items"]) == (90, False, ["G1"])
    low = await self_assess(client, applicant, scenario_id, [PASSING[0], {"code": "W1", "score": 60},
                                                             {"code": "W2", "score": 19}])
    assert (low["total_score"], low["passes"], low["failing_items"]) == (79, False, ["W2"])

    r = await apply(client, applicant, scenario_id, gate_fails["id"])
    assert r.status_code == 422 and r.json()["errors"] == [
        {"field": "items.G1", "rule": "gate_failed", "message": "gate item 'G1' does not pass"}]
    r = await apply(client, applicant, scenario_id, low["id"])
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "below_pass_mark"
    assert "79" in r.json()["errors"][0]["message"] and "W2" in r.json()["errors"][0]["message"]
    assert db.scalar(select(ScenarioCase.id)) is None  # nothing stored for a refused application

    r = await apply(client, applicant, scenario_id, passing["id"], **{"Idempotency-Key": "apply-1"})
    assert r.status_code == 201, r.text
    again = await apply(client, applicant, scenario_id, passing["id"], **{"Idempotency-Key": "apply-1"})
    assert again.status_code == 201 and again.json()["case_id"] == r.json()["case_id"]
    other = await apply(client, applicant, scenario_id, passing["id"])
    assert other.status_code == 409 and other.json()["errors"][0]["rule"] == "one_open_case"  # one at a time
    assert db.get(Document, evidence).case_id == r.json()["case_id"]  # the panel may read the evidence
    await in_review(client, operator, r.json()["case_id"])


async def test_other_organisations_and_wrong_roles_are_refused(publish_spec, client, operator, applicant, make_actor,
                                                               worker):
    await publish_spec()
    case_id = await applied_case(client, operator, applicant)
    scenario_id = (await case_of(client, applicant, case_id))["scenario_id"]
    stranger = make_actor(Role.APPLICANT)
    assert (await client.get(f"{API}/scenarios/{scenario_id}", headers=stranger.headers)).status_code == 404
    assert (await client.get(f"{API}/scenario-cases/{case_id}", headers=stranger.headers)).status_code == 404
    r = await client.post(f"{API}/scenarios/{scenario_id}/self-assessments", json={"items": PASSING},
                          headers=stranger.headers)
    assert r.status_code == 404
    r = await client.post(f"{API}/scenario-cases/{case_id}/withdraw", json={"reason": "x"}, headers=stranger.headers)
    assert r.status_code == 404
    assert (await client.get(f"{API}/scenarios", headers=stranger.headers)).json() == []
    assert (await client.post(f"{API}/scenarios", json=SCENARIO, headers=operator.headers)).status_code == 403
    review_id = (await case_of(client, applicant, case_id))["review_id"]
    r = await client.post(f"{API}/reviews/{review_id}/panel", json={"expert_ids": [1, 2, 3]},
                          headers=applicant.headers)
    assert r.status_code == 403
    r = await client.post(f"{API}/scenario-cases/{case_id}/decision", json={"decision": "publish"},
                          headers=applicant.headers)
    assert r.status_code == 403
    r = await client.post(f"{API}/scenario-cases/{case_id}/decision", json={"decision": "publish"},
                          headers=operator.headers)
    assert r.status_code == 409  # the panel has not reviewed yet


# --- panel, publication, label, expiry ---

async def test_panel_mean_publication_label_reminder_and_expiry(
        publish_spec, client, operator, applicant, experts, worker, temporal_env, db):
    await publish_spec()
    case_id = await applied_case(client, operator, applicant)
    await panel_decides(client, operator, experts, case_id, APPROVE_HIGH)
    case = await wait_stage(client, operator, case_id, "awaiting_decision")
    assert case["panel_outcome"] == "approve"
    assert case["panel_mean_score_hundredths"] == (90 + 80 + 97) * 100 // 3 == 8900

    r = await client.post(f"{API}/scenario-cases/{case_id}/decision", json={"decision": "reject"},
                          headers=operator.headers)
    assert r.status_code == 422  # a rejection needs reasons
    r = await client.post(f"{API}/scenario-cases/{case_id}/decision", json={"decision": "publish"},
                          headers=operator.headers)
    assert r.status_code == 200, r.text
    case = r.json()
    year = (await temporal_env.get_current_time()).astimezone(scenarios.rules.SHANGHAI).year
    assert case["stage"] == "published" and case["label_code"] == f"WH-S-{year}-0001"
    label = db.scalar(select(ScenarioLabel))
    assert label.valid_until == scenarios.rules.label_valid_until(label.valid_from, 3)
    assert db.get(Scenario, case["scenario_id"]).included
    again = await client.post(f"{API}/scenario-cases/{case_id}/decision", json={"decision": "publish"},
                              headers=operator.headers)
    assert again.status_code == 200 and again.json()["label_code"] == case["label_code"]
    r = await client.post(f"{API}/scenario-cases/{case_id}/withdraw", json={"reason": "late"}, headers=applicant.headers)
    assert r.status_code == 409  # withdrawal ends at publication

    labels = (await client.get(f"{API}/scenario-labels")).json()
    assert [(x["label_code"], x["category"], x["district"], x["status"]) for x in labels] == [
        (case["label_code"], "restaurant", "wu_chang", "valid")]
    assert db.get(Case, case_id).stage == "published"

    # Just before the reminder nothing is sent; then operator and scenario are reminded 60 days ahead.
    await temporal_env.sleep(label.valid_until - timedelta(days=61) - await temporal_env.get_current_time())
    assert not (await case_of(client, operator, case_id)).get("expiry_reminded", False)
    assert notifications(db, "scenario.label_expiry_reminder") == []
    await temporal_env.sleep(timedelta(days=2))
    [reminder] = await wait_for(lambda: notifications(db, "scenario.label_expiry_reminder"))
    assert {operator.id, applicant.id} <= inbox_users(db, reminder)
    await temporal_env.sleep(timedelta(days=60))
    await wait_stage(client, operator, case_id, "expired")
    labels = (await client.get(f"{API}/scenario-labels", params={"status": "expired"})).json()
    assert [x["label_code"] for x in labels] == [case["label_code"]]
    db.expire_all()
    assert not db.get(Scenario, case["scenario_id"]).included
    actions = [e.action for e in trail(db, case_id)]
    for action in ("scenario.application_created", "scenario.application_submitted", "scenario.review_started",
                   "scenario.review_concluded", "scenario.published", "scenario.label_expiry_reminded",
                   "scenario.label_expired"):
        assert action in actions


async def wait_for(find):
    for _ in range(200):
        found = find()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


async def test_revise_round_then_rejection_when_the_panel_mean_is_below_the_pass_mark(
        publish_spec, client, operator, applicant, make_actor, experts, worker, temporal_env, db):
    await publish_spec()
    case_id = await applied_case(client, operator, applicant)
    await panel_decides(client, operator, experts, case_id,
                        [("revise", {"W1": 40, "W2": 30}), ("revise", {"W1": 40, "W2": 30}),
                         ("approve", {"W1": 50, "W2": 30})])
    case = await wait_stage(client, applicant, case_id, "returned")
    assert case["round_no"] == 1 and case["deadline"] is not None
    [returned] = await wait_for(lambda: notifications(db, "scenario.returned"))
    assert f"expert {experts[0][0].id}" in returned.body and applicant.id in inbox_users(db, returned)

    scenario_id = case["scenario_id"]
    failing = await self_assess(client, applicant, scenario_id, [{"code": "G1", "passed": False}, *PASSING[1:]])
    r = await client.post(f"{API}/scenario-cases/{case_id}/resubmission", json={"self_assessment_id": failing["id"]},
                          headers=applicant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items.G1"
    revised = await self_assess(client, applicant, scenario_id)
    stranger = make_actor(Role.APPLICANT)
    r = await client.post(f"{API}/scenario-cases/{case_id}/resubmission", json={"self_assessment_id": revised["id"]},
                          headers=stranger.headers)
    assert r.status_code == 404
    r = await client.post(f"{API}/scenario-cases/{case_id}/resubmission", json={"self_assessment_id": revised["id"]},
                          headers=applicant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["round_no"] == 2 and r.json()["self_assessment_id"] == revised["id"]
    again = await client.post(f"{API}/scenario-cases/{case_id}/resubmission",
                              json={"self_assessment_id": revised["id"]}, headers=applicant.headers)
    assert again.status_code == 200 and again.json()["round_no"] == 2
    r = await client.post(f"{API}/scenario-cases/{case_id}/resubmission", json={"self_assessment_id": failing["id"]},
                          headers=applicant.headers)
    assert r.status_code == 422  # checked before anything else
    case = await in_review(client, operator, case_id)
    assert case["review_id"] == f"{case_id}-review-2"

    # Round 2: the panel approves but its mean (75.00) is below the pass mark: only rejection remains.
    await panel_decides(client, operator, experts, case_id, [("approve", {"W1": 45, "W2": 30})] * 3)
    case = await wait_stage(client, operator, case_id, "awaiting_decision")
    assert case["panel_mean_score_hundredths"] == 7500
    r = await client.post(f"{API}/scenario-cases/{case_id}/decision", json={"decision": "publish"},
                          headers=operator.headers)
    assert r.status_code == 422 and "75.00" in r.json()["detail"]
    assert r.json()["errors"][0]["rule"] == "art14.evaluation_passed"
    r = await client.post(f"{API}/scenario-cases/{case_id}/decision",
                          json={"decision": "reject", "reasons": "Food waste measures insufficient"},
                          headers=operator.headers)
    assert r.status_code == 200 and r.json()["stage"] == "rejected"
    assert r.json()["reasons"] == "Food waste measures insufficient"
    assert (await client.get(f"{API}/scenario-labels")).json() == []


async def test_unanswered_revision_lapses_and_the_case_is_withdrawn(publish_spec, client, operator, applicant, experts,
                                                                     worker, temporal_env):
    await publish_spec()
    case_id = await applied_case(client, operator, applicant)
    await panel_decides(client, operator, experts, case_id, [("revise", {"W1": 40, "W2": 30})] * 3)
    await wait_stage(client, applicant, case_id, "returned")
    await temporal_env.sleep(timedelta(days=31))
    case = await wait_stage(client, applicant, case_id, "withdrawn")
    assert case["reasons"] == "no resubmission within 30 days"


async def test_applicant_withdraws_during_review(publish_spec, client, operator, applicant, worker, temporal_env, db):
    await publish_spec()
    case_id = await applied_case(client, operator, applicant)
    r = await client.post(f"{API}/scenario-cases/{case_id}/withdraw", json={"reason": "closing the shop"},
                          headers=operator.headers)
    assert r.status_code == 403
    r = await client.post(f"{API}/scenario-cases/{case_id}/withdraw", json={"reason": "closing the shop"},
                          headers=applicant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "withdrawn" and r.json()["outcome"] == "withdrawn"
    again = await client.post(f"{API}/scenario-cases/{case_id}/withdraw", json={"reason": "closing the shop"},
                              headers=applicant.headers)
    assert again.status_code == 200
    # Raw describe: the SDK's describe() cannot decode the test server's datetime search attributes.
    async def review_cancelled() -> bool:  # the child's cancellation lands just after the answer
        review = await temporal_env.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(namespace=temporal_env.client.namespace,
                                             execution=WorkflowExecution(workflow_id=f"{case_id}-review-1")))
        return review.workflow_execution_info.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED
    await eventually(review_cancelled, f"{case_id}-review-1 cancelled", timeout=10)
    # Re-evaluation is a new case.
    scenario_id = r.json()["scenario_id"]
    assessment = db.scalar(select(SelfAssessment).where(SelfAssessment.scenario_id == scenario_id))
    r = await apply(client, applicant, scenario_id, assessment.id)
    assert r.status_code == 201 and r.json()["case_id"] != case_id


async def test_the_workflow_checks_the_self_assessment_again(publish_spec, client, operator, applicant, worker,
                                                             temporal_env, session_factory, settings):
    """A case whose self-assessment no longer passes (checked in the first activity) is refused."""
    await publish_spec()
    scenario_id = await new_scenario(client, applicant)
    failing = await self_assess(client, applicant, scenario_id, [{"code": "G1", "passed": False}, *PASSING[1:]])
    with session_factory() as s, s.begin():
        s.add(ScenarioCase(id=999, case_id="scenario-999", scenario_id=scenario_id, spec_id=failing["spec_id"],
                           self_assessment_id=failing["id"], submitted_by=applicant.id,
                           submitted_at=datetime.now(timezone.utc)))
    handle = await temporal_env.client.start_workflow(
        SCENARIO_WORKFLOW, ScenarioApplication(case_id="scenario-999", deployment_id=deployment(session_factory),
                                               scenario_id=scenario_id,
                                               self_assessment_id=failing["id"],
                                               applicant_organisation_id=applicant.user.organisation_id,
                                               actor_user_id=applicant.id),
        id="scenario-999", task_queue=settings.task_queue, result_type=ScenarioCaseState)
    state = await handle.result()
    assert state.stage == "refused"
    case = await case_of(client, applicant, "scenario-999")
    assert case["outcome"] == "refused" and case["reasons"] == "gate item 'G1' does not pass"


def test_label_sequence_has_no_gaps_or_duplicates_under_concurrency(session_factory, make_actor, db):
    applicant = make_actor(Role.APPLICANT)
    published = datetime(2027, 3, 1, 2, 0, tzinfo=timezone.utc)
    with session_factory() as s, s.begin():
        from store.models.scenario import EvaluationSpec, EvaluationSpecItem

        spec = EvaluationSpec(category="hotel", version=1, title="t", status="published", pass_mark=80,
                              created_by=applicant.id, created_at=published,
                              items=[EvaluationSpecItem(position=0, code="W", name="w", kind="weighted", weight=100)])
        s.add(spec)
        s.flush()
        for n in range(1, 21):
            sc = Scenario(organisation_id=applicant.user.organisation_id, name=f"s{n}", category="hotel", address="a",
                          district="han_yang", behaviour_description="d", created_by=applicant.id)
            s.add(sc)
            s.flush()
            sa = SelfAssessment(scenario_id=sc.id, spec_id=spec.id, total_score=100, passes=True, created_by=applicant.id)
            s.add(sa)
            s.flush()
            s.add(ScenarioCase(id=n, case_id=f"scenario-{n}", scenario_id=sc.id, spec_id=spec.id,
                               self_assessment_id=sa.id, submitted_by=applicant.id, submitted_at=published))

    def publish(n: int) -> str:
        with session_factory() as s, s.begin():
            return scenarios.allocate_label(s, LabelRequest(case_id=f"scenario-{n % 20 + 1}", published_at=published,
                                                            validity_years=3, include=True,
                                                            actor_user_id=applicant.id)).code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(publish, range(40)))  # every case twice: retries return the same label
    assert sorted(set(codes)) == [f"WH-S-2027-{n:04d}" for n in range(1, 21)]
    assert len(db.scalars(select(ScenarioLabel)).all()) == 20


async def test_after_the_last_revision_round_a_revise_outcome_goes_to_the_operator(
        publish_spec, client, operator, applicant, bureau, experts, worker, temporal_env, session_factory):
    with session_factory() as s, s.begin():
        now = datetime.now(timezone.utc)
        policy.schedule_change(s, parameter="max_revision_rounds", value=2, effective_from=now, reason="test",
                               actor=s.get(User, bureau.id), now=now)
    await publish_spec()
    case_id = await applied_case(client, operator, applicant)
    revise = [("revise", {"W1": 50, "W2": 35})] * 3
    await panel_decides(client, operator, experts, case_id, revise)
    case = await wait_stage(client, applicant, case_id, "returned")
    revised = await self_assess(client, applicant, case["scenario_id"])
    r = await client.post(f"{API}/scenario-cases/{case_id}/resubmission", json={"self_assessment_id": revised["id"]},
                          headers=applicant.headers)
    assert r.status_code == 200, r.text
    # Round 2 of at most 2 (as in every process, domain.review.after_panel): no third round.
    await panel_decides(client, operator, experts, case_id, revise)
    case = await wait_stage(client, operator, case_id, "awaiting_decision")
    assert (case["round_no"], case["panel_outcome"]) == (2, "revise")
    r = await client.post(f"{API}/scenario-cases/{case_id}/decision", json={"decision": "publish"},
                          headers=operator.headers)
    assert r.status_code == 422 and "not approve" in r.json()["detail"]
