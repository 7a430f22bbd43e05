"""The issuance case workflow's interface: start input, updates, signal, query, activities."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.contracts.cases import Actor
from domain.issuance import Stage

ISSUANCE_WORKFLOW = "IssuanceCase"
CASE_TYPE = "issuance"


def case_id_for(issuance_case_id: int) -> str:
    return f"issuance-{issuance_case_id}"


class IssuanceStart(BaseModel):
    case_id: str
    deployment_id: str
    project_id: int
    project_name: str
    developer_organisation_id: int
    verifier_organisation_id: int
    claimed_grams: int
    filed_by_user_id: int


# --- human actions: updates with validators; the API's update ids are the kit's
# (domain.contracts.cases.action_update_id); filing an objection: f"objection-{id}".

UPDATE_VERIFIER_RESPONSE = "verifier_response"
UPDATE_COMMISSION_VERIFIER = "commission_verifier"
UPDATE_REQUEST_CORRECTIONS = "request_corrections"
UPDATE_AMEND_REPORT = "amend_report"
UPDATE_FILE_VERIFICATION_REPORT = "file_verification_report"
UPDATE_FILE_OBJECTION = "file_objection"
UPDATE_ANSWER_OBJECTION = "answer_objection"
UPDATE_RULE_OBJECTION = "rule_objection"
UPDATE_SUBMIT_APPLICATION = "submit_application"
UPDATE_DECIDE = "decide"
UPDATE_ISSUE = "issue"
UPDATE_WITHDRAW = "withdraw"

# Sent when an official year calendar is loaded: provisional deadlines are recomputed, never shorter.
SIGNAL_CALENDAR_LOADED = "calendar_loaded"
ISSUANCE_STATE_QUERY = "issuance_state"


class VerifierResponse(BaseModel):
    actor: Actor
    accept: bool
    reason: str = Field(default="", max_length=4000)


class CommissionVerifier(BaseModel):
    actor: Actor
    verifier_organisation_id: int  # the API has checked the accreditation


class CorrectionRequest(BaseModel):
    actor: Actor
    comments: str = Field(min_length=1, max_length=20000)


class Amendment(BaseModel):
    actor: Actor
    claimed_grams: int | None = Field(default=None, gt=0)
    benefit_sharing: str | None = Field(default=None, min_length=1, max_length=20000)
    comments: str = Field(min_length=1, max_length=20000)


class VerificationReport(BaseModel):
    actor: Actor
    verified_grams: int = Field(ge=0)
    conclusion: str = Field(min_length=1, max_length=20000)


class ObjectionFiled(BaseModel):
    objection_id: int  # the API stored it (with the objector's private details) before telling the case


class ObjectionAnswer(BaseModel):
    actor: Actor
    objection_id: int
    answer: str = Field(min_length=1, max_length=20000)


class ObjectionRuling(BaseModel):
    actor: Actor
    objection_id: int
    upheld: bool
    reason: str = Field(min_length=1, max_length=20000)


class Application(BaseModel):
    actor: Actor
    statement: str = Field(default="", max_length=20000)


class Decision(BaseModel):
    actor: Actor
    publish: bool
    reason: str = Field(min_length=1, max_length=20000)


class IssueOrderUpdate(BaseModel):
    actor: Actor


class Withdrawal(BaseModel):
    actor: Actor
    reason: str = Field(min_length=1, max_length=4000)


# --- state (the query answers it) ----------------------------------------------------------------

class ObjectionState(BaseModel):
    objection_id: int
    round_no: int
    answer_due: datetime
    answered: bool = False
    ruling: str | None = None  # upheld, dismissed, lapsed


class PublicityState(BaseModel):
    round_no: int
    starts_at: datetime
    ends_at: datetime
    provisional: bool
    closed: bool = False


class IssuanceState(BaseModel):
    case_id: str
    stage: Stage
    developer_organisation_id: int
    verifier_organisation_id: int
    engagement_no: int = 1
    claimed_grams: int
    verified_grams: int | None = None
    corrections_no: int = 0
    reports_no: int = 0
    last_comments: str | None = None  # what the developer must correct, from the verifier or a ruling
    publicity: PublicityState | None = None
    objections: list[ObjectionState] = Field(default_factory=list)
    review_round: int = 0
    review_outcome: str | None = None
    revision_due: datetime | None = None
    decision_reason: str | None = None
    issued: IssueResult | None = None
    withdrawal_reason: str | None = None


# --- activities ----------------------------------------------------------------------------------
ISSUE_REDUCTIONS = "issue_reductions"


class IssuanceFacts(BaseModel):
    """The case row as the workflow knows it, written with every step (activities.issuance's facts
    writer), and what else the step changes in the process's tables."""

    stage: Stage
    verifier_organisation_id: int
    claimed_grams: int
    benefit_sharing: str | None = None  # None: unchanged
    verified_grams: int | None = None
    verification_conclusion: str | None = None
    notice: NoticeWrite | None = None  # open a publicity round, or move its end later
    notice_close: NoticeClose | None = None
    objection: ObjectionStep | None = None  # an answer or a ruling


class NoticeWrite(BaseModel):
    """Open a round's notice, or move its end later (a recomputation never shortens it)."""

    round_no: int
    starts_at: datetime
    ends_at: datetime
    provisional: bool
    verified_grams: int  # published with the project facts and the stored benefit-sharing statement


class NoticeClose(BaseModel):
    round_no: int
    closed_at: datetime
    outcome: str  # completed, returned, withdrawn


class ObjectionStep(BaseModel):
    objection_id: int
    at: datetime
    answer: str | None = None
    ruling: str | None = None
    ruling_reason: str | None = None
    ruled_by_user_id: int | None = None


class IssueRequest(BaseModel):
    """Issue the case's verified quantity as whole tonnes, once (the case id is the issuance key)."""

    case_id: str
    issued_at: datetime  # workflow.now()
    operator_user_id: int


class IssueResult(BaseModel):
    issuance_id: int
    tonnes: int
    remainder_grams: int
    serial_range: str | None  # None when less than one whole tonne was verified
    account_number: str


IssuanceState.model_rebuild()
IssuanceFacts.model_rebuild()
