"""Policy parameters (SPEC §3): defaults follow the measures; the bureau changes them with an
effective date; each case snapshots them when it starts and keeps them to the end."""

from __future__ import annotations

from datetime import date
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
    # SPEC §2.2 methodology re-evaluation (Art. 7: the bureau evaluates and revises methodologies).
    methodology_reevaluation_years: int = Field(default=2, ge=1, le=10)
    methodology_reevaluation_reminder_days: int = Field(default=60, ge=1, le=365)
    # SPEC §2.3 scenario evaluation (Art. 14).
    scenario_pass_mark: int = Field(default=80, ge=1, le=100)
    # How long a label is valid: a policy choice of the platform; no article sets it.
    scenario_label_validity_years: int = Field(default=3, ge=1, le=10)
    scenario_expiry_reminder_days: int = Field(default=60, ge=1, le=365)
    # SPEC §2.4 objections during publicity.
    objection_answer_working_days: int = Field(default=5, ge=1, le=30)
    # Art. 29: the operator confirms or rejects an application to cancel within this many working days.
    cancellation_confirm_working_days: int = Field(default=5, ge=1, le=30)
    # Art. 34: the handler of a report acknowledges it (3 working days: the receipt is a formality, and a
    # reporter left without an answer for a week files again) and concludes it (20 working days: about
    # a month, the usual period of a petition (信访) answer, enough to ask the participant for its side).
    report_ack_working_days: int = Field(default=3, ge=1, le=30)
    report_conclude_working_days: int = Field(default=20, ge=2, le=120)
    # Art. 17 annual neutrality: a scenario reports last year's emissions by this day of the next year and
    # has them cancelled by that one (MMDD: 331 = 31 March, 630 = 30 June); reminders this many days before.
    neutrality_report_due: int = Field(default=331, ge=101, le=1231,
                                       description="Art. 17: MMDD of the next year the emissions are reported by")
    neutrality_due: int = Field(default=630, ge=101, le=1231,
                                description="Art. 17: MMDD of the next year the emissions are offset by")
    neutrality_reminder_days: int = Field(default=14, ge=1, le=90)
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

    @model_validator(mode="after")
    def _report_ack_before_conclusion(self) -> PolicyParameters:
        if self.report_ack_working_days >= self.report_conclude_working_days:
            raise PydanticCustomError("ack_before_conclusion",
                                      "report_ack_working_days must be less than report_conclude_working_days")
        return self

    @model_validator(mode="after")
    def _neutrality_days(self) -> PolicyParameters:
        for name in ("neutrality_report_due", "neutrality_due"):
            value = getattr(self, name)
            try:
                date(2001, value // 100, value % 100)  # a day of every year (no 29 February)
            except ValueError:
                raise PydanticCustomError("month_day", "{name} must be a day written MMDD, e.g. 331",
                                          {"name": name}) from None
        if self.neutrality_report_due >= self.neutrality_due:
            raise PydanticCustomError("report_before_due", "neutrality_report_due must come before neutrality_due")
        return self


DEFAULT_POLICY = PolicyParameters()
