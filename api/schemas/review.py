from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from domain.contracts.review import Vote

Expertise = list[str]


class ExpertCreate(BaseModel):
    user_id: int = Field(description="a user with the expert role")
    name: str = Field(min_length=1, max_length=200)
    affiliation_organisation_id: int | None = Field(
        default=None, description="defaults to the user's organisation; used for conflict-of-interest checks")
    expertise: list[str] = Field(default_factory=list, max_length=20)
    declared_conflict_organisation_ids: list[int] = Field(default_factory=list, max_length=200)


class ExpertUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    affiliation_organisation_id: int | None = None
    expertise: list[str] | None = Field(default=None, max_length=20)
    declared_conflict_organisation_ids: list[int] | None = Field(default=None, max_length=200)
    active: bool | None = None


class ExpertPublic(BaseModel):
    """The public roster entry (SPEC §2.7): no conflicts, no user account."""

    id: int
    name: str
    affiliation_organisation_id: int | None
    affiliation: str | None
    expertise: list[str]
    active: bool


class ExpertOut(ExpertPublic):
    user_id: int
    declared_conflict_organisation_ids: list[int]


class PanelIn(BaseModel):
    expert_ids: list[int] = Field(min_length=1, max_length=15)


class ReplacementIn(BaseModel):
    expert_id: int


class ReviewDecisionIn(BaseModel):
    vote: Vote
    comments: str = Field(min_length=1, max_length=20000)
    scores: dict[str, int] = Field(default_factory=dict, description="criterion code -> 0..max_score")


class RecusalIn(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


class DecisionOut(BaseModel):
    vote: Vote
    comments: str
    scores: dict[str, int]
    decided_at: datetime


class TaskOut(BaseModel):
    task_id: str
    expert_id: int
    status: str
    assigned_at: datetime
    due: datetime
    due_provisional: bool
    remind_at: datetime | None
    reminded_at: datetime | None
    overdue: bool
    overdue_at: datetime | None
    decision: DecisionOut | None
    recusal_reason: str | None
    replaced_by_task_id: str | None


class PanelMemberOut(BaseModel):
    expert_id: int
    name: str


class ReviewOut(BaseModel):
    """The authority's view: the panel and every task."""

    review_id: str
    case_id: str
    case_type: str
    round_no: int
    subject: str
    authority_role: str
    stage: str
    outcome: Vote | None
    mean_score_hundredths: int | None
    panel: list[PanelMemberOut]
    tasks: list[TaskOut]


class ReviewForApplicant(BaseModel):
    """The applicant's view: the outcome and the panel's votes and comments once the review ends,
    never who the experts are."""

    review_id: str
    case_id: str
    stage: str
    outcome: Vote | None
    mean_score_hundredths: int | None
    decisions: list[DecisionOut]


class ExpertTaskOut(BaseModel):
    task_id: str
    review_id: str
    case_id: str
    case_type: str
    subject: str
    criteria: list[dict]
    due: datetime
    overdue: bool
    status: str
    decision: DecisionOut | None


class DecisionReceipt(DecisionOut):
    task_id: str
    review_id: str


class RecusalReceipt(BaseModel):
    task_id: str
    review_id: str
    status: str
    reason: str
