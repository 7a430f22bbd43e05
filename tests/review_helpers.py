"""Shared by the review tests: roster experts, a parent case row, review requests, polling."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.worker import Worker

from activities import audit as audit_activities
from activities import review as review_activities
from activities.cases import CaseActivities
from activities.registry import collect
from domain.clock import SHANGHAI
from domain.contracts.calendar import COMPUTE_DEADLINE, Deadline, DeadlineRequest
from domain.contracts.cases import RECORD_CASE_STEP, CaseMirror, CaseStep
from domain.contracts.notifications import Notification
from domain.contracts.review import ReviewCriterion, ReviewRequest
from domain.policy import PolicyParameters
from domain.roles import Role
from store import cases, review
from store.models.identity import Organisation, User
from tests import support
from tests.review_parent import TinyParent
from workflows.review import PanelReview



def add_expert(session_factory: sessionmaker[Session], make_actor, *, org: Organisation | None = None,
               conflicts: list[int] | None = None, active: bool = True):
    """An expert user with a roster row; returns (actor, roster id)."""
    actor = make_actor(Role.EXPERT, org=org)
    with session_factory() as s, s.begin():
        admin = s.get(User, actor.id)
        expert = review.create_expert(s, actor=admin, user_id=actor.id, name=actor.user.name,
                                      affiliation_organisation_id=actor.user.organisation_id,
                                      expertise=["low-carbon travel"],
                                      declared_conflict_organisation_ids=conflicts or [], active=active)
        return actor, expert.id


def parent_case(session_factory: sessionmaker[Session], owner_org_id: int | None, case_type: str = "methodology") -> str:
    """The parent case row a review grants access on (processes mirror themselves before reviewing)."""
    case_id = f"{case_type}-{uuid.uuid4().hex[:8]}"
    with session_factory() as s, s.begin():
        cases.mirror(s, CaseMirror(case_id=case_id, case_type=case_type, stage="expert_review",
                                   occurred_at=datetime.now(timezone.utc), owner_organisation_id=owner_org_id))
    return case_id


def deployment(session_factory: sessionmaker[Session]) -> str:
    """The test database's deployment id (a case started by hand must carry it for the real worker)."""
    with session_factory() as s:
        return cases.deployment_id(s)


def request(case_id: str, *, applicant_org: int | None, verifier_org: int | None = None,
            authority: Role = Role.BUREAU_ADMIN, criteria: list[ReviewCriterion] | None = None,
            panel_size: int = 3, round_no: int = 1, deployment_id: str = "test") -> ReviewRequest:
    return ReviewRequest(case_id=case_id, deployment_id=deployment_id, case_type=case_id.split("-")[0],
                         round_no=round_no,
                         authority_role=authority.value, subject=f"Subject of {case_id}",
                         applicant_organisation_id=applicant_org, verifier_organisation_id=verifier_org,
                         policy=PolicyParameters(panel_size=panel_size), criteria=criteria or [])


async def eventually(check: Callable[[], object], timeout: float = 15.0):
    """Poll until `check()` is truthy (activities run after the workflow wakes); returns its value."""
    return await support.eventually(check, timeout=timeout)




@activity.defn(name=COMPUTE_DEADLINE)
def weekends_only_deadline(req: DeadlineRequest) -> Deadline:
    """Stand-in calendar: the end of the N-th Monday-to-Friday day after the start day."""
    day = req.start.astimezone(SHANGHAI).date()
    left = req.working_days
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=SHANGHAI)
    return Deadline(end=end, provisional=False)


class Outbox:
    """The real record_case_step, remembering the notifications of every step it writes (with their
    recipients as addressed); `task_queue` is the stand-in worker's queue."""

    def __init__(self, session_factory) -> None:
        self.sent: dict[str, Notification] = {}
        self.task_queue = ""
        self._steps = CaseActivities(session_factory, review_activities.FACTS_WRITERS)

    @activity.defn(name=RECORD_CASE_STEP)
    def record_case_step(self, step: CaseStep) -> bool:
        for n in step.notifications:
            self.sent[n.dedupe_key] = n
        return self._steps.record_case_step(step)

    def kinds(self, kind: str) -> list[Notification]:
        return [n for n in self.sent.values() if n.kind == kind]


def standin_worker(client, box: Outbox, session_factory, settings, activity_executor,
                   deadline: Callable[..., Deadline] = weekends_only_deadline) -> Worker:
    """A worker with the real review, step and audit activities (the step's notifications remembered)
    and a calendar stand-in."""
    objects = [o for area in (review_activities, audit_activities) for o in area.activities(session_factory, settings)]
    box.task_queue = f"review-{uuid.uuid4().hex[:8]}"
    return Worker(client, task_queue=box.task_queue, workflows=[PanelReview, TinyParent],
                  activities=[*collect(objects), deadline, box.record_case_step],
                  activity_executor=activity_executor, workflow_failure_exception_types=[Exception])


@pytest.fixture
async def outbox(temporal_env, session_factory, settings, activity_executor):
    """The stand-in worker on the time-skipping server; yields the recorded notifications."""
    box = Outbox(session_factory)
    async with standin_worker(temporal_env.client, box, session_factory, settings, activity_executor):
        yield box
