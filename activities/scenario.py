"""Scenario activities: re-check the self-assessment, publish the label, and the facts writers of the
evaluation case (its closure) and of the label (its expiry)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain import scenario as rules
from domain.contracts.cases import CaseStep
from domain.contracts.review import ReviewCriterion
from domain.contracts.scenario import (
    CASE_TYPE,
    CHECK_SCENARIO_APPLICATION,
    LABEL_CASE_TYPE,
    PUBLISH_SCENARIO_LABEL,
    SPEC_CASE_TYPE,
    ApplicationCheck,
    ApplicationChecked,
    LabelFacts,
    LabelIssued,
    LabelRequest,
    ScenarioFacts,
    SpecFacts,
)
from domain.rules import Kind
from settings import Settings
from store import scenarios
from store.models.scenario import EvaluationSpec, Scenario, ScenarioCase, SelfAssessment
from store.session import transaction


def _fails(message: str) -> ApplicationError:
    return ApplicationError(message, {"field": "self_assessment_id", "rule": "self_assessment"},
                            type=Kind.INVALID.value, non_retryable=True)


def write_case_facts(session: Session, step: CaseStep) -> None:
    facts = ScenarioFacts.model_validate(step.facts)
    if facts.closure is not None:
        scenarios.close_case(session, step.mirror.case_id, facts.closure)


def write_spec_facts(session: Session, step: CaseStep) -> None:
    scenarios.save_spec_review(session, SpecFacts.model_validate(step.facts), step.mirror.occurred_at)


def write_label_facts(session: Session, step: CaseStep) -> None:
    facts = LabelFacts.model_validate(step.facts)
    if facts.expired_at is not None:
        scenarios.expire_label(session, facts.scenario_case_id, facts.expired_at)


FACTS_WRITERS = {CASE_TYPE: write_case_facts, LABEL_CASE_TYPE: write_label_facts, SPEC_CASE_TYPE: write_spec_facts}


class ScenarioActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=CHECK_SCENARIO_APPLICATION)
    def check_scenario_application(self, req: ApplicationCheck) -> ApplicationChecked:
        """The workflow's own check of the self-assessment (the API checked it too, but data may have moved)."""
        with transaction(self.session_factory) as session:
            case = session.scalar(select(ScenarioCase).where(ScenarioCase.case_id == req.case_id))
            assessment = session.get(SelfAssessment, req.self_assessment_id)
            if case is None or assessment is None or assessment.scenario_id != req.scenario_id:
                raise _fails(f"self-assessment {req.self_assessment_id} is not one of scenario {req.scenario_id}")
            if assessment.spec_id != case.spec_id:
                raise _fails("a resubmission is assessed against the case's specification version")
            result = scenarios.rescore(session, assessment)
            if not result.passes:
                raise _fails("; ".join(v.message for v in result.refusals()))
            scenarios.set_round(session, req.case_id, req.round_no, assessment.id)
            spec = session.get(EvaluationSpec, case.spec_id)
            scenario = session.get(Scenario, req.scenario_id)
            return ApplicationChecked(
                subject=scenario.name, spec_id=spec.id, spec_version=spec.version, pass_mark=spec.pass_mark,
                self_score=result.total,
                criteria=[ReviewCriterion(code=i.code, name=i.name, max_score=i.weight)
                          for i in spec.items if i.kind == rules.ItemKind.WEIGHTED])

    @activity.defn(name=PUBLISH_SCENARIO_LABEL)
    def publish_scenario_label(self, req: LabelRequest) -> LabelIssued:
        with transaction(self.session_factory) as session:
            return scenarios.issued(scenarios.allocate_label(session, req))


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [ScenarioActivities(session_factory)]
