"""Test-only stand-in for the PanelReview child (built by the expert-review work), following
domain/contracts/review.py; used only by the scenario workflow-logic tests."""

from __future__ import annotations

from collections import Counter

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from domain.contracts.review import (
    REVIEW_WORKFLOW,
    UPDATE_DECIDE,
    UPDATE_FORM_PANEL,
    ExpertDecision,
    FormPanel,
    ReviewOutcome,
    ReviewRequest,
    SubmitDecision,
    Vote,
    review_workflow_id,
    task_id_for,
)

@workflow.defn(name=REVIEW_WORKFLOW)
class StandInPanelReview:
    """Panel of policy.panel_size experts; majority vote (tie → revise); mean of totals in hundredths."""

    @workflow.init
    def __init__(self, req: ReviewRequest) -> None:
        self.req = req
        self.panel: list[int] = []
        self.decisions: dict[str, ExpertDecision] = {}

    @workflow.run
    async def run(self, req: ReviewRequest) -> ReviewOutcome:
        await workflow.wait_condition(lambda: bool(self.panel) and len(self.decisions) == len(self.panel))
        votes = Counter(d.vote for d in self.decisions.values())
        top = votes.most_common()
        outcome = Vote.REVISE if len(top) > 1 and top[0][1] == top[1][1] else top[0][0]
        totals = [sum(d.scores.values()) for d in self.decisions.values()]
        return ReviewOutcome(review_id=review_workflow_id(req.case_id, req.round_no), outcome=outcome,
                             decisions=list(self.decisions.values()),
                             mean_score_hundredths=sum(totals) * 100 // len(totals) if req.criteria else None)

    @workflow.update(name=UPDATE_FORM_PANEL)
    def form_panel(self, p: FormPanel) -> None:
        self.panel = list(p.expert_ids)

    @form_panel.validator
    def _check_panel(self, p: FormPanel) -> None:
        if self.panel or len(p.expert_ids) != self.req.policy.panel_size:
            raise ApplicationError("panel already formed or of the wrong size")

    @workflow.update(name=UPDATE_DECIDE)
    def decide(self, d: SubmitDecision) -> None:
        seq = int(d.task_id.rsplit("-", 1)[1])
        self.decisions[d.task_id] = ExpertDecision(task_id=d.task_id, expert_id=self.panel[seq - 1], vote=d.vote,
                                                   comments=d.comments, scores=d.scores, decided_at=workflow.now())

    @decide.validator
    def _check_decision(self, d: SubmitDecision) -> None:
        review_id = review_workflow_id(self.req.case_id, self.req.round_no)
        if d.task_id not in {task_id_for(review_id, i + 1) for i in range(len(self.panel))}:
            raise ApplicationError("no such task")
        if {c.code for c in self.req.criteria} != set(d.scores):
            raise ApplicationError("every criterion needs a score")
