"""The bureau's reference lists: accredited verification bodies and key emitting units."""

from __future__ import annotations

from datetime import date

import pytest

from domain.roles import OrganisationStatus, OrganisationType, Role
from store.issuance import accreditation_on, key_emitter_boundary_conflict


@pytest.fixture
def applicant_org(make_org):
    return make_org()


async def _accredit(client, bureau, org_id, valid_from="2026-01-01", valid_until="2028-12-31", **headers):
    return await client.post(f"/api/v1/verification-bodies/{org_id}/accreditations",
                             json={"reference": "HB-VB-2026-01", "valid_from": valid_from, "valid_until": valid_until},
                             headers={**bureau.headers, **headers})


async def test_bureau_accredits_a_verification_body_for_a_validity_period(client, bureau, make_org, db):
    vb = make_org(org_type=OrganisationType.VERIFICATION_BODY)
    r = await _accredit(client, bureau, vb.id)
    assert r.status_code == 201, r.text
    assert accreditation_on(db, vb.id, date(2026, 6, 1)) is not None
    assert accreditation_on(db, vb.id, date(2025, 12, 31)) is None  # before validity
    assert accreditation_on(db, vb.id, date(2029, 1, 1)) is None  # after validity
    listed = await client.get("/api/v1/verification-bodies", params={"on": "2026-06-01"})  # public, no login
    assert [b["organisation_id"] for b in listed.json()] == [vb.id]
    assert (await client.get("/api/v1/verification-bodies", params={"on": "2029-01-01"})).json() == []


async def test_accreditation_is_idempotent_with_a_key(client, bureau, make_org):
    vb = make_org(org_type=OrganisationType.VERIFICATION_BODY)
    first = await _accredit(client, bureau, vb.id, **{"Idempotency-Key": "acc-1"})
    again = await _accredit(client, bureau, vb.id, **{"Idempotency-Key": "acc-1"})
    assert first.json() == again.json() and again.headers.get("Idempotent-Replayed") == "true"


async def test_accreditation_refusals(client, bureau, operator, make_org, make_actor):
    enterprise = make_org()
    r = await _accredit(client, bureau, enterprise.id)
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "verification_body"
    vb = make_org(org_type=OrganisationType.VERIFICATION_BODY)
    r = await _accredit(client, bureau, vb.id, valid_from="2027-01-01", valid_until="2026-01-01")
    assert r.status_code == 422
    assert (await _accredit(client, operator, vb.id)).status_code == 403  # the bureau accredits
    assert (await _accredit(client, make_actor(Role.VERIFIER, org=vb), vb.id)).status_code == 403
    assert (await _accredit(client, bureau, 999_999)).status_code == 404


async def test_revoked_or_inactive_bodies_are_not_commissionable(client, bureau, make_org, db, session_factory):
    vb = make_org(org_type=OrganisationType.VERIFICATION_BODY)
    acc = (await _accredit(client, bureau, vb.id)).json()
    r = await client.post(f"/api/v1/accreditations/{acc['id']}/revocation", json={"reason": "lapsed audit"},
                          headers=bureau.headers)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert accreditation_on(db, vb.id, date(2026, 6, 1)) is None
    suspended = make_org(org_type=OrganisationType.VERIFICATION_BODY, status=OrganisationStatus.SUSPENDED)
    await _accredit(client, bureau, suspended.id)
    assert accreditation_on(db, suspended.id, date(2026, 6, 1)) is None


async def test_key_emitters_with_boundary_and_effective_dates(client, bureau, applicant_org, db):
    body = {"organisation_id": applicant_org.id, "scheme": "hubei", "boundary_facility_ids": ["F-2", "F-1", "F-1"],
            "effective_from": "2024-01-01", "effective_until": "2026-12-31"}
    r = await client.post("/api/v1/key-emitters", json=body, headers=bureau.headers)
    assert r.status_code == 201, r.text
    emitter = r.json()
    assert emitter["boundary_facility_ids"] == ["F-1", "F-2"]
    hit = key_emitter_boundary_conflict(db, applicant_org.id, "F-1", date(2026, 6, 1), None)
    assert hit is not None and hit.id == emitter["id"]
    assert key_emitter_boundary_conflict(db, applicant_org.id, "F-9", date(2026, 6, 1), None) is None
    assert key_emitter_boundary_conflict(db, applicant_org.id, "F-1", date(2027, 1, 1), None) is None  # after
    assert key_emitter_boundary_conflict(db, applicant_org.id, "F-1", date(2020, 1, 1),
                                         date(2023, 12, 31)) is None  # period before listing
    r = await client.patch(f"/api/v1/key-emitters/{emitter['id']}",
                           json={"boundary_facility_ids": ["F-3"], "effective_until": None}, headers=bureau.headers)
    assert r.status_code == 200 and r.json()["boundary_facility_ids"] == ["F-3"]
    db.expire_all()
    assert key_emitter_boundary_conflict(db, applicant_org.id, "F-3", date(2030, 1, 1), None) is not None
    listed = await client.get("/api/v1/key-emitters", headers=bureau.headers)
    assert [e["id"] for e in listed.json()] == [emitter["id"]]


async def test_key_emitter_refusals(client, bureau, operator, applicant_org):
    base = {"organisation_id": applicant_org.id, "scheme": "hubei", "boundary_facility_ids": ["F-1"],
            "effective_from": "2024-01-01"}
    assert (await client.post("/api/v1/key-emitters", json=base, headers=operator.headers)).status_code == 403
    for bad, field in [({"scheme": "eu"}, "scheme"), ({"boundary_facility_ids": []}, "boundary_facility_ids"),
                       ({"effective_until": "2023-01-01"}, ""), ({"organisation_id": 999_999}, "organisation_id")]:
        r = await client.post("/api/v1/key-emitters", json={**base, **bad}, headers=bureau.headers)
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["field"].startswith(field)
    emitter = (await client.post("/api/v1/key-emitters", json=base, headers=bureau.headers)).json()
    r = await client.patch(f"/api/v1/key-emitters/{emitter['id']}", json={"effective_until": "2023-01-01"},
                           headers=bureau.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "effective_until"
    r = await client.patch(f"/api/v1/key-emitters/{emitter['id']}", json={"boundary_facility_ids": None},
                           headers=bureau.headers)
    assert r.status_code == 422
    assert (await client.get("/api/v1/key-emitters", headers={})).status_code == 401
