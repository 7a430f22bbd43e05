"""Pure rules of the expert panel review (SPEC §2.1; Art. 5, 11, 14, 21)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum

from domain.contracts.review import ReviewCriterion, Vote
from domain.policy import PolicyParameters


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
