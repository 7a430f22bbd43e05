from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.contracts.review import Vote
from domain.contracts.scenario import Decision, Stage
from domain.scenario import ItemKind, ScenarioCategory, WuhanDistrict

CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"


class SpecItemIn(BaseModel):
    code: str = Field(pattern=CODE)
    name: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=4000)
    kind: ItemKind
    weight: int | None = Field(default=None, description="weighted items only: an integer; weights sum to 100")


class SpecCreate(BaseModel):
    category: ScenarioCategory
    title: str = Field(min_length=1, max_length=300)
    pass_mark: int | None = Field(default=None, description="default: policy scenario_pass_mark")
    items: list[SpecItemIn] = Field(min_length=1, max_length=200)


class SpecItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    description: str | None
    kind: ItemKind
    weight: int | None


class SpecOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    category: ScenarioCategory
    version: int
    title: str
    status: str  # draft, in_review (the bureau's expert panel, Art. 12), published, returned
    pass_mark: int
    created_at: datetime
    published_at: datetime | None
    review_id: str | None = None
    reasons: list[str] = []  # why the panel did not approve it (experts anonymised)
    items: list[SpecItemOut]


class ScenarioCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    category: ScenarioCategory
    address: str = Field(min_length=1, max_length=500)
    district: WuhanDistrict
    behaviour_description: str = Field(min_length=1, max_length=20000,
                                       description="how users' low-carbon behaviours are recorded and rewarded")


class ScenarioOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    organisation_id: int
    name: str
    category: ScenarioCategory
    address: str
    district: WuhanDistrict
    behaviour_description: str
    included: bool
    included_at: datetime | None
    created_at: datetime


class ItemAnswerIn(BaseModel):
    code: str = Field(pattern=CODE)
    passed: bool | None = Field(default=None, description="gate items")
    score: int | None = Field(default=None, description="weighted items: 0..weight")
    comment: str | None = Field(default=None, max_length=4000)
    evidence_document_ids: list[int] = Field(default_factory=list, max_length=50)


class SelfAssessmentCreate(BaseModel):
    items: list[ItemAnswerIn] = Field(min_length=1, max_length=200)


class AnswerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    passed: bool | None
    score: int | None
    comment: str | None
    evidence_document_ids: list[int]


class SelfAssessmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    scenario_id: int
    spec_id: int
    total_score: int
    passes: bool
    failing_items: list[str]
    created_at: datetime
    items: list[AnswerOut]


class ApplicationCreate(BaseModel):
    self_assessment_id: int


class ScenarioResubmissionIn(BaseModel):
    self_assessment_id: int


class ScenarioWithdrawalIn(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


class ScenarioDecisionIn(BaseModel):
    decision: Decision
    reasons: str = Field(default="", max_length=20000)
    validity_years: int | None = Field(default=None, ge=1, le=10, description="default: policy")
    include: bool = Field(default=True, description="include the scenario in the platform")


class ScenarioCaseOut(BaseModel):
    case_id: str
    scenario_id: int
    spec_id: int
    self_assessment_id: int
    round_no: int
    stage: Stage
    submitted_at: datetime
    deadline: datetime | None = None
    review_id: str | None = None
    outcome: str | None = None
    reasons: str | None = None
    panel_outcome: Vote | None = None
    panel_mean_score_hundredths: int | None = None
    label_code: str | None = None
    valid_until: datetime | None = None


class LabelStatus(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"


class LabelOut(BaseModel):
    label_code: str
    scenario_id: int
    scenario_name: str
    organisation_name: str
    category: ScenarioCategory
    district: WuhanDistrict
    valid_from: datetime
    valid_until: datetime
    status: LabelStatus
