"""A tiny parent process for tests: runs one PanelReview as its child and returns its outcome."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.contracts.review import REVIEW_WORKFLOW, ReviewOutcome, ReviewRequest, review_workflow_id


@workflow.defn(name="TinyParentWithReview")
class TinyParent:
    @workflow.run
    async def run(self, req: ReviewRequest) -> ReviewOutcome:
        return await workflow.execute_child_workflow(
            REVIEW_WORKFLOW, req, id=review_workflow_id(req.case_id, req.round_no), result_type=ReviewOutcome)
