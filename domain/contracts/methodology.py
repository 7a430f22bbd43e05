"""Methodology process (SPEC §2.2): workflow inputs, human actions (updates), activity contracts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.methodology import MethodologyDomain, ReevaluationOutcome, ReevaluationStage, Scope, Stage

CASE_TYPE = "methodology"
REEVALUATION_CASE_TYPE = "methodology_reevaluation"

METHODOLOGY_WORKFLOW = "MethodologyCase"
REEVALUATION_WORKFLOW = "MethodologyReevaluation"


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


class CaseActor(BaseModel):
    """Who performs a human action; the workflow's validators check role and organisation."""

    user_id: int
    role: str
    organisation_id: int | None = None


class MethodologyStart(BaseModel):
    case_id: str
    case_no: int
    applicant_organisation_id: int | None
    commissioned: bool  # registered by the bureau for a methodology it commissioned
    submitted_by: CaseActor
    content: MethodologyContent


# --- Human actions on a methodology case: updates with validators ---
UPDATE_COMPLETENESS = "decide_completeness"  # update id: f"completeness-{case_id}-{submission_no}"
UPDATE_RESUBMIT = "resubmit"  # update id: f"resubmit-{case_id}-{submission_no}"
UPDATE_WITHDRAW = "withdraw"  # update id: f"withdraw-{case_id}"
UPDATE_PUBLICATION = "decide_publication"  # update id: f"publication-{case_id}"


class CompletenessDecision(BaseModel):
    actor: CaseActor
    submission_no: int  # the submission the bureau checked: a stale decision is refused
    accept: bool
    reasons: str | None = Field(default=None, max_length=20000)


class Resubmission(BaseModel):
    actor: CaseActor
    submission_no: int  # the new submission's number (previous + 1)
    content: MethodologyContent
    note: str | None = Field(default=None, max_length=20000)


class Withdrawal(BaseModel):
    actor: CaseActor
    reason: str | None = Field(default=None, max_length=4000)


class PublicationDecision(BaseModel):
    actor: CaseActor
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
MIRROR_METHODOLOGY = "mirror_methodology"
PUBLISH_METHODOLOGY = "publish_methodology"
MIRROR_REEVALUATION = "mirror_reevaluation"


class MethodologyMirror(BaseModel):
    """Upsert the methodology case row and the case register (older news never overwrites newer)."""

    case_id: str
    stage: Stage
    occurred_at: datetime
    owner_organisation_id: int | None
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


# The bureau opens a re-evaluation on the workflow of the case that published the methodology, which
# runs it as a child and follows its outcome (a confirmation moves the date on, a revision makes the
# new version current, a retirement ends the reminders).
UPDATE_OPEN_REEVALUATION = "open_reevaluation"  # update id: f"open-{reevaluation case_id}"


class ReevaluationStart(BaseModel):
    case_id: str
    reevaluation_no: int
    methodology_id: int
    code: str
    version_id: int
    version_no: int
    owner_organisation_id: int | None
    opened_by: CaseActor
    reason: str
    current_content: MethodologyContent  # the version under re-evaluation


UPDATE_DECIDE_REEVALUATION = "decide_reevaluation"  # update id: f"reevaluation-{case_id}"


class ReevaluationDecision(BaseModel):
    actor: CaseActor
    outcome: ReevaluationOutcome
    reason: str = Field(min_length=1, max_length=20000)
    content: MethodologyContent | None = None  # required for revise: the new version's content


class ReevaluationState(BaseModel):
    case_id: str
    stage: ReevaluationStage
    outcome: ReevaluationOutcome | None = None
    new_version: PublishedVersion | None = None
    next_reevaluation_due: datetime | None = None


class ReevaluationMirror(BaseModel):
    """Record the re-evaluation's stage; a final stage also applies its effect to the version.

    confirmed: the version's re-evaluation date moves to next_reevaluation_due; retired: the
    methodology and its current version are retired; revised: the new version was published by
    publish_methodology (which superseded the old one).
    """

    case_id: str
    reevaluation_no: int
    stage: ReevaluationStage
    occurred_at: datetime
    owner_organisation_id: int | None
    methodology_id: int
    version_id: int
    reason: str | None = None
    new_version_id: int | None = None
    next_reevaluation_due: datetime | None = None
    decided_by_user_id: int | None = None
