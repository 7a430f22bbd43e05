"""Scenario writes shared by the API and the scenario activities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain import scenario as rules
from domain.contracts.scenario import CaseClosure, LabelIssued, LabelRequest, SpecFacts, scenario_case_id
from domain.rules import Kind, Refusal
from store import audit, documents
from store.models.cases import Case
from store.models.documents import Document
from store.models.identity import User
from store.models.scenario import (
    EvaluationSpec,
    EvaluationSpecItem,
    ScenarioCase,
    ScenarioLabel,
    ScenarioLabelCounter,
    Scenario,
    SelfAssessment,
    SelfAssessmentItem,
)

_SPEC_VERSION_LOCK = 0x7A4E_5C00  # with the category's hash: one draft at a time takes a version number


def current_spec(session: Session, category: str) -> EvaluationSpec | None:
    """The newest published version of a category's spec: new self-assessments use it."""
    return session.scalar(select(EvaluationSpec).where(
        EvaluationSpec.category == category, EvaluationSpec.status == "published",
    ).order_by(EvaluationSpec.version.desc()).limit(1))


@dataclass(frozen=True)
class SpecItemDraft:
    code: str
    name: str
    description: str | None
    kind: rules.ItemKind
    weight: int | None


def check_spec(items: list[SpecItemDraft], pass_mark: int) -> None:
    """Refuse a specification whose items or pass mark break the rules, naming every fault at once."""
    found = rules.validate_spec([rules.SpecItem(i.code, i.kind, i.weight) for i in items], pass_mark)
    if found:
        raise Refusal.all_of(found)


def draft_spec(session: Session, *, category: str, title: str, pass_mark: int, items: list[SpecItemDraft],
               actor: User, at: datetime) -> EvaluationSpec:
    """A draft evaluation specification (Art. 12: the operator drafts it), the next version of its category;
    a refused one stores nothing."""
    check_spec(items, pass_mark)
    # Versions of a category are numbered in order; the lock keeps two drafts from taking one number.
    session.execute(select(func.pg_advisory_xact_lock(_SPEC_VERSION_LOCK, func.hashtext(category))))
    version = (session.scalar(select(func.max(EvaluationSpec.version))
                              .where(EvaluationSpec.category == category)) or 0) + 1
    spec = EvaluationSpec(category=category, version=version, title=title, status="draft", pass_mark=pass_mark,
                          created_by=actor.id, created_at=at,
                          items=[EvaluationSpecItem(position=n, code=i.code, name=i.name, description=i.description,
                                                    kind=i.kind.value, weight=i.weight)
                                 for n, i in enumerate(items)])
    session.add(spec)
    session.flush()
    audit.record(session, action="scenario_spec.drafted", entity_type="scenario_spec", entity_id=spec.id,
                 occurred_at=spec.created_at, actor_user_id=actor.id, actor_role=actor.role,
                 details={"category": spec.category, "version": version, "pass_mark": pass_mark})
    return spec


def ask_spec_publication(session: Session, spec: EvaluationSpec, review_id: str) -> None:
    """Art. 12: a draft goes to the bureau's expert panel before it is published (locked by the caller).
    Asking again for a spec in review or published changes nothing."""
    if spec.status == "returned":
        raise Refusal(Kind.CONFLICT, "returned", f"the expert panel did not approve version {spec.version} of "
                      f"{spec.category}; draft a new version")
    if spec.status == "draft":
        current = current_spec(session, spec.category)
        if current is not None and current.version > spec.version:
            raise Refusal(Kind.CONFLICT, "newer_version_published",
                          f"version {current.version} of {spec.category} is already published; "
                          f"draft version {spec.version} would go back in time")
        spec.status, spec.review_id = "in_review", review_id


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


def _published_spec(session: Session, scenario: Scenario) -> EvaluationSpec:
    spec = current_spec(session, scenario.category)
    if spec is None:
        raise Refusal(Kind.INVALID, "published_spec_required",
                      f"no evaluation specification for {scenario.category} is published yet", "category")
    return spec


@dataclass(frozen=True)
class AnswerDraft:
    """One item of a self-assessment as submitted."""

    code: str
    passed: bool | None = None
    score: int | None = None
    comment: str | None = None
    evidence_document_ids: list[int] = field(default_factory=list)


def self_assess(session: Session, scenario: Scenario, answers: Sequence[AnswerDraft], user: User,
                at: datetime) -> SelfAssessment:
    """Art. 13: the applicant scores its scenario against the current specification of the scenario's category:
    every item answered as its kind asks, evidence only its own organisation's uploads. Stored with the total,
    whether it passes and the items that fail (a failing one is kept too: the applicant sees why)."""
    spec = _published_spec(session, scenario)
    items = spec_items(spec)
    given = [rules.ItemAnswer(code=a.code, passed=a.passed, score=a.score) for a in answers]
    found = rules.check_answers(items, given)
    if found:
        raise Refusal.all_of(found)
    result = rules.score(items, given, spec.pass_mark)
    cited = {d for a in answers for d in a.evidence_document_ids}
    owners = dict(session.execute(select(Document.id, Document.owner_organisation_id)
                                  .where(Document.id.in_(cited))).all()) if cited else {}
    for i, a in enumerate(answers):
        for doc_id in a.evidence_document_ids:
            if owners.get(doc_id) != scenario.organisation_id:
                raise Refusal(Kind.INVALID, "own_documents",
                              f"document {doc_id} does not exist or was not uploaded by your organisation",
                              f"items.{i}.evidence_document_ids")
    assessment = SelfAssessment(
        scenario_id=scenario.id, spec_id=spec.id, total_score=result.total, passes=result.passes,
        failing_items=[*result.failing_gates, *(result.short_items if result.total < spec.pass_mark else [])],
        created_by=user.id,
        items=[SelfAssessmentItem(code=a.code, passed=a.passed, score=a.score, comment=a.comment,
                                  evidence_document_ids=a.evidence_document_ids) for a in answers])
    session.add(assessment)
    session.flush()
    audit.record(session, action="scenario.self_assessed", entity_type="scenario", entity_id=scenario.id,
                 occurred_at=at, actor_user_id=user.id, actor_role=user.role,
                 details={"self_assessment_id": assessment.id, "spec_id": spec.id,
                          "total_score": result.total, "passes": result.passes})
    session.refresh(assessment)
    return assessment


def passing_assessment(session: Session, scenario: Scenario, assessment_id: int, spec_id: int) -> SelfAssessment:
    """Art. 13: only a self-assessment of this scenario, against the specification version the application
    uses, that passes every gate and the pass mark (scored again, never the stored total) may be submitted."""
    assessment = session.get(SelfAssessment, assessment_id)
    if assessment is None or assessment.scenario_id != scenario.id:
        raise Refusal(Kind.INVALID, "exists", f"self-assessment {assessment_id} is not one of this scenario",
                      "self_assessment_id")
    if assessment.spec_id != spec_id:
        raise Refusal(Kind.INVALID, "current_spec",
                      "the self-assessment is not against the specification version this application uses; "
                      "self-assess again", "self_assessment_id")
    found = rescore(session, assessment).refusals()
    if found:
        raise Refusal.all_of(found)
    return assessment


def attach_evidence(session: Session, assessment: SelfAssessment, case_id: str, user: User) -> None:
    """The evidence becomes the case's: the panel's experts may read it (a document serves one case)."""
    documents.attach(session, [d for item in assessment.items for d in item.evidence_document_ids], case_id, user)


def open_application(session: Session, scenario: Scenario, assessment_id: int, user: User,
                     at: datetime) -> ScenarioCase:
    """Art. 13: an application for evaluation, on a passing self-assessment against the current specification;
    one evaluation at a time per scenario. The case row exists before its workflow starts."""
    spec = _published_spec(session, scenario)
    assessment = passing_assessment(session, scenario, assessment_id, spec.id)
    # One evaluation at a time per scenario (the partial unique index is the last word under races).
    session.execute(select(Scenario.id).where(Scenario.id == scenario.id).with_for_update())
    if session.scalar(select(ScenarioCase.case_id).where(
            ScenarioCase.scenario_id == scenario.id, ScenarioCase.closed_at.is_(None))) is not None:
        raise Refusal(Kind.CONFLICT, "one_open_case", f"scenario {scenario.id} already has an evaluation in progress")
    seq = session.scalar(select(func.nextval("scenario_cases_id_seq")))
    case = ScenarioCase(id=seq, case_id=scenario_case_id(seq), scenario_id=scenario.id, spec_id=spec.id,
                        self_assessment_id=assessment.id, round_no=1, submitted_by=user.id, submitted_at=at)
    session.add(case)
    session.flush()
    attach_evidence(session, assessment, case.case_id, user)
    audit.record(session, action="scenario.application_created", entity_type="scenario_case",
                 entity_id=case.case_id, case_id=case.case_id, occurred_at=at, actor_user_id=user.id,
                 actor_role=user.role,
                 details={"scenario_id": scenario.id, "self_assessment_id": assessment.id, "spec_id": spec.id})
    return case


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

