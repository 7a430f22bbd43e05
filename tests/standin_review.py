"""A stand-in for the expert panel review child ("PanelReview") until the real one is merged: the test
sets the outcome with an update. Kept apart from test modules so the sandbox imports only pure code."""

from __future__ import annotations

from temporalio import workflow

from domain.contracts.review import REVIEW_WORKFLOW, ReviewOutcome, ReviewRequest, Vote


@workflow.defn(name=REVIEW_WORKFLOW)
class StandInPanelReview:
    def __init__(self) -> None:
        self.outcome: Vote | None = None

    @workflow.run
    async def run(self, req: ReviewRequest) -> ReviewOutcome:
        await workflow.wait_condition(lambda: self.outcome is not None)
        assert self.outcome is not None
        return ReviewOutcome(review_id=workflow.info().workflow_id, outcome=self.outcome, decisions=[])

    @workflow.update
    async def conclude(self, vote: Vote) -> None:
        self.outcome = vote
