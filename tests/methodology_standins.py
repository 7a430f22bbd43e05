"""Test-only stand-ins for workflow-logic tests of the methodology process (a policy the test sets,
search attributes on the dev server): a "PanelReview" child whose outcome the test dictates, and the
policy and notification activities under their real names."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from domain.contracts.notifications import NOTIFY, Notification
    from domain.contracts.policy import SNAPSHOT_POLICY, PolicySnapshotRequest
    from domain.contracts.review import REVIEW_WORKFLOW, ExpertDecision, ReviewOutcome, ReviewRequest, Vote
    from domain.policy import PolicyParameters

CONCLUDE = "stand_in_conclude"


class Verdict(BaseModel):
    vote: Vote
    comments: list[str]


@workflow.defn(name=REVIEW_WORKFLOW)
class StandInPanelReview:
    def __init__(self) -> None:
        self.verdict: Verdict | None = None

    @workflow.update(name=CONCLUDE)
    def conclude(self, verdict: Verdict) -> None:
        self.verdict = verdict

    @workflow.run
    async def run(self, request: ReviewRequest) -> ReviewOutcome:
        await workflow.wait_condition(lambda: self.verdict is not None)
        review_id = workflow.info().workflow_id
        return ReviewOutcome(review_id=review_id, outcome=self.verdict.vote, decisions=[
            ExpertDecision(task_id=f"{review_id}-task-{i}", expert_id=i, vote=self.verdict.vote, comments=c,
                           decided_at=workflow.now()) for i, c in enumerate(self.verdict.comments, 1)])


class StandInActivities:
    def __init__(self, policy: PolicyParameters) -> None:
        self.policy = policy

    @activity.defn(name=SNAPSHOT_POLICY)
    def snapshot_policy(self, request: PolicySnapshotRequest) -> PolicyParameters:
        return self.policy

    @activity.defn(name=NOTIFY)
    def notify(self, n: Notification) -> None:
        """Notifications are checked on the real worker; workflow-logic tests only need the name served."""
