"""The scenario evaluation workflow (SPEC §2.3) and its activities: names and models."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.contracts.review import ReviewCriterion, Vote

SCENARIO_WORKFLOW = "ScenarioEvaluation"
CASE_TYPE = "scenario"


def scenario_case_id(seq: int) -> str:
    return f"scenario-{seq}"


# --- activities (implemented in activities/scenario.py) ---
CHECK_SCENARIO_APPLICATION = "check_scenario_application"
CLOSE_SCENARIO_CASE = "close_scenario_case"
PUBLISH_SCENARIO_LABEL = "publish_scenario_label"
EXPIRE_SCENARIO_LABEL = "expire_scenario_label"


class Stage(StrEnum):
    CHECKING = "checking"
    IN_REVIEW = "in_review"  # the panel review child runs (panel formation, expert scoring)
    RETURNED = "returned"  # revise: waiting for the applicant's resubmission
    AWAITING_DECISION = "awaiting_decision"
    PUBLISHED = "published"  # label valid; the workflow waits for the reminder and expiry
    # terminal
    REFUSED = "refused"  # the self-assessment failed a gate or the pass mark
    WITHDRAWN = "withdrawn"
    REJECTED = "rejected"
    EXPIRED = "expired"


TERMINAL = frozenset({Stage.REFUSED, Stage.WITHDRAWN, Stage.REJECTED, Stage.EXPIRED})


class ScenarioApplication(BaseModel):
    """The workflow's input: one evaluation application of one scenario."""

    case_id: str
    scenario_id: int
    self_assessment_id: int
    applicant_organisation_id: int
    actor_user_id: int


class ApplicationCheck(BaseModel):
    case_id: str
    scenario_id: int
    self_assessment_id: int
    round_no: int = Field(ge=1)
    occurred_at: datetime


class ApplicationChecked(BaseModel):
    subject: str  # the scenario's name, shown to experts
    spec_id: int
    spec_version: int
    pass_mark: int
    self_score: int
    criteria: list[ReviewCriterion]  # the spec's weighted items, scored by every expert


# ApplicationError type raised by check_scenario_application when the self-assessment fails.
SELF_ASSESSMENT_FAILS = "SelfAssessmentFails"


class Outcome(StrEnum):
    PUBLISHED = "published"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    REFUSED = "refused"


class CaseClosure(BaseModel):
    """The evaluation ended (the label, if any, lives on until it expires)."""

    case_id: str
    outcome: Outcome
    occurred_at: datetime
    reasons: str | None = None
    panel_outcome: Vote | None = None
    panel_mean_score_hundredths: int | None = None


class LabelRequest(BaseModel):
    case_id: str
    published_at: datetime  # workflow.now(): the label year is taken from it in Asia/Shanghai
    validity_years: int = Field(ge=1, le=10)
    include: bool
    actor_user_id: int


class LabelIssued(BaseModel):
    code: str  # WH-S-{year}-{seq:04d}
    valid_from: datetime
    valid_until: datetime


class LabelExpiry(BaseModel):
    case_id: str
    expired_at: datetime


# --- human actions: updates with validators ---
UPDATE_WITHDRAW = "withdraw"  # update id: f"withdraw-{case_id}"
UPDATE_RESUBMIT = "resubmit"  # update id: f"resubmit-{case_id}-{round_no}"
UPDATE_DECIDE = "decide"  # update id: f"decision-{case_id}"
SCENARIO_STATE_QUERY = "scenario_state"


class Withdrawal(BaseModel):
    actor_user_id: int
    actor_organisation_id: int
    reason: str = Field(min_length=1, max_length=4000)


class Resubmission(BaseModel):
    actor_user_id: int
    actor_organisation_id: int
    self_assessment_id: int
    round_no: int  # the round being answered; a stale resubmission is refused


class Decision(StrEnum):
    PUBLISH = "publish"
    REJECT = "reject"


class OperatorDecision(BaseModel):
    actor_user_id: int
    decision: Decision
    reasons: str = Field(default="", max_length=20000)
    validity_years: int | None = Field(default=None, ge=1, le=10)  # default: policy
    include: bool = True  # include the scenario in the platform (data-source credentials later)


class ScenarioCaseState(BaseModel):
    case_id: str
    stage: Stage
    round_no: int
    review_id: str | None = None
    deadline: datetime | None = None  # resubmission deadline, or the label's expiry
    spec_id: int | None = None
    pass_mark: int | None = None
    self_score: int | None = None
    panel_outcome: Vote | None = None
    panel_mean_score_hundredths: int | None = None
    label_code: str | None = None
    valid_until: datetime | None = None
    expiry_reminded: bool = False
