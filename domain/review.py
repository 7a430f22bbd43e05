"""The expert panel review (SPEC §2.1; Art. 5, 11, 14, 21): the review workflow's own activities, its
state as mirrored and its deterministic update ids, and the pure rules of a panel (outcome, scores,
conflicts of interest, what a panel's answer means for the case).

Complements `domain/contracts/review.py` (the interface other processes use).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.contracts.review import ReviewCriterion, Vote
from domain.policy import PolicyParameters


CHECK_PANEL = "review_check_panel"


class TaskStatus(StrEnum):
    OPEN = "open"
    DECIDED = "decided"
    RECUSED = "recused"
    REPLACED = "replaced"
    CANCELLED = "cancelled"  # the parent case ended (e.g. withdrawn) before the expert decided


class ReviewStage(StrEnum):
    AWAITING_PANEL = "awaiting_panel"
    IN_REVIEW = "in_review"
    AWAITING_REPLACEMENT = "awaiting_replacement"  # a recused expert must be replaced
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # the parent case cancelled the review


class PanelCheck(BaseModel):
    """Experts proposed for a panel; the activity refuses unknown, inactive or conflicted ones."""

    review_id: str
    expert_ids: list[int]
    applicant_organisation_id: int | None = None
    verifier_organisation_id: int | None = None


class PanelMember(BaseModel):
    expert_id: int
    user_id: int


class ReviewTask(BaseModel):
    """One assignment: the workflow's state of it, mirrored as is into review_tasks."""

    task_id: str
    seq: int
    expert_id: int
    expert_user_id: int
    status: TaskStatus = TaskStatus.OPEN
    assigned_at: datetime
    due: datetime
    due_provisional: bool = False
    remind_at: datetime | None = None  # None: no reminder (policy 0, or no working day before due)
    reminded_at: datetime | None = None
    overdue_at: datetime | None = None
    vote: Vote | None = None
    comments: str | None = None
    scores: dict[str, int] = Field(default_factory=dict)
    decided_at: datetime | None = None
    recusal_reason: str | None = None
    closed_at: datetime | None = None
    replaced_by_task_id: str | None = None


class ReviewMirror(BaseModel):
    """The whole review as the workflow knows it; `revision` grows with each change so a late
    retry of an older snapshot never overwrites a newer one."""

    review_id: str
    revision: int
    occurred_at: datetime
    case_id: str
    case_type: str
    authority_role: str
    round_no: int
    subject: str
    applicant_organisation_id: int | None = None
    verifier_organisation_id: int | None = None
    stage: ReviewStage
    outcome: Vote | None = None
    mean_score_hundredths: int | None = None
    criteria: list[dict] = Field(default_factory=list)
    tasks: list[ReviewTask] = Field(default_factory=list)


def form_panel_update_id(review_id: str, expert_ids: list[int]) -> str:
    return f"panel-{review_id}-{'-'.join(str(i) for i in sorted(expert_ids))}"


def decide_update_id(task_id: str) -> str:
    return f"review-{task_id}"


def recuse_update_id(task_id: str) -> str:
    return f"recuse-{task_id}"


def replace_update_id(task_id: str, new_expert_id: int) -> str:
    return f"replace-{task_id}-{new_expert_id}"


# --- the pure rules of a panel ------------------------------------------------------------------

def panel_outcome(votes: Sequence[Vote]) -> Vote:
    """Simple majority: a vote wins with more than half of the panel's decisions; otherwise
    (a tie, or no majority at all) the case goes back for revision."""
    if not votes:
        raise ValueError("a panel outcome needs at least one decision")
    vote, count = Counter(votes).most_common(1)[0]
    return vote if 2 * count > len(votes) else Vote.REVISE


class AfterPanel(StrEnum):
    """What a case does with its panel's outcome."""

    APPROVED = "approved"
    REJECTED = "rejected"
    REVISION = "revision"  # the applicant revises, the panel reviews again
    DECISION = "decision"  # not approved: the authority decides (only a rejection can follow)


def after_panel(outcome: Vote, round_no: int, policy: PolicyParameters) -> AfterPanel:
    """The one rule for every process: approve and reject stand; revise asks for another round while
    rounds are left (policy.max_revision_rounds); after the last one it counts as
    policy.revise_after_last_round says."""
    if outcome == Vote.APPROVE:
        return AfterPanel.APPROVED
    if outcome == Vote.REJECT:
        return AfterPanel.REJECTED
    if round_no < policy.max_revision_rounds:
        return AfterPanel.REVISION
    return AfterPanel.REJECTED if policy.revise_after_last_round == "reject" else AfterPanel.DECISION


def mean_score_hundredths(totals: Sequence[int]) -> int | None:
    """Exact mean of the experts' totals in hundredths, rounded half up (integers only)."""
    if not totals:
        return None
    n = len(totals)
    return (200 * sum(totals) + n) // (2 * n)


def score_problems(criteria: Sequence[ReviewCriterion], scores: Mapping[str, int]) -> list[tuple[str, str, str]]:
    """(field, rule, message) for every way `scores` breaks the review's criteria; empty when valid."""
    if not criteria:
        return [("scores", "not_scored", "this review has no criteria; send no scores")] if scores else []
    problems: list[tuple[str, str, str]] = []
    known = {c.code for c in criteria}
    for code in sorted(set(scores) - known):
        problems.append((f"scores.{code}", "unknown_criterion", f"'{code}' is not a criterion of this review"))
    for c in criteria:
        if c.code not in scores:
            problems.append((f"scores.{c.code}", "required", f"criterion '{c.code}' must be scored"))
        elif not 0 <= scores[c.code] <= c.max_score:
            problems.append((f"scores.{c.code}", "range", f"'{c.code}' must be scored 0..{c.max_score}"))
    return problems


def conflict_reasons(
    *,
    affiliation_organisation_id: int | None,
    declared_conflict_organisation_ids: Iterable[int],
    active: bool,
    applicant_organisation_id: int | None,
    verifier_organisation_id: int | None,
) -> list[str]:
    """Why an expert may not sit on this panel (empty list: eligible)."""
    reasons = []
    if not active:
        reasons.append("inactive")
    parties = {"applicant": applicant_organisation_id, "verifier": verifier_organisation_id}
    for party, org in parties.items():
        if org is not None and affiliation_organisation_id == org:
            reasons.append(f"same_organisation_as_{party}")
    declared = set(declared_conflict_organisation_ids)
    if any(org is not None and org in declared for org in parties.values()):
        reasons.append("declared_conflict")
    return reasons
