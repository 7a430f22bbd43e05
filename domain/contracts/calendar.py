from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

COMPUTE_DEADLINE = "compute_deadline"
# A paused period (Art. 33 suspension) resumes with the working days it had left.
RESUME_DEADLINE = "resume_deadline"


class DeadlineRequest(BaseModel):
    start: AwareDatetime  # workflow.now() when the period starts
    working_days: int = Field(ge=0)
    # A recomputation never makes a legal period shorter (SPEC §3): the answer is at least this.
    not_before: AwareDatetime | None = None


class Deadline(BaseModel):
    end: datetime  # end of the last working day, Asia/Shanghai, as an aware instant
    provisional: bool  # crosses a year whose official calendar is not loaded


class ResumeRequest(BaseModel):
    due: AwareDatetime  # the period's end when it was paused
    paused_at: AwareDatetime
    resumed_at: AwareDatetime


class Resumed(BaseModel):
    end: datetime
    remaining_working_days: int
