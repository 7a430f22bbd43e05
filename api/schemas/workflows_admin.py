"""Answers of the admin view of workflows (SPEC §4): cases as Temporal sees them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.contracts.cases import OpenTask, Pause


class CaseSummary(BaseModel):
    case_id: str = Field(description="Business id = workflow id, e.g. methodology-42")
    case_type: str | None
    stage: str | None
    case_number: str | None
    deadline: datetime | None = Field(description="The next deadline the case waits on")
    status: str = Field(description="running, completed, failed, canceled, terminated, continued_as_new, timed_out")
    workflow_type: str
    started_at: datetime
    closed_at: datetime | None


class CasePage(BaseModel):
    items: list[CaseSummary]
    next_page_token: str | None = Field(description="Pass as page_token for the next page; null on the last")


class HistoryEvent(BaseModel):
    event_id: int
    event_type: str
    time: datetime


class CaseDetail(CaseSummary):
    state_available: bool = Field(description="Whether the running case answered its case_state query")
    state_note: str | None = None
    open_tasks: list[OpenTask]
    overdue_tasks: list[OpenTask]
    # Art. 33: the sanction that pauses the case, and what its deadlines do meanwhile.
    paused: Pause | None = None
    history: list[HistoryEvent] = Field(description="The most recent history events, newest first")


class OverdueCase(BaseModel):
    case_id: str
    case_type: str | None
    stage: str | None
    deadline: datetime | None
    state_available: bool
    overdue_tasks: list[OpenTask]


class OverduePage(BaseModel):
    as_of: datetime
    items: list[OverdueCase]
    next_page_token: str | None
