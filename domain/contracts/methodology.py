"""Methodology process (SPEC §2.2): workflow inputs, human actions (updates), activity contracts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.contracts.cases import Actor
from domain.methodology import MethodologyDomain, ReevaluationOutcome, ReevaluationStage, Scope, Stage

CASE_TYPE = "methodology"
REEVALUATION_CASE_TYPE = "methodology_reevaluation"
REMINDERS_CASE_TYPE = "methodology_reevaluation_due"

METHODOLOGY_WORKFLOW = "MethodologyCase"
REEVALUATION_WORKFLOW = "MethodologyReevaluation"
# One per re-evaluation date of a version: reminds the bureau ahead of it and when it is reached.
REMINDERS_WORKFLOW = "MethodologyReevaluationReminders"


def methodology_case_id(case_no: int) -> str:
    return f"methodology-{case_no}"


def reevaluation_case_id(reevaluation_no: int) -> str:
    return f"methodology-reevaluation-{reevaluation_no}"


class BehaviourType(BaseModel):
    """One row of a personal methodology's behaviour table."""

    code: str
    name: str
    unit: str
    factor_e4: int = Field(gt=0)  # gCO2e per unit in ten-thousandths of a gram (exact)
    daily_cap: int = Field(gt=0)  # units per person per day


class MethodologyContent(BaseModel):
    """What the applicant submits (and amends on resubmission)."""

    title: str
    code_suggestion: str | None = None
    scope: Scope
    domain: MethodologyDomain
    summary: str
    behaviours: list[BehaviourType] = Field(default_factory=list)
    document_ids: list[int] = Field(default_factory=list)


class MethodologyStart(BaseModel):
    case_id: str
    deployment_id: str
    case_no: int
    applicant_organisation_id: int | None
    commissioned: bool  # registered by the bureau for a methodology it commissioned
    submitted_by: Actor
    content: MethodologyContent


# --- Human actions on a methodology case: updates with validators (the kit's update ids) ---
UPDATE_COMPLETENESS = "decide_completeness"
UPDATE_RESUBMIT = "resubmit"
UPDATE_WITHDRAW = "withdraw"
UPDATE_PUBLICATION = "decide_publication"


class CompletenessDecision(BaseModel):
    actor: Actor
    submission_no: int  # the submission the bureau checked: a stale decision is refused
    accept: bool
    reasons: str | None = Field(default=None, max_length=20000)


class Resubmission(BaseModel):
    actor: Actor
    submission_no: int  # the new submission's number (previous + 1)
    content: MethodologyContent
    note: str | None = Field(default=None, max_length=20000)


class Withdrawal(BaseModel):
    actor: Actor
    reason: str | None = Field(default=None, max_length=4000)


class PublicationDecision(BaseModel):
    actor: Actor
    publish: bool
    reason: str | None = Field(default=None, max_length=20000)


class MethodologyCaseState(BaseModel):
    """The workflow's state, answered by the case_state query and returned by every update."""

    case_id: str
    stage: Stage
    submission_no: int
    round_no: int  # panel review rounds started so far
    deadline: datetime | None = None
    review_id: str | None = None
    reasons: list[str] = Field(default_factory=list)  # returned / revise / reject reasons, anonymised
    code: str | None = None
    version_no: int | None = None


# --- Activities ---
PUBLISH_METHODOLOGY = "publish_methodology"
REEVALUATION_DUE = "methodology_reevaluation_due"


class MethodologyFacts(BaseModel):
    """The methodology case row as the workflow knows it (written with every step)."""

    stage: Stage
    submission_no: int
    round_no: int
    deadline: datetime | None = None
    review_id: str | None = None
    reasons: list[str] = Field(default_factory=list)
    content: MethodologyContent  # the current submission (amended on resubmission)
    version_id: int | None = None


class PublishRequest(BaseModel):
    """Publish a version: a new methodology (methodology_id None) or a revision of an existing one.

    Idempotent on case_id: the case that publishes gets exactly one version.
    """

    case_id: str
    published_at: datetime
    reevaluation_due: datetime
    content: MethodologyContent
    owner_organisation_id: int | None
    methodology_id: int | None = None
    actor_user_id: int | None = None


class PublishedVersion(BaseModel):
    methodology_id: int
    code: str
    version_id: int
    version_no: int
    reevaluation_due: datetime
    superseded_version_id: int | None = None


# The bureau opens a re-evaluation of the current version (the API starts its workflow): it confirms
# the version, revises it (a new version, reviewed by a panel first: Art. 7 with Art. 11) or retires
# the methodology. Each re-evaluation date has a reminders workflow of its own.
class ReevaluationStart(BaseModel):
    case_id: str
    deployment_id: str
    origin_case_id: str  # the case that published the methodology
    reevaluation_no: int
    methodology_id: int
    code: str
    version_id: int
    version_no: int
    owner_organisation_id: int | None
    opened_by: Actor
    reason: str
    current_content: MethodologyContent  # the version under re-evaluation


UPDATE_DECIDE_REEVALUATION = "decide_reevaluation"


class ReevaluationDecision(BaseModel):
    actor: Actor
    outcome: ReevaluationOutcome
    reason: str = Field(min_length=1, max_length=20000)
    content: MethodologyContent | None = None  # required for revise: the new version's content


class ReevaluationState(BaseModel):
    case_id: str
    stage: ReevaluationStage
    outcome: ReevaluationOutcome | None = None
    new_version: PublishedVersion | None = None
    next_reevaluation_due: datetime | None = None


class ReevaluationFacts(BaseModel):
    """The re-evaluation row; a final stage also applies its effect to the version: confirmed moves
    its re-evaluation date to next_reevaluation_due; retired retires the methodology and its current
    version; revised: the new version was published by publish_methodology (superseding the old)."""

    stage: ReevaluationStage
    methodology_id: int
    version_id: int
    round_no: int = 0  # panel rounds of the revision so far
    review_id: str | None = None
    reasons: list[str] = Field(default_factory=list)  # the panel's, when it did not approve a revision
    reason: str | None = None  # the bureau's decision
    new_version_id: int | None = None
    next_reevaluation_due: datetime | None = None
    decided_by_user_id: int | None = None


class RemindersStart(BaseModel):
    """The reminders of one re-evaluation date of a version."""

    case_id: str  # reevaluation_reminders_id(version_id, due)
    deployment_id: str
    methodology_case_id: str  # the case that published the methodology: notifications name it
    owner_organisation_id: int | None
    version_id: int
    code: str
    version_no: int
    due: datetime


def reevaluation_reminders_id(version_id: int, due: datetime) -> str:
    return f"methodology-version-{version_id}-reevaluation-{due.strftime('%Y%m%d')}"


class DueCheck(BaseModel):
    version_id: int  # answers the version's re-evaluation date while it is current, else None
