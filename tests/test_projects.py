"""Project registration and its eligibility refusals (Art. 18, 23, 24)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from domain.roles import Role
from store.models.audit import AuditEvent
from tests.methodology_rows import publish_methodology



@pytest.fixture
def developer(make_actor):
    return make_actor(Role.APPLICANT)


def _project(version_id: int, **overrides) -> dict:
    return {"methodology_version_id": version_id, "name": "Rooftop PV at Plant 3", "district": "Dongxihu",
            "site_address": "3 Industry Road", "facility_id": "FAC-0003", "start_date": "2026-01-01",
            "description": "Distributed solar replacing grid power.", "other_registrations": [], **overrides}


async def test_register_a_project_under_a_current_project_methodology(client, developer, session_factory):
    vid = publish_methodology(session_factory, code="WH-M-PV-001", version_no=2)
    body = _project(vid, other_registrations=[
        {"scheme": "CCER", "registration_id": "CCER-123", "period_start": "2018-01-01", "period_end": "2025-12-31"}])
    r = await client.post("/api/v1/projects", json=body, headers={**developer.headers, "Idempotency-Key": "p1"})
    assert r.status_code == 201, r.text
    project = r.json()
    assert (project["methodology_code"], project["methodology_version"]) == ("WH-M-PV-001", 2)
    assert project["organisation_id"] == developer.user.organisation_id
    assert project["other_registrations"][0]["registration_id"] == "CCER-123"
    again = await client.post("/api/v1/projects", json=body, headers={**developer.headers, "Idempotency-Key": "p1"})
    assert again.json()["id"] == project["id"]
    assert [p["id"] for p in (await client.get("/api/v1/projects")).json()] == [project["id"]]  # public
    assert (await client.get(f"/api/v1/projects/{project['id']}")).json()["name"] == body["name"]
    with session_factory() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "project.registered")).all()
    assert [e.entity_id for e in events] == [str(project["id"])]  # audited once, replay included


@pytest.mark.parametrize("kind,rule", [
    ("unpublished", "published"), ("personal", "project_scope"), ("superseded", "current"),
    ("retired", "current")])
async def test_methodology_must_be_published_current_and_of_project_scope(
        client, developer, session_factory, kind, rule):
    vid = {
        "unpublished": lambda: 999_999,
        "personal": lambda: publish_methodology(session_factory, scope="personal"),
        "superseded": lambda: publish_methodology(session_factory, version_status="superseded"),
        "retired": lambda: publish_methodology(session_factory, methodology_status="retired"),
    }[kind]()
    r = await client.post("/api/v1/projects", json=_project(vid), headers=developer.headers)
    assert r.status_code == 422
    error = r.json()["errors"][0]
    assert (error["field"], error["rule"]) == ("methodology_version_id", rule)
    assert (await client.get("/api/v1/projects")).json() == []


async def test_key_emitter_may_not_register_inside_its_boundary(client, developer, session_factory, bureau):
    vid = publish_methodology(session_factory)
    org = developer.user.organisation_id
    listing = {"organisation_id": org, "scheme": "national", "boundary_facility_ids": ["FAC-0003"],
               "effective_from": "2021-01-01"}
    assert (await client.post("/api/v1/key-emitters", json=listing, headers=bureau.headers)).status_code == 201
    r = await client.post("/api/v1/projects", json=_project(vid), headers=developer.headers)
    assert r.status_code == 422
    error = r.json()["errors"][0]
    assert (error["field"], error["rule"]) == ("facility_id", "art23.key_emitter_boundary")
    assert "Art. 23" in error["message"]
    # Outside the boundary, the same developer may register.
    r = await client.post("/api/v1/projects", json=_project(vid, facility_id="FAC-0099"), headers=developer.headers)
    assert r.status_code == 201


async def test_key_emitter_listing_that_ended_before_the_start_does_not_refuse(
        client, developer, session_factory, bureau):
    vid = publish_methodology(session_factory)
    listing = {"organisation_id": developer.user.organisation_id, "scheme": "hubei",
               "boundary_facility_ids": ["FAC-0003"], "effective_from": "2019-01-01", "effective_until": "2025-12-31"}
    await client.post("/api/v1/key-emitters", json=listing, headers=bureau.headers)
    r = await client.post("/api/v1/projects", json=_project(vid), headers=developer.headers)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("period_end", [None, "2026-06-30"])
async def test_other_scheme_registration_for_an_overlapping_period_is_refused(
        client, developer, session_factory, period_end):
    vid = publish_methodology(session_factory)
    body = _project(vid, other_registrations=[
        {"scheme": "VCS", "registration_id": "VCS-9", "period_start": "2020-01-01", "period_end": period_end}])
    r = await client.post("/api/v1/projects", json=body, headers=developer.headers)
    assert r.status_code == 422
    error = r.json()["errors"][0]
    assert (error["field"], error["rule"]) == ("other_registrations.0", "art24.other_scheme_overlap")
    assert "Art. 24" in error["message"]


async def test_project_registration_refusals(client, developer, session_factory, make_actor, bureau):
    vid = publish_methodology(session_factory)
    assert (await client.post("/api/v1/projects", json=_project(vid))).status_code == 401
    assert (await client.post("/api/v1/projects", json=_project(vid), headers=bureau.headers)).status_code == 403
    verifier = make_actor(Role.VERIFIER)
    assert (await client.post("/api/v1/projects", json=_project(vid), headers=verifier.headers)).status_code == 403
    r = await client.post("/api/v1/projects", json=_project(vid, name=""), headers=developer.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
    bad_period = _project(vid, other_registrations=[
        {"scheme": "GS", "registration_id": "GS-1", "period_start": "2020-01-01", "period_end": "2019-01-01"}])
    assert (await client.post("/api/v1/projects", json=bad_period, headers=developer.headers)).status_code == 422
    assert (await client.get("/api/v1/projects/999999")).status_code == 404


async def test_a_project_is_registered_with_what_the_public_register_shows(client, developer, session_factory):
    """Issue 10, defect 7: code and version number, as the register lists them, are enough; the id is shown."""
    publish_methodology(session_factory, code="WH-M-HEAT-001", version_no=1, version_status="superseded")
    vid = publish_methodology(session_factory, code="WH-M-HEAT-001", version_no=2)
    register = (await client.get("/api/v1/public/methodologies/WH-M-HEAT-001")).json()
    current = register["current_version"]
    assert (current["version_no"], current["id"]) == (2, vid)
    body = _project(0, facility_id="FAC-HEAT")
    del body["methodology_version_id"]
    r = await client.post("/api/v1/projects", headers=developer.headers,
                          json={**body, "methodology_code": register["code"], "methodology_version": 2})
    assert r.status_code == 201, r.text
    assert (r.json()["methodology_version_id"], r.json()["methodology_version"]) == (vid, 2)
    version = (await client.get("/api/v1/public/methodologies/WH-M-HEAT-001/versions/1")).json()
    assert version["id"] != vid
    # The superseded version is named by the caller's own words in the refusal.
    r = await client.post("/api/v1/projects", headers=developer.headers,
                          json={**body, "facility_id": "FAC-2", "methodology_code": "WH-M-HEAT-001",
                                "methodology_version": 1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "methodology_code"
    assert r.json()["errors"][0]["rule"] == "current"
    for extra, field in [({"methodology_code": "WH-M-NONE-001", "methodology_version": 1}, "methodology_code"),
                         ({"methodology_code": "WH-M-HEAT-001"}, "methodology_version"),
                         ({}, "methodology_code")]:
        r = await client.post("/api/v1/projects", headers=developer.headers, json={**body, **extra})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
