"""The shared expert-panel review (SPEC §2.1): a child workflow of every case."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.policy import PolicyParameters

REVIEW_WORKFLOW = "PanelReview"


def review_workflow_id(case_id: str, round_no: int) -> str:
    return f"{case_id}-review-{round_no}"


class Vote(StrEnum):
    APPROVE = "approve"
    REVISE = "revise"
    REJECT = "reject"


class ReviewCriterion(BaseModel):
    """An item each expert scores 0..max_score (scenario evaluation); methodologies have none."""

    code: str
    name: str
    max_score: int = Field(ge=0)


class ReviewRequest(BaseModel):
    case_id: str
    case_type: str
    round_no: int = Field(ge=1)
    authority_role: str  # bureau_admin (methodologies, reductions) or operator_admin (scenarios)
    subject: str  # shown to experts: e.g. the methodology title
    applicant_organisation_id: int | None = None
    verifier_organisation_id: int | None = None
    policy: PolicyParameters
    criteria: list[ReviewCriterion] = Field(default_factory=list)


class ExpertDecision(BaseModel):
    task_id: str
    expert_id: int  # roster id
    vote: Vote
    comments: str
    scores: dict[str, int] = Field(default_factory=dict)
    decided_at: datetime


class ReviewOutcome(BaseModel):
    review_id: str  # the child's workflow id
    outcome: Vote
    decisions: list[ExpertDecision]
    # Panel score for scored reviews: mean of experts' totals, in hundredths (exact integer).
    mean_score_hundredths: int | None = None
