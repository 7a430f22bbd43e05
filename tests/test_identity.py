"""Identity and roles: organisations, users, tokens, role and organisation checks."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from domain.clock import now_utc
from domain.roles import OrganisationStatus, OrganisationType, Role
from store.models.identity import ApiToken


async def test_requests_without_a_valid_token_get_401(client):
    r = await client.get("/api/v1/me")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"] == "Bearer"
    r = await client.get("/api/v1/me", headers={"Authorization": "Bearer tph_not-a-token"})
    assert r.status_code == 401


async def test_me_names_the_caller(client, bureau):
    r = await client.get("/api/v1/me", headers=bureau.headers)
    assert r.status_code == 200
    assert r.json()["role"] == "bureau_admin" and r.json()["id"] == bureau.id


async def test_authority_creates_and_approves_an_organisation(client, bureau):
    body = {"name": "Wuhan Green Mall", "org_type": "enterprise", "webhook_url": "https://example.org/hook"}
    r = await client.post("/api/v1/organisations", json=body, headers=bureau.headers)
    assert r.status_code == 201, r.text
    org = r.json()
    assert org["status"] == "pending" and len(org["webhook_secret"]) == 64
    r = await client.post(f"/api/v1/organisations/{org['id']}/approve", headers=bureau.headers)
    assert r.status_code == 200 and r.json()["status"] == "active"
    # Approving again is harmless.
    r = await client.post(f"/api/v1/organisations/{org['id']}/approve", headers=bureau.headers)
    assert r.status_code == 200 and r.json()["status"] == "active"


async def test_create_organisation_is_idempotent_with_a_key(client, operator):
    body = {"name": "Hanyang Hotel", "org_type": "enterprise"}
    h = {**operator.headers, "Idempotency-Key": "k-1"}
    first = await client.post("/api/v1/organisations", json=body, headers=h)
    again = await client.post("/api/v1/organisations", json=body, headers=h)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    other = await client.post("/api/v1/organisations", json={**body, "name": "Other"}, headers=h)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    listed = await client.get("/api/v1/organisations", headers=operator.headers)
    assert [o["name"] for o in listed.json()].count("Hanyang Hotel") == 1


async def test_bad_organisation_input_names_the_field(client, bureau):
    r = await client.post("/api/v1/organisations", json={"name": "", "org_type": "bank"}, headers=bureau.headers)
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"name", "org_type"} <= fields
    await client.post("/api/v1/organisations", json={"name": "Dup", "org_type": "enterprise"}, headers=bureau.headers)
    r = await client.post("/api/v1/organisations", json={"name": "Dup", "org_type": "enterprise"}, headers=bureau.headers)
    assert r.status_code == 409 and r.json()["errors"][0] == {
        "field": "name", "rule": "unique", "message": "an organisation named 'Dup' exists"}


async def test_non_authorities_cannot_administer(client, make_actor):
    applicant = make_actor(Role.APPLICANT)
    r = await client.post("/api/v1/organisations", json={"name": "X", "org_type": "enterprise"},
                          headers=applicant.headers)
    assert r.status_code == 403
    r = await client.post("/api/v1/users", json={"name": "Y", "role": "applicant",
                                                 "organisation_id": applicant.user.organisation_id},
                          headers=applicant.headers)
    assert r.status_code == 403
    # An applicant sees only its own organisation.
    other = make_actor(Role.APPLICANT)
    r = await client.get(f"/api/v1/organisations/{other.user.organisation_id}", headers=applicant.headers)
    assert r.status_code == 404
    r = await client.get("/api/v1/organisations", headers=applicant.headers)
    assert [o["id"] for o in r.json()] == [applicant.user.organisation_id]


async def test_user_creation_checks_role_and_organisation(client, operator, make_org):
    verifier_body = make_org(org_type=OrganisationType.VERIFICATION_BODY)
    shop = make_org(org_type=OrganisationType.ENTERPRISE)
    ok = await client.post("/api/v1/users", json={"name": "V", "role": "verifier", "organisation_id": verifier_body.id},
                           headers=operator.headers)
    assert ok.status_code == 201 and ok.json()["role"] == "verifier"
    wrong = await client.post("/api/v1/users", json={"name": "V2", "role": "verifier", "organisation_id": shop.id},
                              headers=operator.headers)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["rule"] == "role_organisation_type"
    missing = await client.post("/api/v1/users", json={"name": "A", "role": "applicant"}, headers=operator.headers)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "organisation_id"
    resident = await client.post("/api/v1/users", json={"name": "R", "role": "individual", "organisation_id": shop.id},
                                 headers=operator.headers)
    assert resident.status_code == 422
    # Only the bureau makes bureau administrators.
    gov = make_org(org_type=OrganisationType.GOVERNMENT)
    r = await client.post("/api/v1/users", json={"name": "B", "role": "bureau_admin", "organisation_id": gov.id},
                          headers=operator.headers)
    assert r.status_code == 403


async def test_tokens_issue_revoke_and_expire(client, bureau, make_actor, session_factory):
    applicant = make_actor(Role.APPLICANT)
    r = await client.post(f"/api/v1/users/{applicant.id}/tokens", json={"label": "ci"}, headers=bureau.headers)
    assert r.status_code == 201
    token, token_id = r.json()["token"], r.json()["id"]
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    # The secret is not stored, only its hash.
    with session_factory() as s:
        stored = s.get(ApiToken, token_id)
        assert stored.token_hash != token and len(stored.token_hash) == 64
    # A user cannot mint tokens for someone else.
    r = await client.post(f"/api/v1/users/{bureau.id}/tokens", json={}, headers=applicant.headers)
    assert r.status_code == 403
    r = await client.delete(f"/api/v1/tokens/{token_id}", headers=applicant.headers)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    # Expired tokens no longer work.
    with session_factory() as s, s.begin():
        s.execute(update(ApiToken).values(expires_at=now_utc() - timedelta(seconds=1))
                  .where(ApiToken.user_id == applicant.id))
    assert (await client.get("/api/v1/me", headers=applicant.headers)).status_code == 401


async def test_users_of_suspended_or_pending_organisations_cannot_act(client, bureau, make_actor, make_org):
    operator_org = make_org(org_type=OrganisationType.PUBLIC_INSTITUTION)
    operator = make_actor(Role.OPERATOR_ADMIN, org=operator_org)
    r = await client.post(f"/api/v1/organisations/{operator_org.id}/suspend", json={"reason": "Art. 33 breach"},
                          headers=bureau.headers)
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    r = await client.post("/api/v1/organisations", json={"name": "Z", "org_type": "enterprise"},
                          headers=operator.headers)
    assert r.status_code == 403 and "suspended" in r.json()["detail"]
    r = await client.post(f"/api/v1/organisations/{operator_org.id}/reinstate", json={"reason": "remedied"},
                          headers=bureau.headers)
    assert r.json()["status"] == "active"
    r = await client.post("/api/v1/organisations", json={"name": "Z", "org_type": "enterprise"},
                          headers=operator.headers)
    assert r.status_code == 201
    pending = make_org(org_type=OrganisationType.PUBLIC_INSTITUTION, status=OrganisationStatus.PENDING)
    waiting = make_actor(Role.OPERATOR_ADMIN, org=pending)
    r = await client.post("/api/v1/organisations", json={"name": "W", "org_type": "enterprise"},
                          headers=waiting.headers)
    assert r.status_code == 403
    # Suspending needs a reason; terminating is final.
    r = await client.post(f"/api/v1/organisations/{operator_org.id}/suspend", json={}, headers=bureau.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    await client.post(f"/api/v1/organisations/{operator_org.id}/terminate", json={"reason": "x"},
                      headers=bureau.headers)
    r = await client.post(f"/api/v1/organisations/{operator_org.id}/reinstate", json={"reason": "y"},
                          headers=bureau.headers)
    assert r.status_code == 409


def _last_used(session_factory, user_id: int):
    with session_factory() as s:
        return s.scalar(select(ApiToken.last_used_at).where(ApiToken.user_id == user_id))


async def test_a_tokens_last_use_is_kept_even_when_the_route_refuses_and_written_at_most_once_a_minute(
        client, make_actor, session_factory):
    applicant = make_actor(Role.APPLICANT)
    long_ago = now_utc() - timedelta(hours=1)
    with session_factory() as s, s.begin():
        s.execute(update(ApiToken).where(ApiToken.user_id == applicant.id).values(last_used_at=long_ago))
    # An applicant may not create organisations: 403, yet the token's use is recorded.
    r = await client.post("/api/v1/organisations", json={"name": "Z", "org_type": "enterprise"},
                          headers=applicant.headers)
    assert r.status_code == 403
    touched = _last_used(session_factory, applicant.id)
    assert touched > long_ago
    # Within the minute nothing is written again.
    assert (await client.get("/api/v1/me", headers=applicant.headers)).status_code == 200
    assert _last_used(session_factory, applicant.id) == touched
