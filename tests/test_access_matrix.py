"""Every operation of the OpenAPI, called as anonymous and as every role, on another organisation's objects.

The rules live in tests/access_matrix.py (one row per operation; a route without a row fails here). Black-box:
HTTP calls against the app on a Temporal test server with no worker (actions that would wait answer 504 after a
short wait, which counts as "let through"); objects are made through the API where it can make them.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import httpx
import pytest_asyncio

from api.app import create_app
from domain.roles import OrganisationType, Role
from tests import sample_files
from tests.access_matrix import MATRIX, PUBLIC, Rule
from tests.methodology_rows import publish_methodology

FORBIDDEN_FOR_ANONYMOUS = 401


@dataclass
class World:
    """Objects of organisation A (an enterprise), which none of the callers belongs to."""

    ids: dict[str, object] = field(default_factory=dict)
    case_ids: dict[str, str] = field(default_factory=dict)  # by path prefix


async def _ok(r: httpx.Response, status: int = 201) -> dict:
    assert r.status_code == status, r.text
    return r.json()


@pytest_asyncio.fixture
async def app_client(settings, session_factory, temporal_env):
    quick = settings.model_copy(update={"temporal_wait_seconds": 0.5})
    app = create_app(quick, session_factory=session_factory, temporal_client=temporal_env.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest_asyncio.fixture
async def world(app_client, make_actor, make_org, bureau, operator, session_factory) -> World:
    c = app_client
    org_a = make_org(name=f"A-{uuid.uuid4().hex[:6]}", org_type=OrganisationType.ENTERPRISE)
    owner = make_actor(Role.APPLICANT, org=org_a)
    h = owner.headers
    vb = make_org(org_type=OrganisationType.VERIFICATION_BODY)
    await _ok(await c.post(f"/api/v1/verification-bodies/{vb.id}/accreditations", headers=bureau.headers,
                           json={"reference": "M", "valid_from": "2024-01-01", "valid_until": "2030-12-31"}))
    doc = await _ok(await c.post("/api/v1/documents", headers=h,
                                 files={"file": ("a.pdf", sample_files.pdf(), "application/pdf")}))
    mcase = await _ok(await c.post("/api/v1/methodologies", headers=h, json={
        "title": "A's draft", "scope": "project", "domain": "other", "summary": "s"}))
    code = f"WH-M-MX{uuid.uuid4().hex[:4].upper()}-001"
    publish_methodology(session_factory, code=code)
    project = await _ok(await c.post("/api/v1/projects", headers=h, json={
        "methodology_code": code, "methodology_version": 1, "name": "A's project", "district": "d",
        "site_address": "a", "facility_id": f"F-{uuid.uuid4().hex[:6]}", "start_date": "2024-01-01",
        "description": "d"}))
    icase = await _ok(await c.post(f"/api/v1/projects/{project['id']}/issuance-cases", headers=h, json={
        "period_start": "2024-01-01", "period_end": "2024-12-31", "claimed_tco2e": "10", "benefit_sharing": "b",
        "verifier_organisation_id": vb.id}))
    scenario = await _ok(await c.post("/api/v1/scenarios", headers=h, json={
        "name": "A's shop", "category": "restaurant", "address": "a", "district": "jiang_an",
        "behaviour_description": "d"}))
    spec = await _ok(await c.post("/api/v1/scenario-specs", headers=operator.headers, json=MATRIX[
        "POST /api/v1/scenario-specs"].body))
    await _ok(await c.post(f"/api/v1/scenario-specs/{spec['id']}/publish", headers=operator.headers), 202)  # a publication is asked: the review decides
    expert = make_actor(Role.EXPERT)
    roster = await _ok(await c.post("/api/v1/experts", headers=bureau.headers, json={
        "user_id": expert.id, "name": "Prof. M", "expertise": []}))
    account = await _ok(await c.get("/api/v1/accounts/mine", headers=h), 200)
    tokens = await _ok(await c.get(f"/api/v1/users/{owner.id}/tokens", headers=h), 200)
    return World(
        ids={"org_id": org_a.id, "user_id": owner.id, "token_id": tokens[0]["id"], "document_id": doc["id"],
             "notification_id": 999_999, "expert_id": roster["id"], "review_id": f"{mcase['case_id']}-review-1",
             "task_id": f"{mcase['case_id']}-review-1-task-1", "case_no": mcase["id"], "no": 999_999,
             "code": code, "version_no": 1, "spec_id": spec["id"], "scenario_id": scenario["id"],
             "assessment_id": 999_999, "organisation_id": vb.id, "accreditation_id": 999_999,
             "emitter_id": 999_999, "project_id": project["id"], "notice_id": 999_999, "objection_id": 1,
             "account_number": account["account_number"], "serial": "WH-2024-000001-WH-M-X-001-V1-000000001",
             "year": 2031, "cancellation_id": 999_999, "number": "WH-C-2031-999999",
             "report_id": 999_999, "sanction_id": 999_999, "receipt_code": "no-such-receipt",
             "batch_id": 999_999, "source_id": 999_999, "binding_id": 999_999},
        case_ids={"/api/v1/issuance-cases/": icase["case_id"], "/api/v1/scenario-cases/": "scenario-999999",
                  "": mcase["case_id"]})


def _broken(status: int, let_through: bool) -> bool:
    """Never a 500; 503/504 only for a caller let through to a workflow that cannot answer (no worker here)."""
    return status >= 500 and not (let_through and status in (503, 504))


def _operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [(method.upper(), path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def _url(path: str, world: World) -> str:
    def fill(m: re.Match) -> str:
        name = m.group(1)
        if name == "case_id":
            return next(v for prefix, v in world.case_ids.items() if path.startswith(prefix))
        return str(world.ids[name])
    return re.sub(r"\{(\w+)\}", fill, path)


def _body(value, world: World):
    if isinstance(value, dict):
        return {k: _body(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_body(v, world) for v in value]
    if isinstance(value, str) and re.fullmatch(r"\{\w+\}", value):
        return world.ids[value[1:-1]]
    return value


async def _call(c: httpx.AsyncClient, method: str, path: str, op: dict, rule: Rule, world: World,
                headers: dict) -> httpx.Response:
    kw: dict = {}
    if "requestBody" in op:
        if rule.content_type == "multipart/form-data":
            kw["files"] = {"file": ("m.pdf", sample_files.pdf(), "application/pdf")}
        elif rule.raw is not None:
            kw["content"], headers = rule.raw, {**headers, "Content-Type": rule.content_type}
        else:
            kw["json"] = _body(rule.body or {}, world)
    return await c.request(method, _url(path, world), headers=headers, **kw)


async def test_every_operation_has_a_rule(app_client):
    spec = (await app_client.get("/openapi.json")).json()
    operations = {f"{m} {p}" for m, p, _ in _operations(spec)}
    assert sorted(operations - MATRIX.keys()) == [], "add these operations to tests/access_matrix.py"
    assert sorted(MATRIX.keys() - operations) == [], "these rows of tests/access_matrix.py name no operation"


async def test_every_role_gets_only_what_it_may(app_client, world, make_actor, bureau, operator):
    spec = (await app_client.get("/openapi.json")).json()
    callers = {Role.BUREAU_ADMIN: bureau, Role.OPERATOR_ADMIN: operator}
    for role in Role:
        callers.setdefault(role, make_actor(role))
    wrong: list[str] = []
    for method, path, op in _operations(spec):
        rule = MATRIX[f"{method} {path}"]
        r = await _call(app_client, method, path, op, rule, world, {})
        let_through = PUBLIC in rule.roles
        if _broken(r.status_code, let_through) or let_through == (r.status_code == FORBIDDEN_FOR_ANONYMOUS):
            wrong.append(f"anonymous {method} {path}: {r.status_code}")
        for role, actor in callers.items():
            r = await _call(app_client, method, path, op, rule, world, actor.headers)
            status = r.status_code
            let_through = role in rule.roles and role not in rule.hidden
            if role not in rule.roles:
                ok = status == 403
            elif role in rule.hidden:
                ok = status in (403, 404)
            else:
                ok = status not in (401, 403)
            if not ok or _broken(status, let_through):
                wrong.append(f"{role.value} {method} {path}: {status} {r.text[:160]}")
    assert wrong == [], "\n".join(wrong)
