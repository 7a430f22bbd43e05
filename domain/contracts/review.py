"""The shared expert-panel review (SPEC §2.1): a child workflow of every case."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.policy import PolicyParameters

REVIEW_WORKFLOW = "PanelReview"
REVIEW_CASE_TYPE = "review"


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
    deployment_id: str  # the parent case's (a review is a case on the kit too)
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


# --- The review workflow's interface (updates with validators; update id = f"{name}-{task_id}" etc.) ---
UPDATE_FORM_PANEL = "form_panel"  # update id: f"panel-{review_id}-{sorted expert ids}"
UPDATE_DECIDE = "decide"  # update id: f"review-{task_id}"
UPDATE_RECUSE = "recuse"  # update id: f"recuse-{task_id}"
UPDATE_REPLACE_EXPERT = "replace_expert"  # update id: f"replace-{task_id}-{new_expert_id}"


def task_id_for(review_id: str, seq: int) -> str:
    return f"{review_id}-task-{seq}"


class FormPanel(BaseModel):
    actor_user_id: int
    expert_ids: list[int]  # roster ids; exactly policy.panel_size, none with a conflict of interest


class SubmitDecision(BaseModel):
    task_id: str
    actor_user_id: int
    vote: Vote
    comments: str = Field(min_length=1, max_length=20000)
    scores: dict[str, int] = Field(default_factory=dict)  # criterion code -> 0..max_score


class Recusal(BaseModel):
    task_id: str
    actor_user_id: int
    reason: str = Field(min_length=1, max_length=4000)


class ReplaceExpert(BaseModel):
    task_id: str
    actor_user_id: int
    new_expert_id: int
