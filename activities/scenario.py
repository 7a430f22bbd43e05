"""Scenario activities: re-check the self-assessment, close the case, publish and expire the label."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain import scenario_rules as rules
from domain.contracts.review import ReviewCriterion
from domain.contracts.scenario import (
    CHECK_SCENARIO_APPLICATION,
    CLOSE_SCENARIO_CASE,
    EXPIRE_SCENARIO_LABEL,
    PUBLISH_SCENARIO_LABEL,
    SELF_ASSESSMENT_FAILS,
    ApplicationCheck,
    ApplicationChecked,
    CaseClosure,
    LabelExpiry,
    LabelIssued,
    LabelRequest,
)
from settings import Settings
from store import scenarios
from store.models.scenario import EvaluationSpec, Scenario, ScenarioCase, SelfAssessment
from store.session import transaction


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
                raise ApplicationError(f"self-assessment {req.self_assessment_id} is not one of scenario {req.scenario_id}",
                                       type=SELF_ASSESSMENT_FAILS, non_retryable=True)
            if assessment.spec_id != case.spec_id:
                raise ApplicationError("a resubmission is assessed against the case's specification version",
                                       type=SELF_ASSESSMENT_FAILS, non_retryable=True)
            result = scenarios.rescore(session, assessment)
            if not result.passes:
                raise ApplicationError("; ".join(v.message for v in result.refusals()),
                                       type=SELF_ASSESSMENT_FAILS, non_retryable=True)
            scenarios.set_round(session, req.case_id, req.round_no, assessment.id)
            spec = session.get(EvaluationSpec, case.spec_id)
            scenario = session.get(Scenario, req.scenario_id)
            return ApplicationChecked(
                subject=scenario.name, spec_id=spec.id, spec_version=spec.version, pass_mark=spec.pass_mark,
                self_score=result.total,
                criteria=[ReviewCriterion(code=i.code, name=i.name, max_score=i.weight)
                          for i in spec.items if i.kind == rules.ItemKind.WEIGHTED])

    @activity.defn(name=CLOSE_SCENARIO_CASE)
    def close_scenario_case(self, closure: CaseClosure) -> None:
        with transaction(self.session_factory) as session:
            scenarios.close_case(session, closure)

    @activity.defn(name=PUBLISH_SCENARIO_LABEL)
    def publish_scenario_label(self, req: LabelRequest) -> LabelIssued:
        with transaction(self.session_factory) as session:
            return scenarios.issued(scenarios.allocate_label(session, req))

    @activity.defn(name=EXPIRE_SCENARIO_LABEL)
    def expire_scenario_label(self, req: LabelExpiry) -> None:
        with transaction(self.session_factory) as session:
            scenarios.expire_label(session, req.case_id, req.expired_at)


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [ScenarioActivities(session_factory)]
