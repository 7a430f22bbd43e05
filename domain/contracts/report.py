"""Reports (举报, SPEC §2.7, Art. 34): one case per report, `report-{n}`.

awaiting_assignment → (the bureau assigns a handler) awaiting_acknowledgement → (the handler
acknowledges) investigating → (the handler concludes) concluded. Deadlines count from the filing:
`report_ack_working_days` to acknowledge, `report_conclude_working_days` to conclude, each with a
reminder the working day before and an overdue step that tells the bureau (escalation).

Privacy: nothing here names the reporter. The workflow's input, state, history and audit details hold
the report's number, the reported organisation and the handler only; who reported is sealed in the
database (store/sealing.py) and opened only for the assigned handler by the API.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.contracts.cases import Actor

CASE_TYPE = "report"
REPORT_WORKFLOW = "ReportCase"
REPORT_STATE_QUERY = "report_state"

UPDATE_ASSIGN = "assign"
UPDATE_ACKNOWLEDGE = "acknowledge"
UPDATE_CONCLUDE = "conclude"


def case_id(report_id: int) -> str:
    return f"report-{report_id}"


class Stage(StrEnum):
    AWAITING_ASSIGNMENT = "awaiting_assignment"
    AWAITING_ACKNOWLEDGEMENT = "awaiting_acknowledgement"
    INVESTIGATING = "investigating"
    CONCLUDED = "concluded"


FINAL_STAGES = frozenset({Stage.CONCLUDED})


class ReportStart(BaseModel):
    case_id: str
    deployment_id: str
    report_id: int
    reported_organisation_id: int
    filed_at: datetime


class Assignment(BaseModel):
    actor: Actor
    handler_user_id: int
    handler_role: str  # read by the API from the user; the workflow checks it again
    handler_organisation_id: int | None


class Acknowledgement(BaseModel):
    actor: Actor


class Conclusion(BaseModel):
    actor: Actor
    substantiated: bool
    conclusion: str = Field(min_length=1, max_length=8000)
    measures: str | None = Field(default=None, max_length=4000)


class ReportState(BaseModel):
    case_id: str
    report_id: int
    stage: Stage
    handler_user_id: int | None = None
    ack_due: datetime | None = None
    conclude_due: datetime | None = None
    acknowledged_at: datetime | None = None
    concluded_at: datetime | None = None
    substantiated: bool | None = None
    conclusion: str | None = None
    measures: str | None = None
    reminded: list[str] = Field(default_factory=list)  # "ack", "conclude"
    overdue: list[str] = Field(default_factory=list)


class ReportFacts(BaseModel):
    """What each step writes into the reports row."""

    report_id: int
    stage: str
    handler_user_id: int | None
    ack_due: datetime | None
    conclude_due: datetime | None
    acknowledged_at: datetime | None
    concluded_at: datetime | None
    substantiated: bool | None
    conclusion: str | None
    measures: str | None
    overdue: bool
