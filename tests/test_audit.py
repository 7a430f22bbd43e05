"""Audit chain: every state change is recorded, hashed to its predecessor, and verifiable."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

import pytest

from cli.main import main as cli_main
from domain.clock import now_utc
from store import audit
from store.models.audit import AuditEvent


def _append(session_factory, n: int, case_id: str = "methodology-1") -> None:
    with session_factory() as s, s.begin():
        for i in range(n):
            audit.record(s, action=f"step.{i}", entity_type="methodology", entity_id=1, case_id=case_id,
                         occurred_at=now_utc(), actor_role="bureau_admin", details={"i": i})


def test_chain_verifies_and_names_the_first_tampered_event(session_factory, monkeypatch, capsys, database_url):
    _append(session_factory, 5)
    with session_factory() as s:
        assert audit.verify(s).ok and audit.verify(s).events == 5
        third = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()[2]
    monkeypatch.setenv("DATABASE_URL", database_url)
    from settings import get_settings
    get_settings.cache_clear()
    assert cli_main(["audit", "verify"]) == 0
    assert "5 events" in capsys.readouterr().out
    with session_factory() as s, s.begin():
        s.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        s.execute(text("UPDATE audit_events SET details = '{\"i\": 99}' WHERE id = :id"), {"id": third.id})
        s.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    with session_factory() as s:
        report = audit.verify(s)
    assert not report.ok and report.first_bad_id == third.id and report.events == 2
    assert cli_main(["audit", "verify"]) == 1
    assert f"broken at event {third.id}" in capsys.readouterr().err
    get_settings.cache_clear()


def test_deleting_an_event_breaks_the_chain_at_its_successor(session_factory):
    _append(session_factory, 4)
    with session_factory() as s, s.begin():
        ids = s.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
        s.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        s.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[1]})
        s.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    with session_factory() as s:
        report = audit.verify(s)
    assert report.first_bad_id == ids[2]


def test_the_database_refuses_to_change_audit_events(session_factory):
    _append(session_factory, 1)
    with pytest.raises(DBAPIError, match="append-only"):
        with session_factory() as s, s.begin():
            s.execute(text("UPDATE audit_events SET action = 'forged'"))
    with pytest.raises(DBAPIError, match="append-only"):
        with session_factory() as s, s.begin():
            s.execute(text("DELETE FROM audit_events"))


def test_dedupe_key_records_a_retried_write_once(session_factory):
    with session_factory() as s, s.begin():
        first = audit.record(s, action="x", entity_type="case", occurred_at=now_utc(), dedupe_key="case-1:x")
        again = audit.record(s, action="x", entity_type="case", occurred_at=now_utc(), dedupe_key="case-1:x")
    assert first.id == again.id


async def test_case_trail_api_is_for_authorities(client, bureau, make_actor, session_factory):
    from domain.roles import Role

    _append(session_factory, 3, case_id="methodology-7")
    _append(session_factory, 2, case_id="methodology-8")
    _append(session_factory, 1, case_id="methodology-7-review-1")  # its panel review belongs to the trail
    _append(session_factory, 1, case_id="methodology-70-review-1")  # another case's review does not
    r = await client.get("/api/v1/audit/cases/methodology-7", headers=bureau.headers)
    assert r.status_code == 200
    assert [(e["case_id"], e["action"]) for e in r.json()] == [
        ("methodology-7", "step.0"), ("methodology-7", "step.1"), ("methodology-7", "step.2"),
        ("methodology-7-review-1", "step.0")]
    applicant = make_actor(Role.APPLICANT)
    assert (await client.get("/api/v1/audit/cases/methodology-7", headers=applicant.headers)).status_code == 403
    r = await client.get("/api/v1/audit/verify", headers=bureau.headers)
    assert r.json()["ok"] is True


async def test_admin_actions_are_audited(client, bureau, session_factory):
    r = await client.post("/api/v1/organisations", json={"name": "Audited Co", "org_type": "enterprise"},
                          headers=bureau.headers)
    org_id = r.json()["id"]
    await client.post(f"/api/v1/organisations/{org_id}/approve", headers=bureau.headers)
    with session_factory() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.entity_type == "organisation",
                                                    AuditEvent.entity_id == str(org_id))
                           .order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["organisation.created", "organisation.active"]
    assert events[1].actor_user_id == bureau.id and events[1].actor_role == "bureau_admin"
