"""Who may manage a user: issuing or revoking its tokens and deactivating it follow who may create it.

Every pair of roles (the caller's, the target user's) is tried; the expected answers are written out here,
not derived from the code under test: only authorities create users, and only the bureau creates
bureau administrators. Anyone may manage their own tokens.
"""

from __future__ import annotations

import pytest

from domain.roles import OrganisationType, Role
from store.models.identity import ApiToken
from tests.conftest import _DEFAULT_ORG_TYPE

AUTHORITY_ROLES = {Role.BUREAU_ADMIN, Role.OPERATOR_ADMIN}

ORG_FOR = {role: _DEFAULT_ORG_TYPE.get(role) for role in Role}  # None: a resident, no organisation


def expected_may_manage(actor: Role, target: Role) -> bool:
    return actor in AUTHORITY_ROLES and (target != Role.BUREAU_ADMIN or actor == Role.BUREAU_ADMIN)


@pytest.mark.parametrize("actor_role", list(Role), ids=lambda r: r.value)
async def test_token_and_user_rights_follow_who_may_create_the_user(client, make_actor, make_org, session_factory,
                                                                     actor_role):
    actor = make_actor(actor_role)
    for target_role in Role:
        target = make_actor(target_role)
        may = expected_may_manage(actor_role, target_role)
        what = f"{actor_role.value} on {target_role.value}"

        # Creating such a user.
        org_type = ORG_FOR[target_role]
        body = {"name": "new", "role": target_role.value,
                "organisation_id": make_org(org_type=org_type).id if org_type else None}
        r = await client.post("/api/v1/users", json=body, headers=actor.headers)
        assert (r.status_code == 201) == may, (what, r.status_code, r.text)

        # Issuing a token for the existing user.
        r = await client.post(f"/api/v1/users/{target.id}/tokens", json={"label": "x"}, headers=actor.headers)
        assert (r.status_code == 201) == may, (what, r.status_code, r.text)
        if not may:
            assert r.status_code in (403, 404), what
            assert r.headers["content-type"].startswith("application/problem+json")

        # Listing and revoking the target's own token.
        r = await client.get(f"/api/v1/users/{target.id}/tokens", headers=actor.headers)
        assert (r.status_code == 200) == may, (what, r.status_code)
        with session_factory() as s:
            token_id = s.query(ApiToken.id).filter(ApiToken.user_id == target.id).order_by(ApiToken.id).first()[0]
        r = await client.delete(f"/api/v1/tokens/{token_id}", headers=actor.headers)
        assert (r.status_code == 200) == may, (what, r.status_code, r.text)
        still_works = (await client.get("/api/v1/me", headers=target.headers)).status_code == 200
        assert still_works != may, what

        # Deactivating the user (a fresh one: the first may have lost its token above).
        other = make_actor(target_role)
        r = await client.post(f"/api/v1/users/{other.id}/deactivation", json={"reason": "left"},
                              headers=actor.headers)
        assert (r.status_code == 200) == may, (what, r.status_code, r.text)
        works = (await client.get("/api/v1/me", headers=other.headers)).status_code == 200
        assert works != may, what


async def test_everyone_manages_their_own_tokens(client, make_actor):
    for role in Role:
        me = make_actor(role)
        r = await client.post(f"/api/v1/users/{me.id}/tokens", json={"label": "laptop"}, headers=me.headers)
        assert r.status_code == 201, (role, r.text)
        second = r.json()
        r = await client.delete(f"/api/v1/tokens/{second['id']}", headers=me.headers)
        assert r.status_code == 200 and r.json()["revoked_at"] is not None
        assert (await client.get("/api/v1/me", headers=me.headers)).status_code == 200


async def test_a_deactivated_user_can_be_reactivated_and_the_change_is_audited(client, bureau, make_actor,
                                                                              session_factory):
    applicant = make_actor(Role.APPLICANT)
    r = await client.post(f"/api/v1/users/{applicant.id}/deactivation", json={"reason": "left the company"},
                          headers=bureau.headers)
    assert r.status_code == 200 and r.json()["active"] is False
    assert (await client.get("/api/v1/me", headers=applicant.headers)).status_code == 401
    # Again: harmless.
    r = await client.post(f"/api/v1/users/{applicant.id}/deactivation", json={"reason": "left the company"},
                          headers=bureau.headers)
    assert r.status_code == 200 and r.json()["active"] is False
    r = await client.post(f"/api/v1/users/{applicant.id}/reactivation", json={"reason": "back"},
                          headers=bureau.headers)
    assert r.status_code == 200 and r.json()["active"] is True
    assert (await client.get("/api/v1/me", headers=applicant.headers)).status_code == 200
    from sqlalchemy import select

    from store.models.audit import AuditEvent
    with session_factory() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "user",
                                                            AuditEvent.entity_id == str(applicant.id))
                            .order_by(AuditEvent.id)).all()
    assert actions.count("user.deactivated") == 1 and actions.count("user.reactivated") == 1
    # Nobody deactivates themself (an authority would lock itself out).
    r = await client.post(f"/api/v1/users/{bureau.id}/deactivation", json={"reason": "x"}, headers=bureau.headers)
    assert r.status_code == 409


async def test_no_applicant_or_data_source_in_a_government_organisation(client, bureau, make_org):
    gov = make_org(org_type=OrganisationType.GOVERNMENT)
    for role in ("applicant", "data_source"):
        r = await client.post("/api/v1/users", json={"name": "x", "role": role, "organisation_id": gov.id},
                              headers=bureau.headers)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0] == {"field": "organisation_id", "rule": "role_organisation_type",
                                         "message": f"role '{role}' cannot belong to a government organisation"}
