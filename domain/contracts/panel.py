"""The review workflow's own activities, its state as mirrored, and its deterministic update ids.

Complements `domain/contracts/review.py` (the interface other processes use).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.contracts.review import Vote

CHECK_PANEL = "review_check_panel"


class TaskStatus(StrEnum):
    OPEN = "open"
    DECIDED = "decided"
    RECUSED = "recused"
    REPLACED = "replaced"
    CANCELLED = "cancelled"  # the parent case ended (e.g. withdrawn) before the expert decided


class ReviewStage(StrEnum):
    AWAITING_PANEL = "awaiting_panel"
    IN_REVIEW = "in_review"
    AWAITING_REPLACEMENT = "awaiting_replacement"  # a recused expert must be replaced
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # the parent case cancelled the review


class PanelCheck(BaseModel):
    """Experts proposed for a panel; the activity refuses unknown, inactive or conflicted ones."""

    review_id: str
    expert_ids: list[int]
    applicant_organisation_id: int | None = None
    verifier_organisation_id: int | None = None


class PanelMember(BaseModel):
    expert_id: int
    user_id: int


class ReviewTask(BaseModel):
    """One assignment: the workflow's state of it, mirrored as is into review_tasks."""

    task_id: str
    seq: int
    expert_id: int
    expert_user_id: int
    status: TaskStatus = TaskStatus.OPEN
    assigned_at: datetime
    due: datetime
    due_provisional: bool = False
    remind_at: datetime | None = None  # None: no reminder (policy 0, or no working day before due)
    reminded_at: datetime | None = None
    overdue_at: datetime | None = None
    vote: Vote | None = None
    comments: str | None = None
    scores: dict[str, int] = Field(default_factory=dict)
    decided_at: datetime | None = None
    recusal_reason: str | None = None
    closed_at: datetime | None = None
    replaced_by_task_id: str | None = None


class ReviewMirror(BaseModel):
    """The whole review as the workflow knows it; `revision` grows with each change so a late
    retry of an older snapshot never overwrites a newer one."""

    review_id: str
    revision: int
    occurred_at: datetime
    case_id: str
    case_type: str
    authority_role: str
    round_no: int
    subject: str
    applicant_organisation_id: int | None = None
    verifier_organisation_id: int | None = None
    stage: ReviewStage
    outcome: Vote | None = None
    mean_score_hundredths: int | None = None
    criteria: list[dict] = Field(default_factory=list)
    tasks: list[ReviewTask] = Field(default_factory=list)


def form_panel_update_id(review_id: str, expert_ids: list[int]) -> str:
    return f"panel-{review_id}-{'-'.join(str(i) for i in sorted(expert_ids))}"


def decide_update_id(task_id: str) -> str:
    return f"review-{task_id}"


def recuse_update_id(task_id: str) -> str:
    return f"recuse-{task_id}"


def replace_update_id(task_id: str, new_expert_id: int) -> str:
    return f"replace-{task_id}-{new_expert_id}"
