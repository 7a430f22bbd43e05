"""Organisation status changes under concurrency (issue 10, defect 4): each change locks the row and is checked
against the status as it is now, so the answers, the final status and the audit trail agree."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from domain.roles import OrganisationStatus, OrganisationType
from store.models.audit import AuditEvent
from store.models.identity import Organisation


def _transitions(session_factory, org_id: int) -> list[tuple[str, str]]:
    with session_factory() as s:
        events = s.scalars(select(AuditEvent).where(
            AuditEvent.entity_type == "organisation", AuditEvent.entity_id == str(org_id),
            AuditEvent.action != "organisation.created").order_by(AuditEvent.id)).all()
        return [(e.details["from"], e.details["to"]) for e in events]


async def test_concurrent_approve_and_terminate_agree_with_the_final_status(client, bureau, operator, make_org,
                                                                           session_factory):
    org = make_org(org_type=OrganisationType.ENTERPRISE, status=OrganisationStatus.PENDING)
    calls = []
    for i in range(16):
        actor = bureau if i % 2 else operator
        calls.append(client.post(f"/api/v1/organisations/{org.id}/approve", headers=actor.headers))
        calls.append(client.post(f"/api/v1/organisations/{org.id}/terminate", json={"reason": "fraud"},
                                 headers=actor.headers))
    answers = await asyncio.gather(*calls)
    assert all(r.status_code in (200, 409) for r in answers), [r.text for r in answers if r.status_code >= 500]
    with session_factory() as s:
        final = s.get(Organisation, org.id).status
    terminated = [r for r in answers if r.status_code == 200 and r.json()["status"] == "terminated"]
    assert terminated, "terminating a pending or active organisation always succeeds"
    assert final == "terminated"
    # An approval after the termination is refused, never answered as if it happened.
    for r in answers:
        if r.status_code == 200:
            assert r.json()["status"] in ("active", "terminated")
    trail = _transitions(session_factory, org.id)
    # One event per real transition, each from the status the previous one left.
    assert trail in ([("pending", "terminated")], [("pending", "active"), ("active", "terminated")]), trail


async def test_32_identical_approvals_record_one_event(client, bureau, make_org, session_factory):
    org = make_org(org_type=OrganisationType.ENTERPRISE, status=OrganisationStatus.PENDING)
    answers = await asyncio.gather(*(client.post(f"/api/v1/organisations/{org.id}/approve", headers=bureau.headers)
                                     for _ in range(32)))
    assert [r.status_code for r in answers] == [200] * 32
    assert {r.json()["status"] for r in answers} == {"active"}
    assert _transitions(session_factory, org.id) == [("pending", "active")]


async def test_concurrent_suspend_and_reinstate_keep_a_consistent_trail(client, bureau, make_org, session_factory):
    org = make_org(org_type=OrganisationType.ENTERPRISE)
    calls = [client.post(f"/api/v1/organisations/{org.id}/{action}", json={"reason": "r"}, headers=bureau.headers)
             for _ in range(8) for action in ("suspend", "reinstate")]
    answers = await asyncio.gather(*calls)
    assert all(r.status_code in (200, 409) for r in answers)
    trail = _transitions(session_factory, org.id)
    status = "active"
    for before, after in trail:
        assert before == status, trail
        status = after
    with session_factory() as s:
        assert s.get(Organisation, org.id).status == status
