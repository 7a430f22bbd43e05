"""The review HTTP API: the public roster, panel formation and replacement by the authority, and the
expert's own tasks, decisions and recusals, with every refusal (401/403/404/409/422)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from domain.contracts.review import REVIEW_WORKFLOW, ReviewCriterion, ReviewOutcome, review_workflow_id
from domain.roles import Role
from store.models.audit import AuditEvent
from store.models.identity import Organisation
from store.models.review import Review
from tests.review_helpers import deployment, eventually, parent_case, request


async def add_expert(client, bureau, make_actor, org=None, conflicts=()):
    actor = make_actor(Role.EXPERT, org=org)
    r = await client.post("/api/v1/experts", headers=bureau.headers, json={
        "user_id": actor.id, "name": f"Prof. {actor.id}", "expertise": ["forestry carbon sink"],
        "declared_conflict_organisation_ids": list(conflicts)})
    assert r.status_code == 201, r.text
    return actor, r.json()["id"]


@pytest.fixture
def applicant(make_actor):
    return make_actor(Role.APPLICANT)


@pytest.fixture
async def experts(client, bureau, make_actor):
    return [await add_expert(client, bureau, make_actor) for _ in range(4)]


@pytest.fixture
def review_queue(worker, settings):
    """The real worker (real calendar and notification outbox) runs the reviews."""
    return settings.task_queue


async def inbox_kinds(client, actor) -> list[str]:
    return [n["kind"] for n in (await client.get("/api/v1/notifications", headers=actor.headers)).json()["items"]]


async def start_review(temporal_env, session_factory, queue, applicant, **kw):
    case_id = parent_case(session_factory, applicant.user.organisation_id, case_type=kw.pop("case_type", "methodology"))
    req = request(case_id, applicant_org=applicant.user.organisation_id, deployment_id=deployment(session_factory),
                  **kw)
    review_id = review_workflow_id(case_id, 1)
    handle = await temporal_env.client.start_workflow(REVIEW_WORKFLOW, req, id=review_id, task_queue=queue,
                                                      result_type=ReviewOutcome)
    with session_factory() as s:  # the review has mirrored itself (its first activity)
        await eventually(lambda: s.get(Review, review_id, populate_existing=True))
    return handle


async def test_roster_is_kept_by_the_bureau_and_public(client, bureau, operator, make_actor, make_org, db):
    expert_user = make_actor(Role.EXPERT)
    conflicted = make_org()
    body = {"user_id": expert_user.id, "name": "Prof. Li", "expertise": ["low-carbon travel"],
            "declared_conflict_organisation_ids": [conflicted.id]}
    assert (await client.post("/api/v1/experts", json=body)).status_code == 401
    assert (await client.post("/api/v1/experts", json=body, headers=operator.headers)).status_code == 403
    h = {**bureau.headers, "Idempotency-Key": "roster-1"}
    r = await client.post("/api/v1/experts", json=body, headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["affiliation_organisation_id"] == expert_user.user.organisation_id  # the user's own
    assert created["declared_conflict_organisation_ids"] == [conflicted.id]
    again = await client.post("/api/v1/experts", json=body, headers=h)
    assert again.status_code == 201 and again.json()["id"] == created["id"]
    dup = await client.post("/api/v1/experts", json=body, headers=bureau.headers)
    assert dup.status_code == 409 and dup.json()["errors"][0] == {
        "field": "user_id", "rule": "unique", "message": dup.json()["detail"]}

    not_expert = make_actor(Role.APPLICANT)
    for bad, field, rule in (({"user_id": not_expert.id}, "user_id", "role_expert"),
                             ({"user_id": 999999}, "user_id", "exists"),
                             ({"user_id": make_actor(Role.EXPERT).id, "declared_conflict_organisation_ids": [999999]},
                              "declared_conflict_organisation_ids", "exists")):
        r = await client.post("/api/v1/experts", json={**body, **bad}, headers=bureau.headers)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field
        assert r.json()["errors"][0]["rule"] == rule

    roster = await client.get("/api/v1/experts")  # no login
    assert roster.status_code == 200
    (entry,) = roster.json()
    assert entry["name"] == "Prof. Li" and entry["active"] and entry["affiliation"]
    assert "declared_conflict_organisation_ids" not in entry and "user_id" not in entry

    r = await client.patch(f"/api/v1/experts/{created['id']}", json={"active": False}, headers=bureau.headers)
    assert r.status_code == 200 and r.json()["active"] is False
    assert (await client.get("/api/v1/experts", params={"active": True})).json() == []
    assert (await client.patch("/api/v1/experts/999999", json={"active": True},
                               headers=bureau.headers)).status_code == 404
    assert (await client.patch(f"/api/v1/experts/{created['id']}", json={"active": True},
                               headers=operator.headers)).status_code == 403
    r = await client.patch(f"/api/v1/experts/{created['id']}", json={"active": None}, headers=bureau.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "active"
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "expert")
                         .order_by(AuditEvent.id)).all()
    assert actions == ["expert.created", "expert.updated"]


async def test_panel_is_formed_by_the_reviews_own_authority_without_conflicts(
        client, temporal_env, session_factory, review_queue, bureau, operator, applicant, experts, make_actor, db):
    handle = await start_review(temporal_env, session_factory, review_queue, applicant)
    url = f"/api/v1/reviews/{handle.id}/panel"
    ids = [e for _, e in experts[:3]]
    assert (await client.post(url, json={"expert_ids": ids}, headers=applicant.headers)).status_code == 403
    r = await client.post(url, json={"expert_ids": ids}, headers=operator.headers)
    assert r.status_code == 403 and "bureau_admin" in r.json()["detail"]
    missing = await client.post("/api/v1/reviews/methodology-nope-review-1/panel", json={"expert_ids": ids},
                                headers=bureau.headers)
    assert missing.status_code == 404

    _, same_org = await add_expert(client, bureau, make_actor,
                                   org=db.get(Organisation, applicant.user.organisation_id))
    r = await client.post(url, json={"expert_ids": [*ids[:2], same_org]}, headers=bureau.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "expert_ids"
    assert r.json()["errors"][0]["rule"] == "same_organisation_as_applicant"
    r = await client.post(url, json={"expert_ids": ids[:2]}, headers=bureau.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "panel_size"

    r = await client.post(url, json={"expert_ids": ids}, headers=bureau.headers)
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["stage"] == "in_review" and [p["expert_id"] for p in view["panel"]] == ids
    assert [t["status"] for t in view["tasks"]] == ["open"] * 3
    # The same request again (a retried POST) is harmless; a different panel is refused.
    assert (await client.post(url, json={"expert_ids": ids}, headers=bureau.headers)).status_code == 200
    r = await client.post(url, json={"expert_ids": [e for _, e in experts[1:4]]}, headers=bureau.headers)
    assert r.status_code == 409
    await handle.terminate()


async def test_experts_see_and_decide_only_their_own_tasks(
        client, temporal_env, session_factory, review_queue, bureau, operator, applicant, experts, make_actor):
    handle = await start_review(temporal_env, session_factory, review_queue, applicant)
    ids = [e for _, e in experts[:3]]
    view = (await client.post(f"/api/v1/reviews/{handle.id}/panel", json={"expert_ids": ids},
                              headers=bureau.headers)).json()
    tasks = [t["task_id"] for t in view["tasks"]]
    (e1, _), (e2, _), (e3, _), (e4, e4_id) = experts

    assert await inbox_kinds(client, e1) == ["review.task_assigned"]
    listed = (await client.get("/api/v1/review-tasks", headers=e1.headers)).json()
    assert [t["task_id"] for t in listed] == [tasks[0]]
    assert listed[0]["subject"].startswith("Subject of methodology-") and listed[0]["status"] == "open"
    assert (await client.get("/api/v1/review-tasks", headers=e4.headers)).json() == []
    assert (await client.get("/api/v1/review-tasks", headers=applicant.headers)).status_code == 403
    assert (await client.get("/api/v1/review-tasks")).status_code == 401

    decision = {"vote": "approve", "comments": "Baseline is sound."}
    url = f"/api/v1/review-tasks/{tasks[0]}/decision"
    assert (await client.post(url, json=decision, headers=e2.headers)).status_code == 404  # not theirs
    assert (await client.post(url, json=decision, headers=applicant.headers)).status_code == 403
    assert (await client.post(url, json=decision, headers=bureau.headers)).status_code == 403
    r = await client.post(url, json={**decision, "scores": {"x": 1}}, headers=e1.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "not_scored"
    r = await client.post(url, json={**decision, "vote": "maybe"}, headers=e1.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "vote"

    first = await client.post(url, json=decision, headers=e1.headers)
    assert first.status_code == 200, first.text
    again = await client.post(url, json=decision, headers=e1.headers)
    assert again.status_code == 200 and again.json() == first.json()
    other = await client.post(url, json={**decision, "vote": "reject"}, headers=e1.headers)
    assert other.status_code == 409
    assert (await client.get("/api/v1/review-tasks", headers=e1.headers)).json() == []
    done = (await client.get("/api/v1/review-tasks", params={"status": "done"}, headers=e1.headers)).json()
    assert done[0]["decision"]["vote"] == "approve"

    # Recusal, then the authority names a replacement who then decides.
    r = await client.post(f"/api/v1/review-tasks/{tasks[1]}/recusal", json={"reason": "former employer"},
                          headers=e2.headers)
    assert r.status_code == 200 and r.json()["status"] == "recused"
    assert (await client.post(f"/api/v1/review-tasks/{tasks[1]}/recusal", json={"reason": "former employer"},
                              headers=e2.headers)).status_code == 200
    r = await client.post(f"/api/v1/review-tasks/{tasks[1]}/decision", json=decision, headers=e2.headers)
    assert r.status_code == 409
    assert "review.replacement_needed" in await inbox_kinds(client, bureau)
    rep = f"/api/v1/reviews/{handle.id}/tasks/{tasks[1]}/replacement"
    assert (await client.post(rep, json={"expert_id": e4_id}, headers=operator.headers)).status_code == 403
    r = await client.post(rep, json={"expert_id": ids[0]}, headers=bureau.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "not_on_panel"
    r = await client.post(f"/api/v1/reviews/{handle.id}/tasks/{tasks[2]}/replacement", json={"expert_id": e4_id},
                          headers=bureau.headers)
    assert r.status_code == 409  # an open task that is not overdue keeps its expert
    r = await client.post(rep, json={"expert_id": e4_id}, headers=bureau.headers)
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "in_review" and [p["expert_id"] for p in r.json()["panel"]] == [ids[0], ids[2], e4_id]
    new_task = r.json()["tasks"][-1]["task_id"]
    assert [t["task_id"] for t in (await client.get("/api/v1/review-tasks", headers=e4.headers)).json()] == [new_task]

    for actor, task in ((e4, new_task), (e3, tasks[2])):
        r = await client.post(f"/api/v1/review-tasks/{task}/decision", json={**decision, "vote": "reject"},
                              headers=actor.headers)
        assert r.status_code == 200, r.text
    outcome = await handle.result()
    assert outcome.outcome == "reject"
    # After the review ended: the same decision is still harmless, a different one still refused.
    assert (await client.post(url, json=decision, headers=e1.headers)).status_code == 200
    assert (await client.post(url, json={**decision, "comments": "x"}, headers=e1.headers)).status_code == 409


async def test_review_view_for_the_authority_and_the_applicant(
        client, temporal_env, session_factory, review_queue, bureau, operator, applicant, experts, make_actor):
    handle = await start_review(temporal_env, session_factory, review_queue, applicant,
                                authority=Role.OPERATOR_ADMIN, case_type="scenario",
                                criteria=[ReviewCriterion(code="gate", name="Gate items", max_score=10)])
    url = f"/api/v1/reviews/{handle.id}"
    ids = [e for _, e in experts[:3]]
    assert (await client.post(f"{url}/panel", json={"expert_ids": ids}, headers=bureau.headers)).status_code == 403
    view = (await client.post(f"{url}/panel", json={"expert_ids": ids}, headers=operator.headers)).json()
    assert (await client.get(url, headers=bureau.headers)).status_code == 403
    assert (await client.get(url, headers=experts[0][0].headers)).status_code == 403
    assert (await client.get(url, headers=make_actor(Role.APPLICANT).headers)).status_code == 404
    assert (await client.get(url)).status_code == 401
    early = (await client.get(url, headers=applicant.headers)).json()
    assert early == {"review_id": handle.id, "case_id": early["case_id"], "stage": "in_review", "outcome": None,
                     "mean_score_hundredths": None, "decisions": []}

    for (actor, _), task, score in zip(experts[:3], view["tasks"], (10, 9, 9)):
        r = await client.post(f"/api/v1/review-tasks/{task['task_id']}/decision", headers=actor.headers,
                              json={"vote": "approve", "comments": f"score {score}", "scores": {"gate": score}})
        assert r.status_code == 200, r.text
    await handle.result()
    full = (await client.get(url, headers=operator.headers)).json()
    assert full["outcome"] == "approve" and full["mean_score_hundredths"] == 933
    assert [t["decision"]["scores"] for t in full["tasks"]] == [{"gate": 10}, {"gate": 9}, {"gate": 9}]
    seen = (await client.get(url, headers=applicant.headers)).json()
    assert seen["outcome"] == "approve" and seen["mean_score_hundredths"] == 933
    assert sorted(d["comments"] for d in seen["decisions"]) == ["score 10", "score 9", "score 9"]
    assert "expert_id" not in str(seen) and "panel" not in seen
    # The review is over: the workflow no longer takes changes.
    r = await client.post(f"{url}/tasks/{view['tasks'][0]['task_id']}/replacement", json={"expert_id": experts[3][1]},
                          headers=operator.headers)
    assert r.status_code == 409 and "is closed" in r.json()["detail"]


async def test_overdue_task_is_escalated_and_its_expert_replaced(
        client, temporal_env, session_factory, review_queue, bureau, applicant, experts):
    handle = await start_review(temporal_env, session_factory, review_queue, applicant)
    url = f"/api/v1/reviews/{handle.id}"
    view = (await client.post(f"{url}/panel", json={"expert_ids": [e for _, e in experts[:3]]},
                              headers=bureau.headers)).json()
    late = view["tasks"][0]
    assert late["remind_at"] < late["due"]  # the real working-day calendar set both
    for (actor, _), task in zip(experts[1:3], view["tasks"][1:]):
        r = await client.post(f"/api/v1/review-tasks/{task['task_id']}/decision", headers=actor.headers,
                              json={"vote": "revise", "comments": "more data"})
        assert r.status_code == 200
    due = datetime.fromisoformat(late["due"])
    await temporal_env.sleep(due - await temporal_env.get_current_time() + timedelta(minutes=5))

    for _ in range(300):  # the escalation is written by activities once the timer fires
        if "review.task_overdue" in await inbox_kinds(client, bureau):
            break
        await asyncio.sleep(0.05)
    assert "review.task_overdue" in await inbox_kinds(client, bureau)
    assert "review.task_reminder" in await inbox_kinds(client, experts[0][0])
    task = (await client.get(url, headers=bureau.headers)).json()["tasks"][0]
    assert task["overdue"] and task["reminded_at"]
    listed = (await client.get("/api/v1/review-tasks", headers=experts[0][0].headers)).json()
    assert listed[0]["overdue"] is True

    r = await client.post(f"{url}/tasks/{late['task_id']}/replacement", json={"expert_id": experts[3][1]},
                          headers=bureau.headers)
    assert r.status_code == 200, r.text
    tasks = r.json()["tasks"]
    assert [t["status"] for t in tasks] == ["replaced", "decided", "decided", "open"]
    assert tasks[0]["replaced_by_task_id"] == tasks[3]["task_id"]
    r = await client.post(f"/api/v1/review-tasks/{late['task_id']}/decision", headers=experts[0][0].headers,
                          json={"vote": "approve", "comments": "sorry, late"})
    assert r.status_code == 409
    r = await client.post(f"/api/v1/review-tasks/{tasks[3]['task_id']}/decision",
                          headers=experts[3][0].headers, json={"vote": "approve", "comments": "fine"})
    assert r.status_code == 200, r.text
    assert (await handle.result()).outcome == "revise"
