"""Request and response bodies of the methodology API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.errors import Problem
from domain.contracts.methodology import BehaviourType, MethodologyContent
from domain.methodology import (
    MethodologyDomain,
    ReevaluationOutcome,
    Scope,
    check_behaviour_table,
    format_factor,
    parse_factor,
)
from domain.rules import Refusal


class BehaviourIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=60, examples=["metro_km"])
    name: str = Field(max_length=200)
    unit: str = Field(default="", max_length=100, examples=["passenger-km by metro"])
    factor: str = Field(description="gCO2e per unit, a decimal string with at most 4 decimals, e.g. \"78.4\"",
                        examples=["78.4"])
    daily_cap: int = Field(description="units of quantity per person per day", examples=[100])

    @field_validator("factor", mode="before")
    @classmethod
    def _exact(cls, v):
        # A JSON float may already have lost digits: only strings and whole numbers are exact.
        if isinstance(v, bool) or isinstance(v, float):
            raise ValueError("send the factor as a decimal string, e.g. \"78.4\"")
        return str(v) if isinstance(v, int) else v


class MethodologyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    code_suggestion: str | None = Field(default=None, max_length=60)
    scope: Scope
    domain: MethodologyDomain
    summary: str = Field(min_length=1, max_length=20000)
    behaviours: list[BehaviourIn] = Field(default_factory=list, max_length=500)
    document_ids: list[int] = Field(default_factory=list, max_length=100)

    def to_content(self, prefix: str = "") -> MethodologyContent:
        """The checked content; every broken rule of the behaviour table is reported with its field."""
        rows = [b.model_dump() for b in self.behaviours]
        errors = [{"field": prefix + e.field, "rule": e.rule, "message": e.message}
                  for e in check_behaviour_table(self.scope, rows)]
        factors: list[int] = []
        for i, b in enumerate(self.behaviours):
            try:
                factors.append(parse_factor(b.factor))
            except Refusal as e:
                errors.append({"field": f"{prefix}behaviours.{i}.factor", "rule": e.rule, "message": e.message})
        if errors:
            raise Problem(422, "Unprocessable request", f"{errors[0]['field']}: {errors[0]['message']}",
                          errors=errors)
        return MethodologyContent(
            title=self.title.strip(), code_suggestion=self.code_suggestion, scope=self.scope, domain=self.domain,
            summary=self.summary, document_ids=sorted(set(self.document_ids)),
            behaviours=[BehaviourType(code=b.code, name=b.name.strip(), unit=b.unit.strip(), factor_e4=f,
                                      daily_cap=b.daily_cap) for b, f in zip(self.behaviours, factors)])


class MethodologyResubmissionIn(MethodologyIn):
    note: str | None = Field(default=None, max_length=20000, description="what changed")


class CompletenessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["accept", "return"]
    reasons: str | None = Field(default=None, max_length=20000, description="required when returning")


class PublicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["publish", "reject"]
    reason: str | None = Field(default=None, max_length=20000, description="required when rejecting")


class MethodologyWithdrawalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=4000)


class ReevaluationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="the published methodology, e.g. WH-M-TRAVEL-001")
    reason: str = Field(min_length=1, max_length=20000)


class ReevaluationDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: ReevaluationOutcome
    reason: str = Field(min_length=1, max_length=20000)
    revised: MethodologyIn | None = Field(default=None, description="the new version's content (outcome revise)")


class BehaviourOut(BaseModel):
    code: str
    name: str
    unit: str
    factor: str  # exact decimal, gCO2e per unit
    factor_ten_thousandths: int
    daily_cap: int

    @classmethod
    def of(cls, b: BehaviourType) -> BehaviourOut:
        return cls(code=b.code, name=b.name, unit=b.unit, factor=format_factor(b.factor_e4),
                   factor_ten_thousandths=b.factor_e4, daily_cap=b.daily_cap)


class PublishedRef(BaseModel):
    code: str
    version_no: int
    version: str  # v1
    version_id: int


class MethodologyCaseOut(BaseModel):
    id: int
    case_id: str
    applicant_organisation_id: int | None
    commissioned: bool
    title: str
    code_suggestion: str | None
    scope: Scope
    domain: MethodologyDomain
    summary: str
    behaviours: list[BehaviourOut]
    document_ids: list[int]
    stage: str
    submission_no: int
    round_no: int
    deadline: datetime | None
    review_id: str | None
    reasons: list[str] = Field(description="why it was returned, sent back or rejected (no reviewer identities)")
    published: PublishedRef | None
    created_at: datetime
    updated_at: datetime


class MethodologyCasePage(BaseModel):
    items: list[MethodologyCaseOut]
    next_after: int | None = Field(description="pass as `after` for the next page; null on the last page")


class VersionOut(BaseModel):
    id: int
    code: str
    version_no: int
    version: str
    status: str
    title: str
    summary: str
    published_at: datetime
    reevaluation_due: datetime
    superseded_at: datetime | None
    retired_at: datetime | None
    document_ids: list[int]
    behaviours: list[BehaviourOut]


class VersionSummary(BaseModel):
    version_no: int
    version: str
    status: str
    published_at: datetime


class PublishedMethodologyOut(BaseModel):
    code: str
    scope: Scope
    domain: MethodologyDomain
    status: str
    published_at: datetime
    retired_at: datetime | None
    current_version: VersionOut | None
    versions: list[VersionSummary]


class ReevaluationOut(BaseModel):
    id: int
    case_id: str
    code: str
    version_no: int
    stage: str
    reason: str
    decision_reason: str | None
    new_version_no: int | None
    review_id: str | None = None  # the panel review of the latest revision (Art. 7 with Art. 11)
    reasons: list[str] = []  # why that panel did not approve it (experts anonymised)
    created_at: datetime
    updated_at: datetime
