"""The scenario evaluation workflow (SPEC §2.3) and its activities: names and models."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.contracts.cases import Actor
from domain.contracts.review import ReviewCriterion, Vote

SCENARIO_WORKFLOW = "ScenarioEvaluation"
CASE_TYPE = "scenario"
# Art. 12: a specification (each version) is evaluated by an expert panel the bureau organises before
# it is published: a case of its own, id f"scenario-spec-{spec id}".
SPEC_WORKFLOW = "ScenarioSpecReview"
SPEC_CASE_TYPE = "scenario_spec"
# The label's life after publication (expiry reminder, expiry): a workflow of its own, id f"{case_id}-label".
LABEL_WORKFLOW = "ScenarioLabelLifetime"
LABEL_CASE_TYPE = "scenario_label"


def scenario_case_id(seq: int) -> str:
    return f"scenario-{seq}"


def spec_case_id(spec_id: int) -> str:
    return f"scenario-spec-{spec_id}"


class SpecStart(BaseModel):
    case_id: str
    deployment_id: str
    spec_id: int
    category: str
    version: int
    title: str
    requested_by: Actor  # the operator who drafted it and asked for its publication


class SpecFacts(BaseModel):
    """The specification's status: in_review → published, or returned (the operator drafts anew)."""

    spec_id: int
    status: str
    review_id: str | None = None
    reasons: list[str] = Field(default_factory=list)  # the panel's, when it did not approve
    published_by: int | None = None


# --- activities (implemented in activities/scenario.py) ---
CHECK_SCENARIO_APPLICATION = "check_scenario_application"
PUBLISH_SCENARIO_LABEL = "publish_scenario_label"


class ScenarioStage(StrEnum):
    CHECKING = "checking"
    IN_REVIEW = "in_review"  # the panel review child runs (panel formation, expert scoring)
    RETURNED = "returned"  # revise: waiting for the applicant's resubmission
    AWAITING_DECISION = "awaiting_decision"
    PUBLISHED = "published"  # label valid (its own workflow reminds before expiry, then expires it)
    # terminal
    REFUSED = "refused"  # the self-assessment failed a gate or the pass mark
    WITHDRAWN = "withdrawn"
    REJECTED = "rejected"
    EXPIRED = "expired"


# The process's modules say `Stage`; the class's own name keeps the OpenAPI schema name unique.
Stage = ScenarioStage
# The evaluation case ends here (every process names its end `TERMINAL_STAGES`); a PUBLISHED scenario's
# label lives on in its own workflow, which makes it EXPIRED.
TERMINAL_STAGES = frozenset({Stage.REFUSED, Stage.WITHDRAWN, Stage.REJECTED, Stage.EXPIRED, Stage.PUBLISHED})


class ScenarioApplication(BaseModel):
    """The workflow's input: one evaluation application of one scenario."""

    case_id: str
    deployment_id: str
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




class Outcome(StrEnum):
    PUBLISHED = "published"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    REFUSED = "refused"


class CaseClosure(BaseModel):
    """The evaluation ended (the label, if any, lives on until it expires)."""

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


class ScenarioFacts(BaseModel):
    """Written with every step of an evaluation case; the closure with its last."""

    stage: Stage
    closure: CaseClosure | None = None


class LabelStart(BaseModel):
    case_id: str  # f"{scenario case_id}-label"
    deployment_id: str
    scenario_case_id: str
    applicant_organisation_id: int
    label_code: str
    valid_until: datetime


class LabelFacts(BaseModel):
    """The label's last step: expired (the scenario leaves the platform unless another label is valid)."""

    scenario_case_id: str
    expired_at: datetime | None = None


# --- human actions: updates with validators (the kit's update ids) ---
UPDATE_WITHDRAW = "withdraw"
UPDATE_RESUBMIT = "resubmit"
UPDATE_DECIDE = "decide"
SCENARIO_STATE_QUERY = "scenario_state"


class Withdrawal(BaseModel):
    actor: Actor
    reason: str = Field(min_length=1, max_length=4000)


class Resubmission(BaseModel):
    """Answers the round the case is returned in (an identical retry answers as the first did)."""

    actor: Actor
    self_assessment_id: int


class Decision(StrEnum):
    PUBLISH = "publish"
    REJECT = "reject"


class OperatorDecision(BaseModel):
    actor: Actor
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
