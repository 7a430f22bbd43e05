"""Policy parameters (SPEC §3): defaults follow the measures; the bureau changes them with an
effective date; each case snapshots them when it starts and keeps them to the end."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError


class PolicyParameters(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    publicity_working_days: int = Field(default=7, ge=7, le=60,
                                        description="Art. 20: publicity lasts at least 7 working days")
    # SPEC §2.1 expert panel review (Art. 5, 11, 14, 21).
    panel_size: int = Field(default=3, ge=1, le=15)
    review_task_working_days: int = Field(default=10, ge=1, le=60)
    review_reminder_working_days: int = Field(default=2, ge=0, le=30)
    revision_days: int = Field(default=30, ge=1, le=365)  # calendar days for the applicant to resubmit
    max_revision_rounds: int = Field(default=3, ge=1, le=10)
    # SPEC §2.2 methodology re-evaluation (Art. 11).
    methodology_reevaluation_years: int = Field(default=2, ge=1, le=10)
    methodology_reevaluation_reminder_days: int = Field(default=60, ge=1, le=365)
    # SPEC §2.3 scenario evaluation (Art. 14, 16).
    scenario_pass_mark: int = Field(default=80, ge=1, le=100)
    scenario_label_validity_years: int = Field(default=3, ge=1, le=10)
    scenario_expiry_reminder_days: int = Field(default=60, ge=1, le=365)
    # SPEC §2.4 objections during publicity.
    objection_answer_working_days: int = Field(default=5, ge=1, le=30)
    # Art. 29: the operator confirms or rejects an application to cancel within this many working days.
    cancellation_confirm_working_days: int = Field(default=5, ge=1, le=30)
    # SPEC §2.5 (Art. 22): records of a subject no resident has bound wait this many days for a binding,
    # then end `expired`.
    unbound_wait_days: int = Field(default=30, ge=1, le=365)
    # SPEC §2.1 (Art. 11, 14, 21): what a panel's "revise" counts as in the last allowed round, the same
    # in every process: "reject" (as if the panel rejected) or "decision" (the authority decides; as the
    # panel did not approve, only a rejection can follow).
    revise_after_last_round: Literal["reject", "decision"] = "reject"

    @model_validator(mode="after")
    def _reminder_inside_review_task(self) -> PolicyParameters:
        # A reminder "N working days before the deadline" must fall after the task starts.
        if self.review_reminder_working_days >= self.review_task_working_days:
            raise PydanticCustomError(
                "reminder_before_task_start",
                "review_reminder_working_days must be less than review_task_working_days")
        return self


DEFAULT_POLICY = PolicyParameters()
