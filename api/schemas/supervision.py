"""Supervision requests and answers: reports (Art. 34) and sanctions (Art. 33)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_NO_NUL = r"^[^\x00]*$"


class ReportIn(BaseModel):
    """A report about a participant. Name and contact are optional, sealed at rest and shown only to the
    handler the bureau assigns."""

    model_config = ConfigDict(extra="forbid")

    organisation_id: int = Field(ge=1, le=2**62, description="the participant (organisation) reported")
    content: str = Field(min_length=1, max_length=8000, pattern=_NO_NUL)
    evidence_document_ids: list[int] = Field(default_factory=list, max_length=20,
                                             description="your own uploads (signed in only)")
    reporter_name: str | None = Field(default=None, max_length=100, pattern=_NO_NUL)
    contact: str | None = Field(default=None, max_length=200, pattern=_NO_NUL)


class ReportFiledOut(BaseModel):
    report_id: int
    receipt_code: str = Field(description="shown once: follow the report with it (GET /reports/receipt/{code})")
    stage: str
    filed_at: datetime


class ReportProgressOut(BaseModel):
    """What the reporter sees by receipt code: progress and conclusion, nothing about the handler."""

    report_id: int
    stage: str
    filed_at: datetime
    acknowledged_at: datetime | None
    concluded_at: datetime | None
    substantiated: bool | None
    conclusion: str | None
    measures: str | None


class Reporter(BaseModel):
    name: str | None
    contact: str | None
    signed_in_user_id: int | None


class ReportOut(ReportProgressOut):
    case_id: str
    reported_organisation_id: int
    content: str
    evidence_document_ids: list[int]
    handler_user_id: int | None
    ack_due: datetime | None
    conclude_due: datetime | None
    overdue: bool
    reporter: Reporter | None = Field(default=None, description="only for the assigned handler")


class AssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    handler_user_id: int = Field(ge=1, le=2**62)


class ConclusionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    substantiated: bool
    conclusion: str = Field(min_length=1, max_length=8000, pattern=_NO_NUL)
    measures: str | None = Field(default=None, max_length=4000, pattern=_NO_NUL)


class SanctionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: int = Field(ge=1, le=2**62)
    measure: Literal["suspend", "terminate"]
    reason: str = Field(min_length=1, max_length=4000, pattern=_NO_NUL)
    report_id: int | None = Field(default=None, ge=1, le=2**62)


class ReinstatementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=4000, pattern=_NO_NUL)


class SanctionOut(BaseModel):
    sanction_id: int
    case_id: str
    organisation_id: int
    measure: str
    reason: str
    report_id: int | None
    stage: str
    imposed_at: datetime
    froze_account: bool
    cases_told: list[str]
    lifted_at: datetime | None
    lift_reason: str | None


class PublicSanctionOut(BaseModel):
    """A sanction in force as the public sees it (Art. 30, 33): participant and measure."""

    participant: str
    organisation_id: int
    measure: str
    in_force_since: datetime
