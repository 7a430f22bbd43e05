"""The pure panel rules (SPEC §2.1)."""

from __future__ import annotations

import pytest

from domain.contracts.review import ReviewCriterion, Vote
from domain.review import conflict_reasons, mean_score_hundredths, panel_outcome, score_problems

A, V, R = Vote.APPROVE, Vote.REVISE, Vote.REJECT


@pytest.mark.parametrize("votes, outcome", [
    ([A, A, A], A), ([A, R, A], A), ([R, R, A], R), ([A, R, V], V),  # 1-1-1 tie: revise
    ([A, A, R, R], V),  # 2-2 tie: revise
    ([A, A, R, V], V),  # 2 of 4 is not more than half
    ([A, A, A, R, V], A), ([R], R), ([V, V, A], V),
])
def test_a_vote_needs_more_than_half_of_the_decisions(votes, outcome):
    assert panel_outcome(votes) == outcome


def test_no_decisions_has_no_outcome():
    with pytest.raises(ValueError):
        panel_outcome([])


@pytest.mark.parametrize("totals, hundredths", [
    ([85, 80, 81], 8200), ([80, 81, 81], 8067),  # 80.666… rounds up
    ([80, 80, 81], 8033),  # 80.333… rounds down
    ([1, 0, 0, 0, 0, 0, 0, 0], 13),  # 0.125 -> 12.5 hundredths: half rounds up
    ([0, 0, 0], 0), ([100], 10000), ([], None),
])
def test_mean_score_is_exact_in_hundredths_rounded_half_up(totals, hundredths):
    assert mean_score_hundredths(totals) == hundredths


def test_scores_must_cover_every_criterion_within_its_range():
    criteria = [ReviewCriterion(code="a", name="A", max_score=10), ReviewCriterion(code="b", name="B", max_score=5)]
    assert score_problems(criteria, {"a": 10, "b": 0}) == []
    assert [(f, r) for f, r, _ in score_problems(criteria, {"a": 11, "c": 1})] == [
        ("scores.c", "unknown_criterion"), ("scores.a", "range"), ("scores.b", "required")]
    assert score_problems(criteria, {"a": -1, "b": 1})[0][:2] == ("scores.a", "range")
    assert score_problems([], {}) == []
    assert score_problems([], {"a": 1})[0][:2] == ("scores", "not_scored")


def test_conflicts_of_interest():
    base = dict(declared_conflict_organisation_ids=[], active=True, applicant_organisation_id=1,
                verifier_organisation_id=2)
    assert conflict_reasons(affiliation_organisation_id=3, **base) == []
    assert conflict_reasons(affiliation_organisation_id=None, **base) == []
    assert conflict_reasons(affiliation_organisation_id=1, **base) == ["same_organisation_as_applicant"]
    assert conflict_reasons(affiliation_organisation_id=2, **base) == ["same_organisation_as_verifier"]
    assert conflict_reasons(affiliation_organisation_id=3, **{**base, "declared_conflict_organisation_ids": [2]}) \
        == ["declared_conflict"]
    assert conflict_reasons(affiliation_organisation_id=3, **{**base, "active": False}) == ["inactive"]
    # No verifier on the case: an expert without affiliation is not "the same organisation" as nobody.
    assert conflict_reasons(affiliation_organisation_id=None, declared_conflict_organisation_ids=[], active=True,
                            applicant_organisation_id=None, verifier_organisation_id=None) == []
