"""Scenario writes shared by the API and the scenario activities."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain import scenario_rules as rules
from domain.contracts.scenario import CaseClosure, LabelIssued, LabelRequest, SpecFacts
from store.models.cases import Case
from store.models.scenario import (
    EvaluationSpec,
    ScenarioCase,
    ScenarioLabel,
    ScenarioLabelCounter,
    Scenario,
    SelfAssessment,
)


def current_spec(session: Session, category: str) -> EvaluationSpec | None:
    """The newest published version of a category's spec: new self-assessments use it."""
    return session.scalar(select(EvaluationSpec).where(
        EvaluationSpec.category == category, EvaluationSpec.status == "published",
    ).order_by(EvaluationSpec.version.desc()).limit(1))


def save_spec_review(session: Session, facts: SpecFacts, at: datetime) -> None:
    """The spec review's facts writer: in review, published (it becomes the category's current version,
    unless a newer one was published meanwhile, which keeps it a published older version) or returned."""
    spec = session.get(EvaluationSpec, facts.spec_id, with_for_update=True)
    spec.status, spec.review_id, spec.reasons = facts.status, facts.review_id, list(facts.reasons)
    if facts.status == "published" and spec.published_at is None:
        spec.published_by, spec.published_at = facts.published_by, at
    session.flush()


def spec_items(spec: EvaluationSpec) -> list[rules.SpecItem]:
    return [rules.SpecItem(code=i.code, kind=rules.ItemKind(i.kind), weight=i.weight) for i in spec.items]


def rescore(session: Session, assessment: SelfAssessment) -> rules.SelfScore:
    """Score a stored self-assessment again from its items and its spec (never trust the stored total)."""
    spec = session.get(EvaluationSpec, assessment.spec_id)
    answers = [rules.ItemAnswer(code=i.code, passed=i.passed, score=i.score) for i in assessment.items]
    return rules.score(spec_items(spec), answers, spec.pass_mark)


def allocate_label(session: Session, req: LabelRequest) -> ScenarioLabel:
    """Publish the case's label once: a retried activity returns the label already allocated."""
    existing = session.scalar(select(ScenarioLabel).where(ScenarioLabel.case_id == req.case_id))
    if existing is not None:
        return existing
    case = session.scalar(select(ScenarioCase).where(ScenarioCase.case_id == req.case_id).with_for_update())
    existing = session.scalar(select(ScenarioLabel).where(ScenarioLabel.case_id == req.case_id))
    if existing is not None:  # a concurrent retry won while we waited for the case row
        return existing
    year = rules.label_year(req.published_at)
    session.execute(insert(ScenarioLabelCounter).values(year=year, last_seq=0).on_conflict_do_nothing())
    # The counter row lock serialises allocations of a year: no gaps, no duplicates.
    counter = session.scalar(select(ScenarioLabelCounter).where(ScenarioLabelCounter.year == year).with_for_update())
    counter.last_seq += 1
    label = ScenarioLabel(
        code=rules.label_code(year, counter.last_seq), case_id=req.case_id, scenario_id=case.scenario_id,
        year=year, seq=counter.last_seq, valid_from=req.published_at,
        valid_until=rules.label_valid_until(req.published_at, req.validity_years), published_by=req.actor_user_id)
    session.add(label)
    if req.include:
        scenario = session.get(Scenario, case.scenario_id)
        if not scenario.included:
            scenario.included = True
            scenario.included_at = req.published_at
    session.flush()
    return label


def issued(label: ScenarioLabel) -> LabelIssued:
    return LabelIssued(code=label.code, valid_from=label.valid_from, valid_until=label.valid_until)


def close_case(session: Session, case_id: str, c: CaseClosure) -> None:
    """Record how the evaluation ended; the first closure wins (a retry changes nothing)."""
    session.execute(update(ScenarioCase).where(ScenarioCase.case_id == case_id, ScenarioCase.closed_at.is_(None)).values(
        outcome=c.outcome.value, reasons=c.reasons, closed_at=c.occurred_at,
        panel_outcome=c.panel_outcome.value if c.panel_outcome else None,
        panel_mean_score_hundredths=c.panel_mean_score_hundredths))


def expire_label(session: Session, case_id: str, expired_at: datetime) -> ScenarioLabel | None:
    """Mark the label of an evaluation case expired, and the case with it (its workflow has ended at
    publication); the scenario leaves the platform unless another label is still valid."""
    label = session.scalar(select(ScenarioLabel).where(ScenarioLabel.case_id == case_id))
    if label is None or label.expired_at is not None:
        return label
    label.expired_at = expired_at
    session.execute(update(Case).where(Case.case_id == case_id, Case.stage == "published")
                    .values(stage="expired", deadline=None, updated_at=expired_at))
    still_valid = session.scalar(select(ScenarioLabel.id).where(
        ScenarioLabel.scenario_id == label.scenario_id, ScenarioLabel.id != label.id,
        ScenarioLabel.expired_at.is_(None), ScenarioLabel.valid_until > expired_at).limit(1))
    if still_valid is None:
        scenario = session.get(Scenario, label.scenario_id)
        scenario.included = False
    session.flush()
    return label


def set_round(session: Session, case_id: str, round_no: int, self_assessment_id: int) -> None:
    session.execute(update(ScenarioCase).where(ScenarioCase.case_id == case_id).values(
        round_no=round_no, self_assessment_id=self_assessment_id))

