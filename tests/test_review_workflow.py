"""PanelReview workflow logic under time skipping: real review, case and audit activities on real
PostgreSQL; stand-ins for the calendar (weekends only) and notifications (recorded)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from domain.contracts.calendar import COMPUTE_DEADLINE, Deadline, DeadlineRequest
from domain.contracts.cases import CaseView
from domain.review import (
    decide_update_id,
    form_panel_update_id,
    recuse_update_id,
    replace_update_id,
)
from domain.contracts.review import (
    REVIEW_WORKFLOW,
    UPDATE_DECIDE,
    UPDATE_FORM_PANEL,
    UPDATE_RECUSE,
    UPDATE_REPLACE_EXPERT,
    ExpertDecision,
    FormPanel,
    Recusal,
    ReplaceExpert,
    ReviewCriterion,
    ReviewOutcome,
    ReviewRequest,
    SubmitDecision,
    Vote,
    review_workflow_id,
)
from domain.roles import Role
from domain.rules import Kind
from store.models.audit import AuditEvent
from store.models.cases import Case, CaseParticipant
from store.models.review import Review, ReviewTaskRow
from tests.review_parent import TinyParent
from workflows import search_attributes
from workflows.review import PanelReview
from tests.review_helpers import (  # noqa: F401 (fixture)
    Outbox,
    add_expert,
    eventually,
    outbox,
    parent_case,
    request,
    standin_worker,
    weekends_only_deadline,
)

@pytest.fixture
def applicant_org(make_org):
    return make_org()


@pytest.fixture
def panel(session_factory, make_actor):
    """Four eligible experts (one spare for replacements)."""
    return [add_expert(session_factory, make_actor) for _ in range(4)]


async def start(env, outbox, req: ReviewRequest) -> WorkflowHandle:
    return await env.client.start_workflow(REVIEW_WORKFLOW, req, id=review_workflow_id(req.case_id, req.round_no),
                                           task_queue=outbox.task_queue, result_type=ReviewOutcome)


async def form(handle: WorkflowHandle, expert_ids: list[int], actor_id: int = 1) -> list[str]:
    return await handle.execute_update(UPDATE_FORM_PANEL, FormPanel(actor_user_id=actor_id, expert_ids=expert_ids),
                                       id=form_panel_update_id(handle.id, expert_ids), result_type=list[str])


async def decide(handle: WorkflowHandle, task_id: str, user_id: int, vote: Vote, comments: str = "ok",
                 scores: dict[str, int] | None = None) -> ExpertDecision:
    return await handle.execute_update(
        UPDATE_DECIDE, SubmitDecision(task_id=task_id, actor_user_id=user_id, vote=vote, comments=comments,
                                      scores=scores or {}), id=decide_update_id(task_id), result_type=ExpertDecision)


async def refusal(call) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await call
    assert isinstance(info.value.cause, ApplicationError)
    return info.value.cause


async def review_of(session_factory, session_fn):
    with session_factory() as s:
        return session_fn(s)


async def test_three_approvals_approve_and_everything_is_mirrored(temporal_env, outbox, session_factory,
                                                                  applicant_org, panel):
    case_id = parent_case(session_factory, applicant_org.id)
    handle = await start(temporal_env, outbox, request(case_id, applicant_org=applicant_org.id))
    state = await handle.query("case_state", result_type=CaseView)
    assert state.stage == "awaiting_panel" and state.open_tasks[0].kind == "panel_formation"

    task_ids = await form(handle, [e for _, e in panel[:3]])
    assert task_ids == [f"{handle.id}-task-{i}" for i in (1, 2, 3)]
    state = await handle.query("case_state", result_type=CaseView)
    assert state.stage == "in_review" and [t.task_id for t in state.open_tasks] == task_ids
    assert state.deadline == state.open_tasks[0].due and not state.open_tasks[0].overdue
    assigned = outbox.kinds("review.task_assigned")
    assert sorted(n.recipient_user_ids[0] for n in assigned) == sorted(a.id for a, _ in panel[:3])
    with session_factory() as s:
        grants = s.scalars(select(CaseParticipant).where(CaseParticipant.case_id == case_id)).all()
        assert sorted(g.user_id for g in grants) == sorted(a.id for a, _ in panel[:3])
        assert {g.capacity for g in grants} == {"expert"}
        rows = s.scalars(select(ReviewTaskRow).order_by(ReviewTaskRow.seq)).all()
        assert [r.status for r in rows] == ["open"] * 3 and all(r.remind_at < r.due for r in rows)

    for (actor, _), task_id in zip(panel[:3], task_ids):
        await decide(handle, task_id, actor.id, Vote.APPROVE, comments=f"sound, says {actor.id}")
    outcome = await handle.result()
    assert outcome.outcome == Vote.APPROVE and outcome.review_id == handle.id
    assert [d.task_id for d in outcome.decisions] == task_ids
    assert outcome.decisions[0].comments == f"sound, says {panel[0][0].id}"
    assert outcome.mean_score_hundredths is None
    with session_factory() as s:
        review = s.get(Review, handle.id)
        assert (review.stage, review.outcome, review.case_id) == ("completed", "approve", case_id)
        assert s.get(Case, handle.id).stage == "completed" and s.get(Case, handle.id).case_type == "review"
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.case_id == handle.id)
                            .order_by(AuditEvent.id)).all()
    assert actions == ["review.started", "review.panel_formed", *["review.decision_submitted"] * 3,
                       "review.completed"]
    # The recorded history replays deterministically against the current workflow code.
    await Replayer(workflows=[PanelReview], data_converter=pydantic_data_converter).replay_workflow(
        await handle.fetch_history())


async def test_split_two_to_one_and_a_three_way_tie(temporal_env, outbox, session_factory, applicant_org, panel):
    for votes, expected in (([Vote.APPROVE, Vote.REJECT, Vote.APPROVE], Vote.APPROVE),
                            ([Vote.APPROVE, Vote.REJECT, Vote.REVISE], Vote.REVISE)):
        case_id = parent_case(session_factory, applicant_org.id)
        handle = await start(temporal_env, outbox, request(case_id, applicant_org=applicant_org.id))
        task_ids = await form(handle, [e for _, e in panel[:3]])
        for (actor, _), task_id, vote in zip(panel[:3], task_ids, votes):
            await decide(handle, task_id, actor.id, vote)
        outcome = await handle.result()
        assert outcome.outcome == expected
        assert [d.vote for d in outcome.decisions] == votes


async def test_panel_formation_refuses_conflicts_and_wrong_size(temporal_env, outbox, session_factory, make_actor,
                                                                make_org, applicant_org, panel):
    verifier_org = make_org()
    same_as_applicant = add_expert(session_factory, make_actor, org=applicant_org)[1]
    same_as_verifier = add_expert(session_factory, make_actor, org=verifier_org)[1]
    declared = add_expert(session_factory, make_actor, conflicts=[applicant_org.id])[1]
    inactive = add_expert(session_factory, make_actor, active=False)[1]
    case_id = parent_case(session_factory, applicant_org.id)
    handle = await start(temporal_env, outbox, request(case_id, applicant_org=applicant_org.id,
                                                       verifier_org=verifier_org.id))
    ok = [e for _, e in panel[:2]]
    for bad, rule in ((same_as_applicant, "same_organisation_as_applicant"),
                      (same_as_verifier, "same_organisation_as_verifier"),
                      (declared, "declared_conflict"), (inactive, "inactive")):
        err = await refusal(form(handle, [*ok, bad]))
        assert err.type == Kind.INVALID
        assert err.details[0] == {"field": "expert_ids", "rule": rule} and f"expert {bad} " in err.message
    err = await refusal(form(handle, [*ok, 999999]))
    assert (err.type, err.details[0]["rule"]) == (Kind.INVALID, "exists")
    err = await refusal(form(handle, ok))
    assert (err.type, err.details[0]["rule"]) == (Kind.INVALID, "panel_size")
    err = await refusal(form(handle, [ok[0], ok[0], ok[1]]))
    assert (err.type, err.details[0]["rule"]) == (Kind.INVALID, "unique")
    # Nothing was assigned by the refusals; a clean panel is then accepted, and a second one refused.
    assert not outbox.kinds("review.task_assigned")
    await form(handle, [e for _, e in panel[:3]])
    err = await refusal(form(handle, [e for _, e in panel[1:4]]))
    assert err.type == Kind.CONFLICT
    with session_factory() as s:
        assert s.query(ReviewTaskRow).count() == 3
    await handle.terminate()


async def test_decisions_are_idempotent_final_and_only_the_assignees(temporal_env, outbox, session_factory,
                                                                     applicant_org, panel):
    case_id = parent_case(session_factory, applicant_org.id)
    handle = await start(temporal_env, outbox, request(case_id, applicant_org=applicant_org.id))
    task_ids = await form(handle, [e for _, e in panel[:3]])
    (a1, _), (a2, _) = panel[0], panel[1]
    err = await refusal(decide(handle, task_ids[0], a2.id, Vote.APPROVE))
    assert err.type == Kind.NOT_FOUND
    err = await refusal(decide(handle, f"{handle.id}-task-9", a1.id, Vote.APPROVE))
    assert err.type == Kind.NOT_FOUND
    err = await refusal(decide(handle, task_ids[0], a1.id, Vote.APPROVE, scores={"x": 1}))
    assert (err.type, err.details[0]["field"]) == (Kind.INVALID, "scores")

    first = await decide(handle, task_ids[0], a1.id, Vote.REVISE, comments="fix section 3")
    # The same decision again (a fresh update id, as after a lost reply) returns the stored one.
    again = await handle.execute_update(UPDATE_DECIDE, SubmitDecision(
        task_id=task_ids[0], actor_user_id=a1.id, vote=Vote.REVISE, comments="fix section 3"),
        id="retry-" + task_ids[0], result_type=ExpertDecision)
    assert again == first
    err = await refusal(handle.execute_update(UPDATE_DECIDE, SubmitDecision(
        task_id=task_ids[0], actor_user_id=a1.id, vote=Vote.APPROVE, comments="changed my mind"),
        id="other-" + task_ids[0], result_type=ExpertDecision))
    assert err.type == Kind.CONFLICT
    with session_factory() as s:
        decided = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.decision_submitted")).all()
        assert len(decided) == 1 and decided[0].actor_user_id == a1.id and decided[0].actor_role == "expert"
        row = s.get(ReviewTaskRow, task_ids[0])
        assert (row.status, row.vote, row.comments) == ("decided", "revise", "fix section 3")
    await handle.terminate()


async def test_recusal_then_replacement_then_decision(temporal_env, outbox, session_factory, applicant_org, panel):
    case_id = parent_case(session_factory, applicant_org.id)
    handle = await start(temporal_env, outbox, request(case_id, applicant_org=applicant_org.id))
    task_ids = await form(handle, [e for _, e in panel[:3]])
    (a1, e1), (a4, e4) = panel[0], panel[3]
    # Replacing an open, not overdue task is refused.
    err = await refusal(handle.execute_update(UPDATE_REPLACE_EXPERT, ReplaceExpert(
        task_id=task_ids[0], actor_user_id=1, new_expert_id=e4), id=replace_update_id(task_ids[0], e4)))
    assert err.type == Kind.CONFLICT

    await handle.execute_update(UPDATE_RECUSE, Recusal(task_id=task_ids[0], actor_user_id=a1.id,
                                                       reason="I advised the applicant in 2024"),
                                id=recuse_update_id(task_ids[0]))
    state = await handle.query("case_state", result_type=CaseView)
    assert state.stage == "awaiting_replacement"
    assert [(t.task_id, t.kind, t.assignee) for t in state.open_tasks][0] == (task_ids[0], "replacement",
                                                                              "bureau_admin")
    assert outbox.kinds("review.replacement_needed")[0].recipient_roles == ["bureau_admin"]
    err = await refusal(decide(handle, task_ids[0], a1.id, Vote.APPROVE))
    assert err.type == Kind.CONFLICT
    # The recused expert, or one already on the panel, cannot be the replacement.
    for again in (e1, panel[1][1]):
        err = await refusal(handle.execute_update(UPDATE_REPLACE_EXPERT, ReplaceExpert(
            task_id=task_ids[0], actor_user_id=1, new_expert_id=again), id=replace_update_id(task_ids[0], again)))
        assert (err.type, err.details[0]["rule"]) == (Kind.INVALID, "not_on_panel")

    new_task = await handle.execute_update(UPDATE_REPLACE_EXPERT, ReplaceExpert(
        task_id=task_ids[0], actor_user_id=1, new_expert_id=e4), id=replace_update_id(task_ids[0], e4),
        result_type=str)
    assert new_task == f"{handle.id}-task-4"
    assert (await handle.query("case_state", result_type=CaseView)).stage == "in_review"
    with session_factory() as s:
        old = s.get(ReviewTaskRow, task_ids[0])
        assert (old.status, old.recusal_reason, old.replaced_by_task_id) == ("recused", "I advised the applicant in 2024",
                                                                             new_task)
        grants = {g.user_id: g.revoked_at for g in s.scalars(select(CaseParticipant))}
        assert grants[a1.id] is not None and grants[a4.id] is None
    for actor, task_id in ((a4, new_task), (panel[1][0], task_ids[1]), (panel[2][0], task_ids[2])):
        await decide(handle, task_id, actor.id, Vote.REJECT)
    outcome = await handle.result()
    assert outcome.outcome == Vote.REJECT and {d.expert_id for d in outcome.decisions} == {e for _, e in panel[1:4]}


async def test_reminder_then_overdue_escalation_then_replacement(temporal_env, outbox, session_factory,
                                                                 applicant_org, panel):
    case_id = parent_case(session_factory, applicant_org.id)
    handle = await start(temporal_env, outbox, request(case_id, applicant_org=applicant_org.id))
    task_ids = await form(handle, [e for _, e in panel[:3]])
    (a1, _), (a2, _), (a3, _), (a4, e4) = panel
    await decide(handle, task_ids[1], a2.id, Vote.APPROVE)
    await decide(handle, task_ids[2], a3.id, Vote.APPROVE)
    with session_factory() as s:
        row = s.get(ReviewTaskRow, task_ids[0])
        remind_at, due = row.remind_at, row.due
    # The reminder comes 2 working days before the deadline (end of working day 8 of 10).
    assert weekends_only_deadline(DeadlineRequest(start=row.assigned_at, working_days=8)).end == remind_at

    await temporal_env.sleep(remind_at - await temporal_env.get_current_time() + timedelta(minutes=1))
    reminder = await eventually(lambda: outbox.kinds("review.task_reminder"))
    assert reminder[0].recipient_user_ids == [a1.id] and not outbox.kinds("review.task_overdue")

    await temporal_env.sleep(due - await temporal_env.get_current_time() + timedelta(minutes=1))
    escalation = await eventually(lambda: outbox.kinds("review.task_overdue"))
    assert escalation[0].recipient_roles == ["bureau_admin"]
    state = await handle.query("case_state", result_type=CaseView)
    assert [(t.task_id, t.overdue) for t in state.open_tasks] == [(task_ids[0], True)]
    with session_factory() as s:
        assert await eventually(lambda: s.get(ReviewTaskRow, task_ids[0], populate_existing=True).overdue_at)

    new_task = await handle.execute_update(UPDATE_REPLACE_EXPERT, ReplaceExpert(
        task_id=task_ids[0], actor_user_id=1, new_expert_id=e4), id=replace_update_id(task_ids[0], e4),
        result_type=str)
    err = await refusal(decide(handle, task_ids[0], a1.id, Vote.REJECT))  # too late: the task was taken away
    assert err.type == Kind.CONFLICT
    await decide(handle, new_task, a4.id, Vote.REJECT)
    outcome = await handle.result()
    assert outcome.outcome == Vote.APPROVE and len(outcome.decisions) == 3
    with session_factory() as s:
        assert s.get(ReviewTaskRow, task_ids[0]).status == "replaced"
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.case_id == handle.id)).all()
    assert {"review.task_reminded", "review.task_overdue", "review.expert_replaced"} <= set(actions)


async def test_scored_review_reports_the_exact_mean(temporal_env, outbox, session_factory, applicant_org, panel):
    criteria = [ReviewCriterion(code="energy", name="Energy saving", max_score=60),
                ReviewCriterion(code="data", name="Data quality", max_score=40)]
    case_id = parent_case(session_factory, applicant_org.id, case_type="scenario")
    handle = await start(temporal_env, outbox, request(case_id, applicant_org=applicant_org.id,
                                                       authority=Role.OPERATOR_ADMIN, criteria=criteria))
    task_ids = await form(handle, [e for _, e in panel[:3]])
    a1 = panel[0][0]
    for scores, rule in (({"energy": 61, "data": 1}, "range"), ({"energy": 1}, "required"),
                         ({"energy": 1, "data": 1, "looks": 3}, "unknown_criterion")):
        err = await refusal(decide(handle, task_ids[0], a1.id, Vote.APPROVE, scores=scores))
        assert (err.type, err.details[0]["rule"]) == (Kind.INVALID, rule)
    # Totals 85, 80, 81: mean 82 -> 8200 hundredths (rounding is covered in test_review_rules.py).
    for (actor, _), task_id, scores in zip(panel[:3], task_ids, ({"energy": 50, "data": 35},
                                                                 {"energy": 45, "data": 35},
                                                                 {"energy": 41, "data": 40})):
        await decide(handle, task_id, actor.id, Vote.APPROVE, scores=scores)
    outcome = await handle.result()
    assert outcome.mean_score_hundredths == 8200 and outcome.decisions[2].scores == {"energy": 41, "data": 40}


async def test_parent_workflow_receives_the_outcome_of_its_child_review(temporal_env, outbox, session_factory,
                                                                        applicant_org, panel):
    case_id = parent_case(session_factory, applicant_org.id)
    req = request(case_id, applicant_org=applicant_org.id, round_no=2)
    parent = await temporal_env.client.start_workflow(TinyParent.run, req, id=case_id, task_queue=outbox.task_queue)
    review = temporal_env.client.get_workflow_handle(review_workflow_id(case_id, 2), result_type=ReviewOutcome)
    with session_factory() as s:
        await eventually(lambda: s.get(Review, review.id, populate_existing=True))
    task_ids = await form(review, [e for _, e in panel[:3]])
    for (actor, _), task_id, vote in zip(panel[:3], task_ids, (Vote.REJECT, Vote.REJECT, Vote.REVISE)):
        await decide(review, task_id, actor.id, vote, comments=f"c{actor.id}")
    outcome = await parent.result()
    assert outcome.review_id == f"{case_id}-review-2" and outcome.outcome == Vote.REJECT
    assert [d.comments for d in outcome.decisions] == [f"c{a.id}" for a, _ in panel[:3]]


async def test_search_attributes_follow_the_stage_on_the_dev_server(local_temporal_env, session_factory, settings,
                                                                    activity_executor, applicant_org, panel):
    """Visibility (the admin view of workflows) needs the dev server: the test server cannot list."""
    box = Outbox(session_factory)
    async with standin_worker(local_temporal_env.client, box, session_factory, settings, activity_executor):
        case_id = parent_case(session_factory, applicant_org.id)
        handle = await start(local_temporal_env, box, request(case_id, applicant_org=applicant_org.id))
        task_ids = await form(handle, [e for _, e in panel[:3]])
        attributes = (await handle.describe()).typed_search_attributes
        assert attributes.get(search_attributes.CASE_STAGE) == "in_review"
        assert attributes.get(search_attributes.CASE_TYPE) == "review"
        assert attributes.get(search_attributes.CASE_NUMBER) == handle.id
        with session_factory() as s:
            assert attributes.get(search_attributes.CASE_DEADLINE) == s.get(ReviewTaskRow, task_ids[0]).due
        for (actor, _), task_id in zip(panel[:3], task_ids):
            await decide(handle, task_id, actor.id, Vote.APPROVE)
        await handle.result()
        attributes = (await handle.describe()).typed_search_attributes
        assert attributes.get(search_attributes.CASE_STAGE) == "completed"
        assert attributes.get(search_attributes.CASE_DEADLINE) is None


async def test_a_cancelled_review_closes_its_tasks_and_takes_back_access(temporal_env, outbox, session_factory,
                                                                          applicant_org, panel):
    """The parent case was withdrawn mid-review: nothing may stay open in the experts' inboxes."""
    from temporalio.client import WorkflowFailureError

    case_id = parent_case(session_factory, applicant_org.id)
    handle = await start(temporal_env, outbox, request(case_id, applicant_org=applicant_org.id))
    task_ids = await form(handle, [e for _, e in panel[:3]])
    await decide(handle, task_ids[0], panel[0][0].id, Vote.APPROVE)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    with session_factory() as s:
        assert s.get(Review, handle.id).stage == "cancelled"
        statuses = {r.task_id: r.status for r in s.scalars(select(ReviewTaskRow))}
        assert statuses == {task_ids[0]: "decided", task_ids[1]: "cancelled", task_ids[2]: "cancelled"}
        live = s.scalars(select(CaseParticipant.user_id).where(
            CaseParticipant.case_id == case_id, CaseParticipant.revoked_at.is_(None))).all()
        assert live == [panel[0][0].id]  # only the expert who decided keeps sight of the case
        assert s.get(Case, handle.id).stage == "cancelled"


class LateLoadedCalendar:
    """Stand-in calendar for a deadline reaching into a year nobody has loaded yet: weekends only and
    provisional until `loaded`; then that year turns out to start with two days off."""

    def __init__(self) -> None:
        self.loaded = False

    @activity.defn(name=COMPUTE_DEADLINE)
    def compute_deadline(self, req: DeadlineRequest) -> Deadline:
        end = weekends_only_deadline(req).end
        if not self.loaded:
            return Deadline(end=end, provisional=True)
        end += timedelta(days=2)
        return Deadline(end=max(end, req.not_before or end), provisional=False)


@dataclass
class ProvisionalReview:
    handle: WorkflowHandle
    task_id: str  # the one task still open, its deadline provisional
    due: datetime
    box: Outbox
    calendar: LateLoadedCalendar


@pytest.fixture
async def provisional_review(temporal_env, session_factory, settings, activity_executor, applicant_org, panel):
    """A review whose two experts decided and whose third task runs to a provisional deadline."""
    box, calendar = Outbox(session_factory), LateLoadedCalendar()
    async with standin_worker(temporal_env.client, box, session_factory, settings, activity_executor,
                              deadline=calendar.compute_deadline):
        case_id = parent_case(session_factory, applicant_org.id)
        handle = await start(temporal_env, box, request(case_id, applicant_org=applicant_org.id))
        task_ids = await form(handle, [e for _, e in panel[:3]])
        for (actor, _), task_id in zip(panel[1:3], task_ids[1:3], strict=True):
            await decide(handle, task_id, actor.id, Vote.APPROVE)
        with session_factory() as s:
            row = s.get(ReviewTaskRow, task_ids[0])
        assert row.due_provisional
        yield ProvisionalReview(handle, task_ids[0], row.due, box, calendar)
        # The late expert decides at last: the review completes.
        await decide(handle, task_ids[0], panel[0][0].id, Vote.APPROVE)
        assert (await handle.result()).outcome == Vote.APPROVE


async def test_a_provisional_task_deadline_is_asked_again_before_it_escalates(
        temporal_env, session_factory, provisional_review):
    r = provisional_review
    r.calendar.loaded = True  # the year is loaded before the provisional deadline comes
    await temporal_env.sleep(r.due - await temporal_env.get_current_time() + timedelta(minutes=1))
    with session_factory() as s:
        def moved() -> ReviewTaskRow | None:
            row = s.get(ReviewTaskRow, r.task_id, populate_existing=True)
            return row if row.due != r.due else None

        row = await eventually(moved)
    assert (row.due, row.due_provisional, row.overdue_at) == (r.due + timedelta(days=2), False, None)
    assert not r.box.kinds("review.task_overdue")
    # The recomputed deadline escalates as any other.
    await temporal_env.sleep(timedelta(days=2))
    await eventually(lambda: r.box.kinds("review.task_overdue"))
    with session_factory() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.case_id == r.handle.id)).all()
    assert "review.task_deadline_recomputed" in actions


async def test_a_provisional_task_deadline_still_without_a_calendar_escalates_when_reached(
        temporal_env, session_factory, provisional_review):
    r = provisional_review
    await temporal_env.sleep(r.due - await temporal_env.get_current_time() + timedelta(minutes=1))
    await eventually(lambda: r.box.kinds("review.task_overdue"))
    with session_factory() as s:
        row = s.get(ReviewTaskRow, r.task_id)
    assert (row.due, row.due_provisional) == (r.due, True) and row.overdue_at is not None


async def test_search_attributes_are_sent_only_when_they_change(temporal_env, outbox, session_factory,
                                                               applicant_org, panel):
    case_id = parent_case(session_factory, applicant_org.id)
    handle = await start(temporal_env, outbox, request(case_id, applicant_org=applicant_org.id))
    task_ids = await form(handle, [e for _, e in panel[:3]])
    for (actor, _), task_id in zip(panel[:3], task_ids, strict=True):
        await decide(handle, task_id, actor.id, Vote.APPROVE)
    await handle.result()
    upserts = [sorted(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
               async for e in handle.fetch_history_events()
               if e.HasField("upsert_workflow_search_attributes_event_attributes")]
    # Started; panel formed (stage and deadline); the last decision leaves no deadline; completed. The
    # first two decisions change neither stage nor deadline: no upsert. Type and number go once.
    assert upserts == [["CaseNumber", "CaseStage", "CaseType"], ["CaseDeadline", "CaseStage"],
                       ["CaseDeadline"], ["CaseStage"]]
