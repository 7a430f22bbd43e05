"""Request and response bodies of accounts, reference lists, projects and issuance cases."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.schemas.types import IsoDate

from domain import serials

# tCO2e with at most 3 decimals, given as a JSON number or a string; stored exactly as grams.
Tonnes = Decimal


def _grams(value: Decimal, *, allow_zero: bool) -> int:
    try:
        grams = serials.tonnes_to_grams(value)
    except ValueError as exc:
        raise ValueError(f"{exc} (tCO2e with at most 3 decimals)") from None
    if grams < 0 or (grams == 0 and not allow_zero):
        raise ValueError("must be greater than 0" if not allow_zero else "cannot be negative")
    if grams > 10**15:
        raise ValueError("is implausibly large")
    return grams


# --- accounts ------------------------------------------------------------------------------------

class BlockOut(BaseModel):
    serial_range: str
    first_serial: str
    last_serial: str
    tonnes: int
    vintage: int
    project_id: int
    state: str
    not_declarable_elsewhere: bool
    issued_at: datetime


class AccountOut(BaseModel):
    account_number: str
    kind: str = "institutional"  # or personal (an individual's whole tonnes, Art. 25)
    organisation_id: int | None
    organisation_name: str | None
    balance_tonnes: int
    blocks: list[BlockOut]


class SerialOut(BaseModel):
    serial: str
    serial_range: str  # the block that holds it now
    project_id: int
    project_name: str
    methodology: str
    vintage: int
    state: str
    not_declarable_elsewhere: bool
    issued_at: datetime
    case_id: str


# --- reference lists -----------------------------------------------------------------------------

class AccreditationCreate(BaseModel):
    reference: str = Field(min_length=1, max_length=100, description="accreditation document number")
    valid_from: IsoDate
    valid_until: IsoDate

    @model_validator(mode="after")
    def _validity(self) -> AccreditationCreate:
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from")
        return self


class Revocation(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class AccreditationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    organisation_id: int
    reference: str
    valid_from: date
    valid_until: date
    revoked_at: datetime | None
    revocation_reason: str | None


class VerificationBodyOut(BaseModel):
    organisation_id: int
    name: str
    accreditation: AccreditationOut


def _clean_facilities(v: list[str] | None) -> list[str] | None:
    if v is None:
        return None
    cleaned = [f.strip() for f in v]
    if any(not f or len(f) > 64 for f in cleaned):
        raise ValueError("facility ids are 1-64 characters")
    return sorted(set(cleaned))


class KeyEmitterCreate(BaseModel):
    organisation_id: int
    scheme: Literal["national", "hubei"]
    boundary_facility_ids: list[str] = Field(min_length=1, max_length=500)
    effective_from: IsoDate
    effective_until: IsoDate | None = None

    _facilities = field_validator("boundary_facility_ids")(_clean_facilities)

    @model_validator(mode="after")
    def _effective(self) -> KeyEmitterCreate:
        if self.effective_until is not None and self.effective_until < self.effective_from:
            raise ValueError("effective_until must not be before effective_from")
        return self


class KeyEmitterChange(BaseModel):
    boundary_facility_ids: list[str] | None = Field(default=None, min_length=1, max_length=500)
    effective_until: IsoDate | None = None

    _facilities = field_validator("boundary_facility_ids")(_clean_facilities)


class KeyEmitterOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    organisation_id: int
    scheme: str
    boundary_facility_ids: list[str]
    effective_from: date
    effective_until: date | None


# --- projects ------------------------------------------------------------------------------------

class OtherRegistrationIn(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    scheme: str = Field(min_length=1, max_length=40, description="CCER, VCS, GS, …")
    registration_id: str = Field(min_length=1, max_length=100)
    period_start: IsoDate
    period_end: IsoDate | None = None

    @model_validator(mode="after")
    def _period(self) -> OtherRegistrationIn:
        if self.period_end is not None and self.period_end < self.period_start:
            raise ValueError("period_end must not be before period_start")
        return self


class ProjectCreate(BaseModel):
    """The methodology version is named as the public register names it (`methodology_code` and
    `methodology_version`, e.g. WH-M-PV-001 and 1), or by its id (`methodology_version_id`)."""

    methodology_code: str | None = Field(default=None, min_length=1, max_length=60, examples=["WH-M-PV-001"])
    methodology_version: int | None = Field(default=None, ge=1, description="version number, 1 for v1")
    methodology_version_id: int | None = Field(default=None, description="alternative to code and version")
    name: str = Field(min_length=1, max_length=200)
    district: str = Field(min_length=1, max_length=60)
    site_address: str = Field(min_length=1, max_length=300)
    facility_id: str = Field(min_length=1, max_length=64)
    start_date: IsoDate
    description: str = Field(min_length=1, max_length=20000)
    other_registrations: list[OtherRegistrationIn] = Field(default_factory=list, max_length=50)


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    organisation_id: int
    methodology_version_id: int
    methodology_code: str
    methodology_version: int
    name: str
    district: str
    site_address: str
    facility_id: str
    start_date: date
    description: str
    other_registrations: list[OtherRegistrationIn]
    registered_at: datetime


# --- issuance cases ------------------------------------------------------------------------------

class AccountingReport(BaseModel):
    """核算报告 of one monitoring period, and the accredited verifier commissioned to verify it."""

    period_start: IsoDate
    period_end: IsoDate
    claimed_tco2e: Tonnes = Field(description="tCO2e, at most 3 decimals; a string keeps it exact")
    benefit_sharing: str = Field(min_length=1, max_length=20000, description="利益分配 statement")
    verifier_organisation_id: int
    document_ids: list[int] = Field(default_factory=list, max_length=50, description="your uploaded documents")

    @field_validator("claimed_tco2e")
    @classmethod
    def _claimed(cls, v: Decimal) -> Decimal:
        _grams(v, allow_zero=False)
        return v

    @model_validator(mode="after")
    def _period(self) -> AccountingReport:
        if self.period_end < self.period_start:
            raise ValueError("period_end must not be before period_start")
        return self

    @property
    def claimed_grams(self) -> int:
        return serials.tonnes_to_grams(self.claimed_tco2e)


class VerifierResponseIn(BaseModel):
    accept: bool
    reason: str = Field(default="", max_length=4000)


class CommissionIn(BaseModel):
    verifier_organisation_id: int


class CommentsIn(BaseModel):
    comments: str = Field(min_length=1, max_length=20000)


class AmendmentIn(BaseModel):
    claimed_tco2e: Tonnes | None = None
    benefit_sharing: str | None = Field(default=None, min_length=1, max_length=20000)
    comments: str = Field(min_length=1, max_length=20000, description="what was corrected")
    document_ids: list[int] = Field(default_factory=list, max_length=50)

    @field_validator("claimed_tco2e")
    @classmethod
    def _claimed(cls, v: Decimal | None) -> Decimal | None:
        if v is not None:
            _grams(v, allow_zero=False)
        return v


class VerificationReportIn(BaseModel):
    verified_tco2e: Tonnes = Field(description="tCO2e, at most 3 decimals, not more than claimed")
    conclusion: str = Field(min_length=1, max_length=20000)
    document_ids: list[int] = Field(default_factory=list, max_length=50)

    @field_validator("verified_tco2e")
    @classmethod
    def _verified(cls, v: Decimal) -> Decimal:
        _grams(v, allow_zero=True)
        return v


class ObjectionIn(BaseModel):
    """Anyone may object during publicity; name and contact are optional and never published."""

    content: str = Field(min_length=1, max_length=4000)
    name: str | None = Field(default=None, max_length=100)
    contact: str | None = Field(default=None, max_length=200)


class ObjectionAnswerIn(BaseModel):
    answer: str = Field(min_length=1, max_length=20000)


class RulingIn(BaseModel):
    upheld: bool
    reason: str = Field(min_length=1, max_length=20000)


class ApplicationIn(BaseModel):
    statement: str = Field(default="", max_length=20000)


class IssuanceDecisionIn(BaseModel):
    publish: bool
    reason: str = Field(min_length=1, max_length=20000)


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


class NoticeOut(BaseModel):
    id: int
    case_id: str
    round_no: int
    project_name: str
    district: str
    developer_name: str
    period_start: date
    period_end: date
    verified_tco2e: str
    verification_conclusion: str | None = Field(description="the verifier's conclusion (核查结论)")
    verification_report_document_ids: list[int] = Field(
        description="the verification report: GET /publicity-notices/{id}/documents/{document_id}")
    benefit_sharing: str
    starts_at: datetime
    ends_at: datetime
    provisional: bool
    open: bool
    remaining_seconds: int
    closed_at: datetime | None
    outcome: str | None
    objections: int


class ObjectionOut(BaseModel):
    id: int
    notice_id: int
    content: str
    filed_at: datetime
    answer: str | None
    answered_at: datetime | None
    ruling: str | None
    ruling_reason: str | None
    ruled_at: datetime | None
    # Only the bureau sees who objected.
    objector_name: str | None = None
    objector_contact: str | None = None


class ObjectionFiledOut(BaseModel):
    objection_id: int
    notice_id: int
    answer_due: datetime


class IssuanceCaseOut(BaseModel):
    case_id: str
    project_id: int
    organisation_id: int
    period_start: date
    period_end: date
    claimed_tco2e: str
    benefit_sharing: str
    verifier_organisation_id: int
    verified_tco2e: str | None
    verification_conclusion: str | None
    stage: str
    document_ids: list[int] = Field(default_factory=list)
    state: dict | None = Field(default=None, description="the live case state from the workflow")


class IssuedReductionOut(BaseModel):
    case_id: str
    project_id: int
    project_name: str
    developer_name: str
    vintage: int
    tonnes: int
    remainder_grams: int
    serial_range: str | None
    not_declarable_elsewhere: bool
    issued_at: datetime
