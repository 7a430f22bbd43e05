"""Pure scenario evaluation rules: spec validation, self-scoring, publication, label code and validity."""

from __future__ import annotations

from datetime import datetime, timezone

from domain import scenario as r

G, W = r.ItemKind.GATE, r.ItemKind.WEIGHTED
SPEC = [r.SpecItem("G1", G), r.SpecItem("W1", W, 60), r.SpecItem("W2", W, 40)]


def rules_of(found: list[r.Refusal]) -> set[tuple[str, str]]:
    return {(v.field, v.rule) for v in found}


def test_a_valid_spec_has_no_violations():
    assert r.validate_spec(SPEC, 80) == []


def test_weights_must_sum_to_100_and_gates_carry_no_weight():
    found = r.validate_spec([r.SpecItem("G1", G, 5), r.SpecItem("W1", W, 50), r.SpecItem("W1", W, 0)], 101)
    assert rules_of(found) == {("pass_mark", "range"), ("items.0.weight", "gate_has_no_weight"),
                               ("items.2.code", "unique"), ("items.2.weight", "positive"),
                               ("items", "weights_sum_to_100")}
    assert rules_of(r.validate_spec([r.SpecItem("G1", G)], 80)) == {("items", "weighted_required")}


def test_answers_must_cover_every_item_once_in_range():
    found = r.check_answers(SPEC, [r.ItemAnswer("G1", score=3), r.ItemAnswer("W1", score=61),
                                   r.ItemAnswer("X", score=1), r.ItemAnswer("W1", passed=True)])
    assert rules_of(found) == {("items.0.passed", "gate_needs_pass"), ("items.1.score", "range"),
                               ("items.2.code", "unknown_item"), ("items.3.code", "unique"),
                               ("items.3.score", "weighted_needs_score"), ("items", "missing_item")}


def test_a_passing_self_assessment():
    s = r.score(SPEC, [r.ItemAnswer("G1", passed=True), r.ItemAnswer("W1", score=50), r.ItemAnswer("W2", score=30)], 80)
    assert (s.total, s.passes, s.refusals()) == (80, True, [])


def test_a_failing_gate_refuses_even_with_full_marks():
    s = r.score(SPEC, [r.ItemAnswer("G1", passed=False), r.ItemAnswer("W1", score=60), r.ItemAnswer("W2", score=40)], 80)
    assert s.total == 100 and not s.passes
    assert rules_of(s.refusals()) == {("items.G1", "gate_failed")}


def test_below_the_pass_mark_names_the_items_short_of_full_marks():
    s = r.score(SPEC, [r.ItemAnswer("G1", passed=True), r.ItemAnswer("W1", score=60), r.ItemAnswer("W2", score=19)], 80)
    assert s.total == 79 and not s.passes
    [v] = s.refusals()
    assert (v.field, v.rule) == ("total_score", "below_pass_mark") and "W2" in v.message and "W1" not in v.message


def test_publication_needs_panel_approval_and_mean_at_the_pass_mark():
    assert r.publication_refusals("approve", 8000, 80) == []
    assert len(r.publication_refusals("approve", 7999, 80)) == 1
    assert "79.99" in r.publication_refusals("approve", 7999, 80)[0]
    assert len(r.publication_refusals("revise", 9000, 80)) == 1
    assert len(r.publication_refusals("reject", None, 80)) == 2


def test_label_year_is_the_wuhan_year_of_publication():
    # 31 Dec 2026 17:00 UTC is already 1 Jan 2027 in Wuhan.
    assert r.label_year(datetime(2026, 12, 31, 17, 0, tzinfo=timezone.utc)) == 2027
    assert r.label_year(datetime(2026, 12, 31, 15, 59, tzinfo=timezone.utc)) == 2026
    assert r.label_code(2026, 7) == "WH-S-2026-0007"


def test_validity_counts_years_on_the_local_calendar():
    published = datetime(2028, 2, 29, 4, 0, tzinfo=timezone.utc)
    until = r.label_valid_until(published, 3)
    assert until.astimezone(r.SHANGHAI).date().isoformat() == "2031-02-28"
    assert r.label_valid_until(datetime(2026, 5, 1, tzinfo=timezone.utc), 3) == datetime(2029, 5, 1, tzinfo=timezone.utc)
    assert r.expiry_reminder_at(until, 60) < until
