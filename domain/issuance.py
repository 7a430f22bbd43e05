"""Pure rules of project reduction issuance (SPEC §2.4, Art. 18–24)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum


def vintage(period_end: date) -> int:
    """The vintage of a monitoring period's reductions: the year its period ends."""
    return period_end.year


class IssuanceStage(StrEnum):
    AWAITING_VERIFIER = "awaiting_verifier"  # the commissioned verifier accepts or declines
    VERIFIER_DECLINED = "verifier_declined"  # the developer commissions another verifier
    VERIFICATION = "verification"  # the verifier works: asks for corrections or files the report
    CORRECTION = "correction"  # the developer amends (verifier's request or an upheld objection)
    PUBLICITY = "publicity"  # 公示 (Art. 20)
    AWAITING_APPLICATION = "awaiting_application"  # 登记申请 by the developer
    EVALUATION = "evaluation"  # expert technical evaluation (Art. 21)
    REVISION = "revision"  # the panel asked for revision; the developer resubmits the application
    DECISION = "decision"  # the bureau publishes or rejects
    PUBLISHED = "published"  # the operator registers and issues
    ISSUED = "issued"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


# The process's modules say `Stage`; the class's own name keeps the OpenAPI schema name unique.
Stage = IssuanceStage
TERMINAL_STAGES = frozenset({Stage.ISSUED, Stage.REJECTED, Stage.WITHDRAWN})
