"""Methodology lifecycle through the HTTP API (SPEC §2.2) on real PostgreSQL and the time-skipping server."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
import pytest_asyncio
import httpx
from sqlalchemy import func, select
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.worker import Worker

from activities import audit as audit_activities
from activities import methodology as methodology_activities
from activities.cases import CaseActivities
from activities.registry import collect
from api.app import create_app
from cli import demo
from cli.demo import load_demo
from cli.main import main as cli_main
from domain.contracts.cases import CASE_STATE_QUERY, CaseView
from domain.contracts.methodology import reevaluation_reminders_id
from domain.methodology import format_factor, parse_factor
from domain.rules import Refusal
from domain.policy import PolicyParameters
from domain.roles import Role
from store import audit, methodology
from store.models.audit import AuditEvent
from store.models.cases import Case
from store.models.documents import Document
from store.models.identity import Organisation
from store.models.notifications import Notification
from tests.conftest import end_running_cases
from tests.methodology_standins import CONCLUDE, StandInActivities, StandInPanelReview, Verdict
from tests import sample_files
from tests.support import eventually, panel_decides
from workflows import methodology as methodology_workflows
from workflows import search_attributes as sa

TABLE = [
    {"code": "metro_km", "name": "Metro ride", "unit": "passenger-km by metro", "factor": "78.4", "daily_cap": 100},
    {"code": "bus_ride", "name": "Bus ride", "unit": "one bus ride", "factor": "150", "daily_cap": 6},
    {"code": "walk_step", "name": "Walking", "unit": "one step walked", "factor": "0.02", "daily_cap": 30000},
]


def personal(**overrides):
    return {"title": "Low-carbon travel of residents", "code_suggestion": "WH-M-TRAVEL", "scope": "personal",
            "domain": "low_carbon_travel", "summary": "Metro, bus and walking instead of driving.",
            "behaviours": TABLE, **overrides}


def project(**overrides):
    return {"title": "Distributed photovoltaic generation", "scope": "project", "domain": "energy_substitution",
            "summary": "Grid electricity displaced by rooftop PV.", **overrides}


class Flow:
    """Drives cases through the HTTP API; review rounds go through the review API: the bureau forms the
    panel and each expert decides its task."""

    def __init__(self, client, temporal, bureau, session_factory, experts):
        self.client = client
        self.temporal = temporal
        self.bureau = bureau
        self.session_factory = session_factory
        self.experts = experts

    async def eventually(self, check, what: str, timeout: float = 15.0):
        return await eventually(check, what, timeout)

    async def registered(self, case_id: str) -> None:
        """The workflow has run its first steps (so the test never ends with an activity in flight)."""
        async def check():
            with self.session_factory() as s:
                return s.get(Case, case_id) is not None
        await self.eventually(check, f"{case_id} registered")

    async def submit(self, actor, body) -> dict:
        r = await self.client.post("/api/v1/methodologies", json=body, headers=actor.headers)
        assert r.status_code == 201, r.text
        await self.registered(r.json()["case_id"])
        return r.json()

    async def get(self, actor, case_no) -> dict:
        r = await self.client.get(f"/api/v1/methodologies/{case_no}", headers=actor.headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def wait_stage(self, actor, case_no, stage) -> dict:
        async def check():
            case = await self.get(actor, case_no)
            return case if case["stage"] == stage else None
        return await self.eventually(check, f"stage {stage}")

    async def post(self, actor, case_no, action, body, status=200) -> dict:
        r = await self.client.post(f"/api/v1/methodologies/{case_no}/{action}", json=body, headers=actor.headers)
        assert r.status_code == status, r.text
        return r.json()

    async def reevaluation(self, no: int, stage: str) -> dict:
        async def check():
            r = await self.client.get(f"/api/v1/methodology-reevaluations/{no}", headers=self.bureau.headers)
            return r.json() if r.json()["stage"] == stage else None
        return await self.eventually(check, f"re-evaluation {no} {stage}")

    async def accept(self, case_no) -> dict:
        return await self.post(self.bureau, case_no, "completeness", {"decision": "accept"})

    async def conclude(self, case: dict, vote: str, comments=("Looks sound.",)) -> None:
        n = len(self.experts)
        await panel_decides(self.client, self.bureau, self.experts, case["review_id"], [vote] * n,
                            comments=[comments[min(i, len(comments) - 1)] for i in range(n)])

    async def reminders(self, version) -> CaseView:
        """The case view of the reminders of a version's re-evaluation date (once they have started)."""
        handle = self.temporal.get_workflow_handle(reevaluation_reminders_id(version.id, version.reevaluation_due))

        async def started():
            with self.session_factory() as s:
                return s.get(Case, handle.id) is not None
        await self.eventually(started, f"{handle.id} started")
        return await handle.query(CASE_STATE_QUERY, result_type=CaseView)

    async def publish(self, actor, case) -> dict:
        await self.conclude(case, "approve")
        await self.wait_stage(actor, case["id"], "publication_decision")
        return await self.post(self.bureau, case["id"], "publication", {"decision": "publish"})


@pytest.fixture
def flow(client, temporal_env, bureau, session_factory, experts, worker) -> Flow:
    return Flow(client, temporal_env.client, bureau, session_factory, experts)


class StandInFlow(Flow):
    """For workflow-logic tests: the stand-in panel concludes with the verdict the test dictates."""

    async def conclude(self, case: dict, vote: str, comments=("Looks sound.",)) -> None:
        await self.temporal.get_workflow_handle(case["review_id"]).execute_update(
            CONCLUDE, Verdict(vote=vote, comments=list(comments)))


@pytest.fixture
def standins() -> StandInActivities:
    return StandInActivities(PolicyParameters())


@asynccontextmanager
async def _standin_flow(env, bureau, session_factory, settings, activity_executor, standins):
    """Methodology workflows with real audit/case/methodology activities and a stand-in review, policy
    and notify, on a task queue of their own, with an API client bound to the same server."""
    queue = f"methodology-{uuid.uuid4().hex[:8]}"
    objects = [audit_activities.AuditActivities(session_factory),
               CaseActivities(session_factory, methodology_activities.FACTS_WRITERS),
               methodology_activities.MethodologyActivities(session_factory), standins]
    w = Worker(env.client, task_queue=queue,
               workflows=[*methodology_workflows.WORKFLOWS, StandInPanelReview], activities=collect(objects),
               activity_executor=activity_executor, workflow_failure_exception_types=[Exception])
    app = create_app(settings.model_copy(update={"task_queue": queue}), session_factory=session_factory,
                     temporal_client=env.client)
    async with w, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield StandInFlow(c, env.client, bureau, session_factory, [])
        await end_running_cases(env.client, session_factory)


@pytest_asyncio.fixture
async def standin_flow(temporal_env, bureau, session_factory, settings, activity_executor, standins):
    async with _standin_flow(temporal_env, bureau, session_factory, settings, activity_executor, standins) as f:
        yield f


@pytest.fixture
def applicant(make_actor):
    return make_actor(Role.APPLICANT)


def notified(session_factory, case_id: str) -> list[str]:
    with session_factory() as s:
        return list(s.scalars(select(Notification.kind).where(
            Notification.case_id == case_id, Notification.kind.startswith("methodology.")).order_by(Notification.id)))


# --- pure rules ---

def test_factors_are_exact_ten_thousandths():
    assert parse_factor("78.4") == 784_000
    assert parse_factor("0.02") == 200
    assert parse_factor("25000") == 250_000_000
    assert parse_factor("0.0001") == 1
    assert format_factor(784_000) == "78.4" and format_factor(200) == "0.02" and format_factor(1_500_000) == "150"
    for bad, rule in (("0", "positive"), ("-1", "positive"), ("1.23456", "max_decimals"), ("x", "decimal"),
                      ("NaN", "decimal"), ("Infinity", "decimal")):
        with pytest.raises(Refusal) as e:
            parse_factor(bad)
        assert e.value.rule == rule


# --- the lifecycle ---

async def test_happy_path_publishes_v1_with_the_behaviour_table(flow, client, applicant, bureau, db):
    case = await flow.submit(applicant, personal())
    assert case["stage"] == "completeness_check" and case["case_id"] == f"methodology-{case['id']}"
    assert case["behaviours"][0] == {"code": "metro_km", "name": "Metro ride", "unit": "passenger-km by metro",
                                     "factor": "78.4", "factor_ten_thousandths": 784_000, "daily_cap": 100}
    # Nothing of a draft is public.
    assert (await client.get("/api/v1/public/methodologies")).json() == []

    case = await flow.accept(case["id"])
    assert case["stage"] == "panel_review" and case["review_id"] == f"{case['case_id']}-review-1"
    assert case["round_no"] == 1
    case = await flow.publish(applicant, case)
    assert case["stage"] == "published"
    assert case["published"] == {"code": "WH-M-TRAVEL-001", "version_no": 1, "version": "v1",
                                 "version_id": case["published"]["version_id"]}  # the id a project names

    public = (await client.get("/api/v1/public/methodologies")).json()
    assert [m["code"] for m in public] == ["WH-M-TRAVEL-001"]
    v1 = public[0]["current_version"]
    assert v1["version"] == "v1" and v1["status"] == "current"
    assert {b["code"]: b["factor_ten_thousandths"] for b in v1["behaviours"]} == {
        "metro_km": 784_000, "bus_ride": 1_500_000, "walk_step": 200}
    assert v1["reevaluation_due"][:4] == str(int(v1["published_at"][:4]) + 2)
    assert "review_id" not in public[0] and "reasons" not in v1  # no reviewers in public

    current = methodology.current_version(db, "WH-M-TRAVEL-001")
    assert current.version_no == 1 and [b.factor_e4 for b in current.behaviours] == [784_000, 1_500_000, 200]
    actions = [e.action for e in audit.trail(db, case["case_id"]) if e.action.startswith("methodology.")]
    assert actions == ["methodology.submitted", "methodology.completeness_accepted", "methodology.panel_approved",
                       "methodology.published"]
    assert db.get(Case, case["case_id"]).stage == "published"
    assert audit.verify(db).ok
    # The case has ended; the reminders of v1's re-evaluation date run on their own.
    await flow.temporal.get_workflow_handle(case["case_id"]).result()
    view = await flow.reminders(current)
    assert view.stage == "scheduled" and view.deadline == current.reevaluation_due
    assert [t.kind for t in view.open_tasks] == ["reevaluation"]


async def test_returned_at_completeness_then_amended_and_resubmitted(flow, applicant, bureau):
    case = await flow.submit(applicant, personal())
    r = await flow.post(bureau, case["id"], "completeness", {"decision": "return"}, status=422)
    assert r["errors"][0]["field"] == "reasons"
    case = await flow.post(bureau, case["id"], "completeness",
                           {"decision": "return", "reasons": "The baseline study is missing."})
    assert case["stage"] == "returned" and case["reasons"] == ["The baseline study is missing."]
    assert case["deadline"] is not None
    case = await flow.post(applicant, case["id"], "resubmission",
                           {**personal(title="Low-carbon travel (with baseline)"), "note": "baseline added"})
    assert case["stage"] == "completeness_check" and case["submission_no"] == 2 and case["reasons"] == []
    assert case["title"] == "Low-carbon travel (with baseline)" and case["deadline"] is None
    case = await flow.accept(case["id"])
    assert case["stage"] == "panel_review"


async def test_two_revision_rounds_then_approval(flow, applicant, bureau, session_factory):
    case = await flow.submit(applicant, personal())
    case = await flow.accept(case["id"])
    for round_no in (1, 2):
        comments = [f"Round {round_no}: justify the bus factor.", "Cite sources.", "Fine otherwise."]
        await flow.conclude(case, "revise", comments)
        case = await flow.wait_stage(applicant, case["id"], "revision")
        assert case["reasons"] == comments
        assert case["deadline"] is not None
        case = await flow.post(applicant, case["id"], "resubmission", personal(summary=f"Revision {round_no}"))
        assert case["stage"] == "panel_review" and case["round_no"] == round_no + 1
    case = await flow.publish(applicant, case)
    assert case["stage"] == "published" and case["round_no"] == 3 and case["summary"] == "Revision 2"
    assert notified(session_factory, case["case_id"]) == [
        "methodology.revision_requested", "methodology.revision_requested", "methodology.published"]


async def test_revise_after_the_last_round_rejects(standin_flow, applicant, standins):
    flow = standin_flow
    standins.policy = PolicyParameters(max_revision_rounds=1)
    case = await flow.accept((await flow.submit(applicant, personal()))["id"])
    await flow.conclude(case, "revise", ["Still unclear."])
    case = await flow.wait_stage(applicant, case["id"], "rejected")
    assert case["reasons"] == ["Still unclear."]


async def test_revision_deadline_missed_withdraws_the_case(flow, applicant, temporal_env, db):
    case = await flow.accept((await flow.submit(applicant, personal()))["id"])
    await flow.conclude(case, "revise", ["Add monitoring data."])
    case = await flow.wait_stage(applicant, case["id"], "revision")
    await temporal_env.sleep(timedelta(days=31))
    case = await flow.wait_stage(applicant, case["id"], "withdrawn")
    events = audit.trail(db, case["case_id"])
    assert events[-1].action == "methodology.withdrawn"
    assert events[-1].details["cause"] == "resubmission_deadline_missed"
    r = await flow.client.post(f"/api/v1/methodologies/{case['id']}/resubmission", json=personal(),
                               headers=applicant.headers)
    assert r.status_code == 409


async def test_panel_rejection_gives_the_panel_reasons(flow, applicant, make_actor):
    case = await flow.accept((await flow.submit(applicant, personal()))["id"])
    expert = flow.experts[0][0]
    assert (await flow.client.get(f"/api/v1/methodologies/{case['id']}", headers=expert.headers)).status_code == 404
    comments = ["Additionality not shown.", "Double counting with ETS.", "Baseline too generous."]
    await flow.conclude(case, "reject", comments)
    case = await flow.wait_stage(applicant, case["id"], "rejected")
    assert case["reasons"] == comments
    assert case["published"] is None
    # Assigned experts read the case they reviewed (and find it in their list); others do not.
    assert (await flow.get(expert, case["id"]))["stage"] == "rejected"
    listed = (await flow.client.get("/api/v1/methodologies", headers=expert.headers)).json()["items"]
    assert [c["id"] for c in listed] == [case["id"]]
    outsider = make_actor(Role.EXPERT)
    r = await flow.client.get(f"/api/v1/methodologies/{case['id']}", headers=outsider.headers)
    assert r.status_code == 404


async def test_applicant_withdraws_during_panel_review(flow, applicant, bureau):
    case = await flow.accept((await flow.submit(applicant, personal()))["id"])
    case = await flow.post(applicant, case["id"], "withdrawal", {"reason": "superseded by a national method"})
    assert case["stage"] == "withdrawn"
    # The same withdrawal again answers as the first did; another one is refused (the case has ended).
    again = await flow.post(applicant, case["id"], "withdrawal", {"reason": "superseded by a national method"})
    assert again == case
    await flow.post(applicant, case["id"], "withdrawal", {}, status=409)
    # The review round ends with the case.
    with pytest.raises(WorkflowFailureError) as ended:
        await asyncio.wait_for(flow.temporal.get_workflow_handle(case["review_id"]).result(), 10)
    assert isinstance(ended.value.cause, CancelledError)
    await flow.post(bureau, case["id"], "completeness", {"decision": "return", "reasons": "x"}, status=409)


async def test_bureau_refuses_publication_with_a_reason(flow, applicant, bureau, client):
    case = await flow.accept((await flow.submit(applicant, personal()))["id"])
    await flow.conclude(case, "approve")
    await flow.wait_stage(applicant, case["id"], "publication_decision")
    r = await flow.post(bureau, case["id"], "publication", {"decision": "reject"}, status=422)
    assert r["errors"][0]["field"] == "reason"
    case = await flow.post(bureau, case["id"], "publication",
                           {"decision": "reject", "reason": "Overlaps WH-M-TRAVEL-001."})
    assert case["stage"] == "rejected" and case["reasons"] == ["Overlaps WH-M-TRAVEL-001."]
    await flow.post(bureau, case["id"], "publication", {"decision": "publish"}, status=409)
    assert (await client.get("/api/v1/public/methodologies")).json() == []


async def test_bureau_registers_a_commissioned_project_methodology(flow, bureau, make_actor):
    case = await flow.submit(bureau, project())
    assert case["commissioned"] is True and case["behaviours"] == []
    other_bureau = make_actor(Role.BUREAU_ADMIN)
    case = await flow.accept(case["id"])
    case = await flow.publish(other_bureau, case)
    assert case["published"]["code"] == "WH-M-ENERGY-001"
    # The applicant side of a commissioned case is the bureau: an applicant cannot even see it.
    outsider = make_actor(Role.APPLICANT)
    r = await flow.client.post(f"/api/v1/methodologies/{case['id']}/withdrawal", json={}, headers=outsider.headers)
    assert r.status_code == 404


async def test_search_attributes_follow_the_stage_on_the_dev_server(
        local_temporal_env, bureau, applicant, session_factory, settings, activity_executor, standins):
    """The admin view lists cases by search attribute: checked on the dev server (the test server cannot)."""
    async with _standin_flow(local_temporal_env, bureau, session_factory, settings, activity_executor,
                             standins) as flow:
        case = await flow.submit(applicant, personal())
        handle = local_temporal_env.client.get_workflow_handle(case["case_id"])

        async def attributes(stage):
            found = (await handle.describe()).typed_search_attributes
            return found if found.get(sa.CASE_STAGE) == stage else None
        found = await flow.eventually(lambda: attributes("completeness_check"), "completeness_check")
        assert found.get(sa.CASE_TYPE) == "methodology" and found.get(sa.CASE_NUMBER) == case["case_id"]
        case = await flow.post(bureau, case["id"], "completeness", {"decision": "return", "reasons": "annex"})
        found = await flow.eventually(lambda: attributes("returned"), "returned")
        assert found.get(sa.CASE_DEADLINE).isoformat() == case["deadline"].replace("Z", "+00:00")
        await flow.post(applicant, case["id"], "resubmission", personal())
        found = await flow.eventually(lambda: attributes("completeness_check"), "resubmitted")
        assert found.get(sa.CASE_DEADLINE) is None


# --- re-evaluation ---

async def _published_personal(flow, applicant) -> dict:
    case = await flow.accept((await flow.submit(applicant, personal()))["id"])
    return await flow.publish(applicant, case)


async def test_reevaluation_publishes_v2_and_supersedes_v1(flow, applicant, bureau, client, db):
    case = await _published_personal(flow, applicant)
    v1 = methodology.current_version(db, "WH-M-TRAVEL-001")
    r = await client.post("/api/v1/methodology-reevaluations", json={"code": "WH-M-TRAVEL-001", "reason": "2 years"},
                          headers={**bureau.headers, "Idempotency-Key": "re-1"})
    assert r.status_code == 201, r.text
    reeval = r.json()
    assert reeval["stage"] == "open" and reeval["version_no"] == 1
    r = await client.post("/api/v1/methodology-reevaluations", json={"code": "WH-M-TRAVEL-001", "reason": "again"},
                          headers=bureau.headers)
    assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "one_open_reevaluation"

    table = [{**TABLE[0], "factor": "80.1234"}, TABLE[1]]
    bad = await client.post(f"/api/v1/methodology-reevaluations/{reeval['id']}/decision", headers=bureau.headers,
                            json={"outcome": "revise", "reason": "new grid factor",
                                  "revised": personal(behaviours=[{**TABLE[0], "factor": "1.00001"}])})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "revised.behaviours.0.factor"
    r = await client.post(f"/api/v1/methodology-reevaluations/{reeval['id']}/decision", headers=bureau.headers,
                          json={"outcome": "revise", "reason": "new grid factor",
                                "revised": personal(title="Low-carbon travel 2", behaviours=table)})
    assert r.status_code == 200, r.text
    # Art. 7 with Art. 11: the revised version goes to an expert panel before it is published.
    assert r.json()["stage"] == "panel_review" and r.json()["new_version_no"] is None
    assert (await client.get("/api/v1/public/methodologies/WH-M-TRAVEL-001")).json()["current_version"][
        "version"] == "v1"
    await flow.conclude(r.json(), "approve")
    revised = await flow.reevaluation(reeval["id"], "revised")
    assert revised["new_version_no"] == 2

    detail = (await client.get("/api/v1/public/methodologies/WH-M-TRAVEL-001")).json()
    assert [(v["version"], v["status"]) for v in detail["versions"]] == [("v1", "superseded"), ("v2", "current")]
    assert detail["current_version"]["behaviours"][0]["factor"] == "80.1234"
    old = (await client.get("/api/v1/public/methodologies/WH-M-TRAVEL-001/versions/1")).json()
    assert old["status"] == "superseded" and old["behaviours"][0]["factor"] == "78.4"
    # New users take v2; those who took v1 keep reading it.
    db.expire_all()
    assert methodology.current_version(db, "WH-M-TRAVEL-001").version_no == 2
    assert methodology.version(db, "WH-M-TRAVEL-001", 1).id == v1.id
    # Reminders now follow v2's re-evaluation date.
    v2 = methodology.current_version(db, "WH-M-TRAVEL-001")
    view = await flow.reminders(v2)
    assert view.deadline == v2.reevaluation_due and view.open_tasks[0].kind == "reevaluation"


async def test_reevaluation_confirms_or_retires(flow, applicant, bureau, client, db, temporal_env):
    await _published_personal(flow, applicant)
    first_due = methodology.current_version(db, "WH-M-TRAVEL-001").reevaluation_due
    await temporal_env.sleep(timedelta(days=30))
    opened = (await client.post("/api/v1/methodology-reevaluations", headers=bureau.headers,
                                json={"code": "WH-M-TRAVEL-001", "reason": "due"})).json()
    r = await client.post(f"/api/v1/methodology-reevaluations/{opened['id']}/decision", headers=bureau.headers,
                          json={"outcome": "confirm", "reason": "still sound"})
    assert r.status_code == 200 and r.json()["stage"] == "confirmed"
    db.expire_all()
    assert methodology.current_version(db, "WH-M-TRAVEL-001").reevaluation_due >= first_due + timedelta(days=30)
    r = await client.post(f"/api/v1/methodology-reevaluations/{opened['id']}/decision", headers=bureau.headers,
                          json={"outcome": "retire", "reason": "changed my mind"})
    assert r.status_code == 409

    second = (await client.post("/api/v1/methodology-reevaluations", headers=bureau.headers,
                                json={"code": "WH-M-TRAVEL-001", "reason": "metro data outdated"})).json()
    r = await client.post(f"/api/v1/methodology-reevaluations/{second['id']}/decision", headers=bureau.headers,
                          json={"outcome": "retire", "reason": "replaced by the national method"})
    assert r.status_code == 200 and r.json()["stage"] == "retired"
    db.expire_all()
    assert methodology.current_version(db, "WH-M-TRAVEL-001") is None
    assert (await client.get("/api/v1/public/methodologies")).json() == []
    retired = (await client.get("/api/v1/public/methodologies?include_retired=true")).json()
    assert retired[0]["status"] == "retired"


async def test_bureau_is_reminded_ahead_of_reevaluation(flow, applicant, bureau, temporal_env, session_factory):
    case_id = (await _published_personal(flow, applicant))["case_id"]
    for _ in range(22):  # ~660 days: the reminder is due 60 days before the 2-year re-evaluation date
        await temporal_env.sleep(timedelta(days=30))

    def reminders():
        return [k for k in notified(session_factory, case_id) if k.startswith("methodology.reevaluation")]
    assert reminders() == []
    await temporal_env.sleep(timedelta(days=15))

    async def sent():
        return reminders()
    assert await flow.eventually(sent, "reminder") == ["methodology.reevaluation_due_soon"]
    inbox = (await flow.client.get("/api/v1/notifications", headers=bureau.headers)).json()
    assert "methodology.reevaluation_due_soon" in [i["kind"] for i in inbox["items"]]


# --- refusals ---

@pytest.mark.parametrize("behaviours, field, rule", [
    ([TABLE[0], {**TABLE[1], "code": "metro_km"}], "behaviours.1.code", "unique"),
    ([{**TABLE[0], "factor": "0"}], "behaviours.0.factor", "positive"),
    ([{**TABLE[0], "factor": "-3"}], "behaviours.0.factor", "positive"),
    ([{**TABLE[0], "factor": "78.40001"}], "behaviours.0.factor", "max_decimals"),
    ([{**TABLE[0], "factor": 78.4}], "behaviours.0.factor", "value_error"),
    ([{**TABLE[0], "unit": ""}], "behaviours.0.unit", "required"),
    ([{k: v for k, v in TABLE[0].items() if k != "unit"}], "behaviours.0.unit", "required"),
    ([{**TABLE[0], "daily_cap": 0}], "behaviours.0.daily_cap", "positive_integer"),
    ([], "behaviours", "required_for_personal_scope"),
])
async def test_invalid_behaviour_tables_are_refused_with_the_field(client, applicant, behaviours, field, rule, db):
    r = await client.post("/api/v1/methodologies", json=personal(behaviours=behaviours), headers=applicant.headers)
    assert r.status_code == 422, r.text
    assert {"field": field, "rule": rule} in [{"field": e["field"], "rule": e["rule"]} for e in r.json()["errors"]]
    assert (await client.get("/api/v1/methodologies", headers=applicant.headers)).json()["items"] == []


async def test_project_scope_with_a_table_is_refused(client, applicant):
    r = await client.post("/api/v1/methodologies", json=project(behaviours=TABLE), headers=applicant.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0] == {"field": "behaviours", "rule": "not_allowed_for_project_scope",
                                     "message": "a project methodology has no behaviour table"}


async def test_create_is_idempotent_with_a_key(flow, client, applicant):
    h = {**applicant.headers, "Idempotency-Key": "m-1"}
    first = await client.post("/api/v1/methodologies", json=personal(), headers=h)
    again = await client.post("/api/v1/methodologies", json=personal(), headers=h)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"] and again.headers["idempotent-replayed"] == "true"
    await flow.registered(first.json()["case_id"])
    other = await client.post("/api/v1/methodologies", json=personal(title="Other"), headers=h)
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert len((await client.get("/api/v1/methodologies", headers=applicant.headers)).json()["items"]) == 1


async def test_roles_and_organisations_are_refused(flow, client, applicant, bureau, operator, make_actor, db):
    url = "/api/v1/methodologies"
    assert (await client.post(url, json=personal())).status_code == 401
    for role in (Role.OPERATOR_ADMIN, Role.EXPERT, Role.VERIFIER, Role.INDIVIDUAL):
        assert (await client.post(url, json=personal(), headers=make_actor(role).headers)).status_code == 403
    case = await flow.submit(applicant, personal())
    n = case["id"]
    rival = make_actor(Role.APPLICANT)
    colleague = make_actor(Role.APPLICANT, org=db.get(Organisation, applicant.user.organisation_id))
    # Reading: own organisation and authorities; another organisation gets 404 (drafts stay private).
    assert (await client.get(f"{url}/{n}", headers=colleague.headers)).status_code == 200
    assert (await client.get(f"{url}/{n}", headers=operator.headers)).status_code == 200
    assert (await client.get(f"{url}/{n}", headers=rival.headers)).status_code == 404
    assert (await client.get(f"{url}/{n}", headers=make_actor(Role.EXPERT).headers)).status_code == 404
    # Bureau decisions: not by applicants or the operator.
    for actor in (applicant, operator):
        await flow.post(actor, n, "completeness", {"decision": "accept"}, status=403)
        await flow.post(actor, n, "publication", {"decision": "publish"}, status=403)
    # Applicant actions: not by another organisation (404) nor by the bureau on an applicant's case (403).
    await flow.post(rival, n, "withdrawal", {}, status=404)
    r = await flow.post(bureau, n, "withdrawal", {}, status=403)
    assert "applicant" in r["detail"]
    await flow.post(operator, n, "withdrawal", {}, status=403)
    # Wrong stage: 409.
    await flow.post(applicant, n, "resubmission", personal(), status=409)
    await flow.post(bureau, n, "publication", {"decision": "publish"}, status=409)
    await flow.accept(n)
    await flow.post(bureau, n, "completeness", {"decision": "return", "reasons": "late"}, status=409)
    # Re-evaluation is the bureau's.
    for actor in (applicant, operator):
        r = await client.post("/api/v1/methodology-reevaluations", json={"code": "WH-M-TRAVEL-001", "reason": "x"},
                              headers=actor.headers)
        assert r.status_code == 403
    r = await client.post("/api/v1/methodology-reevaluations", json={"code": "WH-M-NONE-001", "reason": "x"},
                          headers=bureau.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code"


async def test_suspended_organisation_cannot_act(flow, client, applicant, bureau):
    case = await flow.submit(applicant, personal())
    r = await client.post(f"/api/v1/organisations/{applicant.user.organisation_id}/suspend",
                          json={"reason": "sanction"}, headers=bureau.headers)
    assert r.status_code == 200
    await flow.post(applicant, case["id"], "withdrawal", {}, status=403)


async def test_list_filters_and_keyset_pagination(flow, client, applicant, bureau, make_actor):
    made = [await flow.submit(applicant, personal(title=f"M{i}")) for i in range(3)]
    await flow.submit(applicant, project())
    await flow.submit(make_actor(Role.APPLICANT), personal(title="someone else's"))
    await flow.accept(made[0]["id"])

    page = (await client.get("/api/v1/methodologies?scope=personal&limit=2", headers=applicant.headers)).json()
    assert [c["title"] for c in page["items"]] == ["M0", "M1"] and page["next_after"] == made[1]["id"]
    page = (await client.get(f"/api/v1/methodologies?scope=personal&limit=2&after={page['next_after']}",
                             headers=applicant.headers)).json()
    assert [c["title"] for c in page["items"]] == ["M2"] and page["next_after"] is None
    staged = (await client.get("/api/v1/methodologies?stage=panel_review", headers=applicant.headers)).json()
    assert [c["title"] for c in staged["items"]] == ["M0"]
    by_domain = (await client.get("/api/v1/methodologies?domain=energy_substitution", headers=bureau.headers)).json()
    assert [c["scope"] for c in by_domain["items"]] == ["project"]
    everything = (await client.get("/api/v1/methodologies", headers=bureau.headers)).json()
    assert len(everything["items"]) == 5
    r = await client.get("/api/v1/methodologies?stage=nonsense", headers=bureau.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "stage"


async def _upload(client, actor) -> int:
    r = await client.post("/api/v1/documents", files={"file": ("method.pdf", sample_files.pdf(),
                                                                 "application/pdf")},
                          data={"kind": "report"}, headers=actor.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_documents_are_attached_on_submission_and_resubmission(flow, client, applicant, bureau, make_actor,
                                                                      session_factory):
    own = await _upload(client, applicant)
    foreign = await _upload(client, make_actor(Role.APPLICANT))
    r = await client.post("/api/v1/methodologies", json=personal(document_ids=[own, foreign]),
                          headers=applicant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "document_ids"
    case = await flow.submit(applicant, personal(document_ids=[own]))
    assert case["document_ids"] == [own]
    case = await flow.post(bureau, case["id"], "completeness", {"decision": "return", "reasons": "add the data"})
    annex = await _upload(client, applicant)
    case = await flow.post(applicant, case["id"], "resubmission", personal(document_ids=[own, annex]))
    assert case["document_ids"] == [own, annex]
    with session_factory() as s:
        assert {d.id for d in s.scalars(select(Document).where(Document.case_id == case["case_id"]))} == {own, annex}
    # A refused resubmission attaches nothing.
    late = await _upload(client, applicant)
    await flow.post(applicant, case["id"], "resubmission", personal(document_ids=[late]), status=409)
    with session_factory() as s:
        assert s.get(Document, late).case_id is None


# --- demo data ---

async def test_demo_publishes_both_methodologies_through_the_workflow(client, bureau, worker, session_factory):
    result = await load_demo(client, bureau.token)
    assert result.published == {demo.PERSONAL["title"]: "WH-M-TRAVEL-001 v1",
                                 demo.PROJECT["title"]: "WH-M-ENERGY-001 v1"}
    public = {m["code"]: m for m in (await client.get("/api/v1/public/methodologies")).json()}
    table = public["WH-M-TRAVEL-001"]["current_version"]["behaviours"]
    assert len(table) == 9
    assert {b["code"]: (b["factor"], b["daily_cap"]) for b in table}["walk_step"] == ("0.02", 30000)
    assert public["WH-M-ENERGY-001"]["scope"] == "project"
    with session_factory() as s:  # through the workflow: each publication is audited by it
        assert s.scalar(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action == "methodology.published")) == 2
    # Running it again finishes nothing twice.
    again = await load_demo(client, bureau.token)
    assert again.published == result.published and again.organisations == result.organisations
    assert len((await client.get("/api/v1/methodologies", headers=bureau.headers)).json()["items"]) == 2
    # Personal reductions: a source, a bound resident, one accounted batch. (On the time-skipping server the
    # methodology's publication lies ahead of the wall clock the rides are stamped with, so here they may
    # predate the version in force: `unknown_behaviour`; tests/test_personal.py covers the credits.)
    assert sum(result.batch["counts"].values()) == 4 and result.batch["status"] != "received"
    assert again.batch["batch_id"] == result.batch["batch_id"] and again.resident_account == result.resident_account


def test_demo_command_needs_a_token(monkeypatch, capsys):
    monkeypatch.delenv("TANPUHUI_TOKEN", raising=False)
    assert cli_main(["demo", "--api-url", "http://127.0.0.1:9"]) == 2
    assert "bureau_admin token" in capsys.readouterr().err


# --- idempotent actions and the panel rule, as in every process ---

async def test_publish_and_reject_at_once_one_wins_and_an_identical_retry_answers_the_first(
        flow, applicant, bureau, db):
    case = await flow.submit(applicant, personal())
    accepted = await flow.accept(case["id"])
    assert await flow.accept(case["id"]) == accepted  # the same request again, while the case runs
    await flow.conclude(accepted, "approve")
    await flow.wait_stage(applicant, case["id"], "publication_decision")
    url = f"/api/v1/methodologies/{case['id']}/publication"
    publish, reject = await asyncio.gather(
        flow.client.post(url, json={"decision": "publish"}, headers=bureau.headers),
        flow.client.post(url, json={"decision": "reject", "reason": "Overlaps another method."},
                         headers=bureau.headers))
    assert sorted([publish.status_code, reject.status_code]) == [200, 409], (publish.text, reject.text)
    winner, loser = (publish, reject) if publish.status_code == 200 else (reject, publish)
    final = "published" if winner is publish else "rejected"
    assert winner.json()["stage"] == final and f"'{final}'" in loser.json()["detail"]
    assert loser.headers["content-type"].startswith("application/problem+json")
    # Once the case has ended: the winner's request again answers the first result, the other is refused.
    await flow.temporal.get_workflow_handle(case["case_id"]).result()
    body = {"decision": "publish"} if winner is publish else {"decision": "reject", "reason": "Overlaps another method."}
    again = await flow.client.post(url, json=body, headers=bureau.headers)
    assert (again.status_code, again.json()["stage"]) == (200, final)
    other = {"decision": "reject", "reason": "Overlaps another method."} if winner is publish else {"decision": "publish"}
    assert (await flow.client.post(url, json=other, headers=bureau.headers)).status_code == 409
    decided = [e.action for e in audit.trail(db, case["case_id"])
               if e.action in ("methodology.published", "methodology.rejected")]
    assert decided == [f"methodology.{final}"]


async def test_with_revise_after_last_round_decision_the_bureau_decides_but_cannot_publish(
        standin_flow, applicant, standins, bureau):
    flow = standin_flow
    standins.policy = PolicyParameters(max_revision_rounds=1, revise_after_last_round="decision")
    case = await flow.accept((await flow.submit(applicant, personal()))["id"])
    await flow.conclude(case, "revise", ["Still unclear."])
    await flow.wait_stage(applicant, case["id"], "publication_decision")
    r = await flow.post(bureau, case["id"], "publication", {"decision": "publish"}, status=422)
    assert "did not approve" in r["detail"] and r["errors"][0]["rule"] == "art11.panel_approval"
    case = await flow.post(bureau, case["id"], "publication", {"decision": "reject", "reason": "Not approved."})
    assert case["stage"] == "rejected"
