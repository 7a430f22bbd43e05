"""Scenarios (SPEC §2.3, Art. 12–16): evaluation specs, scenario drafts and self-assessments,
evaluation applications (one `ScenarioEvaluation` workflow per case) and the public label register."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from fastapi.concurrency import run_in_threadpool

from api.case_actions import Actions, CaseActions
from api.case_actions import actor_of as _actor  # the one Actor of a signed-in user
from api.deps import Applicant, CurrentUser, DbSession, Operator, OptionalUser, SettingsDep
from api.errors import Problem, not_found
from api.idempotency import run_once
from api.public import ONE_RESPONSES, public_answer
from api.schemas.scenarios import (
    ApplicationCreate,
    ScenarioCaseOut,
    ScenarioDecisionIn,
    LabelOut,
    LabelStatus,
    ScenarioResubmissionIn,
    ScenarioCreate,
    ScenarioOut,
    SelfAssessmentCreate,
    SelfAssessmentOut,
    SpecCreate,
    SpecOut,
    ScenarioWithdrawalIn,
)
from domain import scenario as rules
from domain.clock import now_utc
from domain.contracts.review import review_workflow_id
from domain.contracts.scenario import (
    SCENARIO_STATE_QUERY,
    SCENARIO_WORKFLOW,
    SPEC_WORKFLOW,
    UPDATE_DECIDE,
    UPDATE_RESUBMIT,
    UPDATE_WITHDRAW,
    OperatorDecision,
    Resubmission,
    ScenarioApplication,
    ScenarioCaseState,
    SpecStart,
    Stage,
    Withdrawal,
    spec_case_id,
)
from domain.roles import AUTHORITIES, Role
from store import audit, cases, policy, scenarios
from store.models.cases import Case
from store.models.identity import Organisation, User
from store.models.scenario import (
    EvaluationSpec,
    Scenario,
    ScenarioCase,
    ScenarioLabel,
    SelfAssessment,
)

router = APIRouter(tags=["scenarios"])


def _is_authority(user: User | None) -> bool:
    return user is not None and Role(user.role) in AUTHORITIES


# --- evaluation specifications (评价规范, Art. 12) ---

@router.post("/scenario-specs", status_code=201, response_model=SpecOut,
             summary="Create a draft evaluation specification (next version of its category)")
def create_spec(body: SpecCreate, session: DbSession, actor: Operator,
                idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None):
    pass_mark = body.pass_mark if body.pass_mark is not None else policy.effective(session, now_utc()).scenario_pass_mark
    items = [scenarios.SpecItemDraft(code=i.code, name=i.name, description=i.description, kind=i.kind, weight=i.weight)
             for i in body.items]
    scenarios.check_spec(items, pass_mark)  # refused before the Idempotency-Key is looked at

    def create():
        spec = scenarios.draft_spec(session, category=body.category.value, title=body.title, pass_mark=pass_mark,
                                    items=items, actor=actor, at=now_utc())
        return SpecOut.model_validate(spec)

    return run_once(session, user=actor, scope="scenario-specs", key=idempotency_key,
                    payload=body.model_dump(mode="json"), create=create)


@router.post("/scenario-specs/{spec_id}/publish", response_model=SpecOut, status_code=202,
             summary="Ask for a draft's publication: the bureau's expert panel evaluates it first (Art. 12)")
async def publish_spec(spec_id: int, session: DbSession, actor: Operator, actions: Actions,
                       settings: SettingsDep):
    def ask() -> tuple[SpecOut, SpecStart]:
        spec = session.scalar(select(EvaluationSpec).where(EvaluationSpec.id == spec_id).with_for_update())
        if spec is None:
            raise not_found(f"evaluation specification {spec_id}")
        scenarios.ask_spec_publication(session, spec, review_workflow_id(spec_case_id(spec.id), 1))
        start = SpecStart(case_id=spec_case_id(spec.id), deployment_id=cases.deployment_id(session), spec_id=spec.id,
                          category=spec.category, version=spec.version, title=spec.title, requested_by=_actor(actor))
        answer = SpecOut.model_validate(spec)
        session.commit()  # before the workflow starts: it finds the spec in review
        return answer, start

    answer, start = await run_in_threadpool(ask)
    if answer.status == "in_review":  # also on a retried request: a start lost after the commit is made good
        await actions.start(SPEC_WORKFLOW, start, id=start.case_id, task_queue=settings.task_queue)
    return answer


@router.get("/scenario-specs", response_model=list[SpecOut],
            summary="Published specifications (public); authorities also see drafts")
def list_specs(session: DbSession, user: OptionalUser, category: rules.ScenarioCategory | None = None,
               current: Annotated[bool, Query(description="only the current version per category")] = False):
    query = select(EvaluationSpec).order_by(EvaluationSpec.category, EvaluationSpec.version)
    if not _is_authority(user) or current:
        query = query.where(EvaluationSpec.status == "published")
    if category is not None:
        query = query.where(EvaluationSpec.category == category.value)
    specs = list(session.scalars(query))
    if current:
        latest: dict[str, EvaluationSpec] = {s.category: s for s in specs}
        specs = list(latest.values())
    return specs


@router.get("/scenario-specs/{spec_id}", response_model=SpecOut)
def get_spec(spec_id: int, session: DbSession, user: OptionalUser):
    spec = session.get(EvaluationSpec, spec_id)
    if spec is None or (spec.status != "published" and not _is_authority(user)):
        raise not_found(f"evaluation specification {spec_id}")
    return spec


# --- scenarios and self-assessments (the scenario operator's own organisation only) ---

def _visible_scenario(session: Session, user: User, scenario_id: int) -> Scenario:
    scenario = session.get(Scenario, scenario_id)
    if scenario is None or (not _is_authority(user) and scenario.organisation_id != user.organisation_id):
        raise not_found(f"scenario {scenario_id}")
    return scenario


@router.post("/scenarios", status_code=201, response_model=ScenarioOut, summary="Draft a scenario (applicant)")
def create_scenario(body: ScenarioCreate, session: DbSession, actor: Applicant,
                    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None):
    def create():
        scenario = Scenario(organisation_id=actor.organisation_id, name=body.name, category=body.category.value,
                            address=body.address, district=body.district.value,
                            behaviour_description=body.behaviour_description, created_by=actor.id)
        session.add(scenario)
        session.flush()
        audit.record(session, action="scenario.drafted", entity_type="scenario", entity_id=scenario.id,
                     occurred_at=now_utc(), actor_user_id=actor.id, actor_role=actor.role,
                     details={"category": scenario.category, "district": scenario.district})
        session.refresh(scenario)
        return ScenarioOut.model_validate(scenario)

    return run_once(session, user=actor, scope="scenarios", key=idempotency_key,
                    payload=body.model_dump(mode="json"), create=create)


@router.get("/scenarios", response_model=list[ScenarioOut],
            summary="Scenarios: an applicant sees its organisation's, authorities see all")
def list_scenarios(session: DbSession, user: CurrentUser):
    query = select(Scenario).order_by(Scenario.id)
    if not _is_authority(user):
        query = query.where(Scenario.organisation_id == user.organisation_id)
    return session.scalars(query).all()


@router.get("/scenarios/{scenario_id}", response_model=ScenarioOut)
def get_scenario(scenario_id: int, session: DbSession, user: CurrentUser):
    return _visible_scenario(session, user, scenario_id)


@router.post("/scenarios/{scenario_id}/self-assessments", status_code=201, response_model=SelfAssessmentOut,
             summary="Self-assess against the current specification of the scenario's category")
def create_self_assessment(scenario_id: int, body: SelfAssessmentCreate, session: DbSession, actor: Applicant,
                           idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None):
    scenario = _visible_scenario(session, actor, scenario_id)

    def create():
        assessment = scenarios.self_assess(session, scenario, [scenarios.AnswerDraft(**a.model_dump()) for a in body.items],
                                           actor, now_utc())
        return SelfAssessmentOut.model_validate(assessment)

    return run_once(session, user=actor, scope=f"scenario-{scenario.id}-self-assessments", key=idempotency_key,
                    payload=body.model_dump(mode="json"), create=create)


@router.get("/scenarios/{scenario_id}/self-assessments/{assessment_id}", response_model=SelfAssessmentOut)
def get_self_assessment(scenario_id: int, assessment_id: int, session: DbSession, user: CurrentUser):
    scenario = _visible_scenario(session, user, scenario_id)
    assessment = session.get(SelfAssessment, assessment_id)
    if assessment is None or assessment.scenario_id != scenario.id:
        raise not_found(f"self-assessment {assessment_id}")
    return assessment


# --- evaluation applications: one workflow per case ---

@router.post("/scenarios/{scenario_id}/applications", status_code=201, response_model=ScenarioCaseOut,
             summary="Apply for evaluation (refused with 422 naming the failing items)")
async def apply(scenario_id: int, body: ApplicationCreate, session: DbSession, actor: Applicant,
                actions: Actions, settings: SettingsDep,
                idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None):
    scenario = await run_in_threadpool(_visible_scenario, session, actor, scenario_id)

    def create():
        case = scenarios.open_application(session, scenario, body.self_assessment_id, actor, now_utc())
        return _case_out(case, ScenarioCaseState(case_id=case.case_id, stage=Stage.CHECKING, round_no=1))

    resp = await run_in_threadpool(
        lambda: run_once(session, user=actor, scope=f"scenario-{scenario.id}-applications", key=idempotency_key,
                         payload=body.model_dump(mode="json"), create=create))
    out = json.loads(resp.body)
    deployment_id = await run_in_threadpool(cases.deployment_id, session)
    app = ScenarioApplication(case_id=out["case_id"], deployment_id=deployment_id, scenario_id=scenario.id,
                                         self_assessment_id=out["self_assessment_id"],
                                         applicant_organisation_id=scenario.organisation_id, actor_user_id=actor.id)
    # Started after the commit so the workflow always finds its case row; a retry (same key) starts it if
    # the first attempt stopped in between.
    await actions.start(SCENARIO_WORKFLOW, app, id=out["case_id"], task_queue=settings.task_queue)
    return resp


def _case_out(case: ScenarioCase, state: ScenarioCaseState | None, mirrored: str | None = None) -> ScenarioCaseOut:
    """The workflow's live state; without it (engine unreachable) the mirrored stage from PostgreSQL. A
    published case reads expired once its label has (the label's own workflow expires it)."""
    stage = state.stage if state else Stage(mirrored or case.outcome or Stage.CHECKING)
    if mirrored == Stage.EXPIRED:
        stage = Stage.EXPIRED
    return ScenarioCaseOut(
        case_id=case.case_id, scenario_id=case.scenario_id, spec_id=case.spec_id,
        self_assessment_id=case.self_assessment_id, round_no=state.round_no if state else case.round_no,
        stage=stage, submitted_at=case.submitted_at,
        deadline=state.deadline if state else None, review_id=state.review_id if state else None,
        outcome=case.outcome, reasons=case.reasons,
        panel_outcome=state.panel_outcome if state else case.panel_outcome,
        panel_mean_score_hundredths=state.panel_mean_score_hundredths if state else case.panel_mean_score_hundredths,
        label_code=state.label_code if state else None, valid_until=state.valid_until if state else None)


def _visible_case(session: Session, user: User, case_id: str) -> ScenarioCase:
    case = session.scalar(select(ScenarioCase).where(ScenarioCase.case_id == case_id))
    if case is None:
        raise not_found(f"scenario case {case_id}")
    _visible_scenario(session, user, case.scenario_id)
    return case


async def _state(actions: CaseActions, case_id: str) -> ScenarioCaseState:
    return await actions.query(case_id, SCENARIO_STATE_QUERY, ScenarioCaseState)


async def _update(session: Session, actions: CaseActions, case: ScenarioCase, name: str, arg: Any) -> ScenarioCaseOut:
    """Send a human action (the kit's update ids: an identical retry answers as the first did, another
    payload for the same step is refused); the workflow's refusal becomes 403/409/422 naming the reason."""
    seq = await run_in_threadpool(cases.seq, session, case.case_id)
    state = await actions.action(case.case_id, name, arg, seq=seq, result_type=ScenarioCaseState)
    row, mirrored = await actions.read(lambda s: (_case_row(s, case.case_id), _mirrored_stage(s, case.case_id)))
    return _case_out(row, state, mirrored)


def _case_row(session: Session, case_id: str) -> ScenarioCase:
    return session.scalar(select(ScenarioCase).where(ScenarioCase.case_id == case_id))


def _mirrored_stage(session: Session, case_id: str) -> str | None:
    mirrored = session.get(Case, case_id)
    return mirrored.stage if mirrored else None


@router.get("/scenario-cases/{case_id}", response_model=ScenarioCaseOut)
async def get_case(case_id: str, session: DbSession, user: CurrentUser, actions: Actions):
    def read() -> tuple[ScenarioCase, str | None]:
        return _visible_case(session, user, case_id), _mirrored_stage(session, case_id)

    case, mirrored = await run_in_threadpool(read)
    try:
        return _case_out(case, await _state(actions, case_id), mirrored)
    except Problem as unanswered:
        if unanswered.status not in (503, 504):
            raise
        return _case_out(case, None, mirrored)


@router.post("/scenario-cases/{case_id}/withdraw", response_model=ScenarioCaseOut,
             summary="Withdraw the application (until publication)")
async def withdraw(case_id: str, body: ScenarioWithdrawalIn, session: DbSession, actor: Applicant, actions: Actions):
    case = await run_in_threadpool(_visible_case, session, actor, case_id)
    return await _update(session, actions, case, UPDATE_WITHDRAW, Withdrawal(actor=_actor(actor), reason=body.reason))


@router.post("/scenario-cases/{case_id}/resubmission", response_model=ScenarioCaseOut,
             summary="Resubmit after the panel asked for revision, with a new self-assessment")
async def resubmit(case_id: str, body: ScenarioResubmissionIn, session: DbSession, actor: Applicant, actions: Actions):
    def check() -> ScenarioCase:
        case = _visible_case(session, actor, case_id)
        scenario = session.get(Scenario, case.scenario_id)
        assessment = scenarios.passing_assessment(session, scenario, body.self_assessment_id, case.spec_id)
        if _mirrored_stage(session, case_id) == Stage.RETURNED:
            scenarios.attach_evidence(session, assessment, case_id, actor)
            session.commit()
        return case

    case = await run_in_threadpool(check)
    return await _update(session, actions, case, UPDATE_RESUBMIT,
                         Resubmission(actor=_actor(actor), self_assessment_id=body.self_assessment_id))


@router.post("/scenario-cases/{case_id}/decision", response_model=ScenarioCaseOut,
             summary="Publish (label, validity, inclusion) or reject with reasons (operator)")
async def decide(case_id: str, body: ScenarioDecisionIn, session: DbSession, actor: Operator, actions: Actions):
    case = await run_in_threadpool(_visible_case, session, actor, case_id)
    return await _update(session, actions, case, UPDATE_DECIDE, OperatorDecision(
        actor=_actor(actor), decision=body.decision, reasons=body.reasons, validity_years=body.validity_years,
        include=body.include))


# --- the public label register (Art. 14, 30) ---

LABEL_TABLES = ("scenario_labels", "scenarios", "organisations")


@router.get("/scenario-labels", response_model=list[LabelOut], summary="Labelled scenarios (public)",
            responses=ONE_RESPONSES)
def list_labels(request: Request, session: DbSession, category: rules.ScenarioCategory | None = None,
                district: rules.WuhanDistrict | None = None, status: LabelStatus | None = None):
    return public_answer(request, session, LABEL_TABLES, lambda: labels(session, category, district, status))


def labels(session: Session, category: rules.ScenarioCategory | None = None,
           district: rules.WuhanDistrict | None = None, status: LabelStatus | None = None) -> list[LabelOut]:
    """The label register's content (also the web page's)."""
    query = (select(ScenarioLabel, Scenario, Organisation.name)
             .join(Scenario, Scenario.id == ScenarioLabel.scenario_id)
             .join(Organisation, Organisation.id == Scenario.organisation_id)
             .order_by(ScenarioLabel.year, ScenarioLabel.seq))
    if category is not None:
        query = query.where(Scenario.category == category.value)
    if district is not None:
        query = query.where(Scenario.district == district.value)
    if status == LabelStatus.VALID:
        query = query.where(ScenarioLabel.expired_at.is_(None))
    elif status == LabelStatus.EXPIRED:
        query = query.where(ScenarioLabel.expired_at.is_not(None))
    return [LabelOut(label_code=label.code, scenario_id=scenario.id, scenario_name=scenario.name,
                     organisation_name=org_name, category=scenario.category, district=scenario.district,
                     valid_from=label.valid_from, valid_until=label.valid_until,
                     status=LabelStatus.EXPIRED if label.expired_at else LabelStatus.VALID)
            for label, scenario, org_name in session.execute(query)]
