"""The applicant's scenario pages (SPEC §2.3, Art. 12–13): its scenarios and a form to draft one; a
scenario's page with the self-assessment against the category's current published specification and
the application for evaluation once a self-assessment passes. Every form calls the API's own route
(api/routes/scenarios.py): its visibility (own organisation only), the specification's checks
(gates, weights, the pass mark), its idempotency keys and the case workflow it starts."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from api.case_actions import CaseActions
from api.deps import DbSession, SettingsDep, get_temporal
from api.errors import Problem
from api.routes import scenarios as scenario_routes
from api.schemas.scenarios import ApplicationCreate, ScenarioCreate, SelfAssessmentCreate
from domain.rules import Refusal
from domain.roles import Role
from domain.scenario import ItemKind, ScenarioCategory, WuhanDistrict
from store import scenarios as scenario_store
from store.models.identity import User
from store.models.scenario import ScenarioCase, SelfAssessment
from web.auth import roles_page
from web.pages.common import as_problem, body, form_of, page_router, see_other, text
from web.render import render

router = page_router()
ApplicantUser = Annotated[User, Depends(roles_page(Role.APPLICANT))]  # the API's drafting role


def _choices() -> dict[str, Any]:
    return {"categories": list(ScenarioCategory), "districts": list(WuhanDistrict)}


def _list_page(request: Request, session, user: User, *, values: dict | None = None,
               error: Problem | None = None, key: str | None = None, status: int = 200):
    items = scenario_routes.list_scenarios(session, user)
    session.rollback()
    return render(request, "applicant/scenarios.html", {
        **_choices(), "items": items, "values": values or {}, "error": error, "key": key or uuid.uuid4().hex},
        status=status)


@router.get("/my/scenarios")
def my_scenarios(request: Request, session: DbSession, user: ApplicantUser):
    return _list_page(request, session, user)


@router.post("/my/scenarios")
async def draft_scenario(request: Request, session: DbSession, user: ApplicantUser):
    form = await form_of(request)
    values = {k: text(form, k) for k in ("name", "category", "address", "district", "behaviour_description")}
    key = text(form, "idempotency_key")[:200] or None

    def create() -> int:
        parsed = body(ScenarioCreate, name=values["name"], category=values["category"] or None,
                      address=values["address"], district=values["district"] or None,
                      behaviour_description=values["behaviour_description"])
        return json.loads(scenario_routes.create_scenario(parsed, session, user, idempotency_key=key).body)["id"]

    try:
        scenario_id = await run_in_threadpool(create)
    except (Problem, Refusal) as refused:
        session.rollback()
        return await run_in_threadpool(lambda: _list_page(request, session, user, values=values,
                                                          error=as_problem(refused), key=key, status=refused.status))
    return see_other(f"/my/scenarios/{scenario_id}")


def _scenario_page(request: Request, session, user: User, scenario_id: int, *, error: Problem | None = None,
                   values: dict | None = None, status: int = 200):
    scenario = scenario_routes.get_scenario(scenario_id, session, user)  # own organisation, else 404
    spec = scenario_store.current_spec(session, scenario.category)
    assessments = list(session.scalars(select(SelfAssessment).where(SelfAssessment.scenario_id == scenario.id)
                                       .order_by(SelfAssessment.id.desc()).limit(20)))
    cases = list(session.scalars(select(ScenarioCase).where(ScenarioCase.scenario_id == scenario.id)
                                 .order_by(ScenarioCase.id.desc())))
    open_case = next((c for c in cases if c.closed_at is None), None)
    # The application takes the newest self-assessment if it passes against the current specification
    # (the API rescores it and refuses otherwise; the page only offers what it would take).
    latest = assessments[0] if assessments else None
    applicable = latest if (latest is not None and spec is not None and latest.spec_id == spec.id and latest.passes
                            and open_case is None) else None
    ctx = {"s": scenario, "spec": spec, "items": list(spec.items) if spec else [], "assessments": assessments,
           "cases": cases, "applicable": applicable, "error": error, "values": values or {},
           "key": uuid.uuid4().hex, **_choices()}
    session.rollback()
    return render(request, "applicant/scenario.html", ctx, status=status)


@router.get("/my/scenarios/{scenario_id}")
def scenario_page(request: Request, scenario_id: int, session: DbSession, user: ApplicantUser):
    return _scenario_page(request, session, user, scenario_id)


async def _refused(request: Request, session, user: User, scenario_id: int, refused: Problem | Refusal):
    """The scenario page with the API's refusal on it (a 404 stays the 404 page)."""
    session.rollback()
    if refused.status == 404:
        raise refused
    return await run_in_threadpool(lambda: _scenario_page(request, session, user, scenario_id,
                                                          error=as_problem(refused), status=refused.status))


@router.post("/my/scenarios/{scenario_id}/self-assessments")
async def self_assess(request: Request, scenario_id: int, session: DbSession, user: ApplicantUser):
    form = await form_of(request)
    key = text(form, "idempotency_key")[:200] or None

    def create() -> None:
        scenario = scenario_routes.get_scenario(scenario_id, session, user)
        spec = scenario_store.current_spec(session, scenario.category)
        answers = []
        for item in spec.items if spec else []:
            comment = text(form, f"comment-{item.code}") or None
            if ItemKind(item.kind) == ItemKind.GATE:
                answers.append({"code": item.code, "passed": text(form, f"passed-{item.code}") == "yes",
                                "comment": comment})
            else:
                raw = text(form, f"score-{item.code}")
                answers.append({"code": item.code, "score": int(raw) if raw.lstrip("-").isdigit() else None,
                                "comment": comment})
        parsed = body(SelfAssessmentCreate, items=answers)
        scenario_routes.create_self_assessment(scenario_id, parsed, session, user, idempotency_key=key)

    try:
        await run_in_threadpool(create)
    except (Problem, Refusal) as refused:
        return await _refused(request, session, user, scenario_id, refused)
    return see_other(f"/my/scenarios/{scenario_id}#assessments")


@router.post("/my/scenarios/{scenario_id}/applications")
async def apply_for_evaluation(request: Request, scenario_id: int, session: DbSession, user: ApplicantUser,
                               settings: SettingsDep):
    form = await form_of(request)
    key = text(form, "idempotency_key")[:200] or None
    try:
        assessment = text(form, "self_assessment_id")
        parsed = body(ApplicationCreate, self_assessment_id=assessment or None)
        answer = await scenario_routes.apply(scenario_id, parsed, session, user,
                                             CaseActions(request, await get_temporal(request)), settings,
                                             idempotency_key=key)
    except (Problem, Refusal) as refused:
        return await _refused(request, session, user, scenario_id, refused)
    case_id = json.loads(answer.body)["case_id"] if isinstance(answer, Response) else answer.case_id
    return see_other(f"/cases/{case_id}")
