"""Supervision end to end through HTTP with the real worker: reports (举报, Art. 34) with sealed
reporters followed by receipt code, handled by an assigned authority user within working-day deadlines;
sanctions (Art. 33) that pause, freeze and withdraw, and a reinstatement that undoes them."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.fernet import InvalidToken
from pydantic import SecretStr
from sqlalchemy import select

from domain.contracts.cases import CASE_STATE_QUERY, CaseView
from domain.roles import OrganisationType, Role
from store import sealing
from store.models.audit import AuditEvent
from store.models.supervision import Report

NAME, CONTACT = "举报人张三Zhang", "zhang.whistle@example.cn 13800138000"


async def _file(client, org_id, headers=None, **extra):
    body = {"organisation_id": org_id, "content": "虚假减排量 / forged reductions", "reporter_name": NAME,
            "contact": CONTACT, **extra}
    return await client.post("/api/v1/reports", json=body, headers=headers or {})


async def _until(check, seconds=30.0):
    for _ in range(int(seconds * 10)):
        found = check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached")


async def test_report_flow_sealed_reporter_followed_by_receipt(client, worker, make_org, make_actor, bureau, operator,
                                                               session_factory, temporal_env, caplog, settings):
    caplog.set_level(logging.DEBUG)
    reported = make_org(org_type=OrganisationType.ENTERPRISE)
    insider = make_actor(Role.APPLICANT, org=reported)
    r = await _file(client, reported.id)
    assert r.status_code == 201, r.text
    filed = r.json()
    code, n = filed["receipt_code"], filed["report_id"]
    case_id = f"report-{n}"
    # Sealed at rest: neither name nor contact is readable in the row; the receipt code only as a hash.
    with session_factory() as s:
        row = s.get(Report, n)
        assert NAME not in row.reporter_sealed and CONTACT not in row.reporter_sealed and code not in row.receipt_hash
        assert sealing.unseal(settings, row.reporter_sealed)["contact"] == CONTACT
    follow = await client.get(f"/api/v1/reports/receipt/{code}")
    assert follow.status_code == 200 and follow.json()["stage"] == "awaiting_assignment"
    assert (await client.get("/api/v1/reports/receipt/not-a-code")).status_code == 404
    # Only the bureau assigns; the handler is an authority user outside the reported organisation.
    r = await client.post(f"/api/v1/reports/{n}/assignment", json={"handler_user_id": operator.id},
                          headers=operator.headers)
    assert r.status_code == 403
    r = await client.post(f"/api/v1/reports/{n}/assignment", json={"handler_user_id": insider.id},
                          headers=bureau.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "art34.handler", r.text
    r = await client.post(f"/api/v1/reports/{n}/assignment", json={"handler_user_id": operator.id},
                          headers=bureau.headers)
    assert r.status_code == 200, r.text
    assert r.json()["reporter"] is None  # the bureau assigned it but does not handle it
    # The reported participant never reaches the report.
    assert (await client.get(f"/api/v1/reports/{n}", headers=insider.headers)).status_code == 403
    assert (await client.get(f"/api/v1/audit/cases/{case_id}", headers=insider.headers)).status_code == 403
    # Only the handler sees the reporter, and acts.
    seen = (await client.get(f"/api/v1/reports/{n}", headers=operator.headers)).json()
    assert seen["reporter"]["name"] == NAME and seen["reporter"]["contact"] == CONTACT
    assert (await client.get(f"/api/v1/reports/{n}", headers=bureau.headers)).json()["reporter"] is None
    listed = (await client.get("/api/v1/reports", headers=operator.headers)).json()
    assert all(x["reporter"] is None for x in listed)
    r = await client.post(f"/api/v1/reports/{n}/acknowledgement", headers=bureau.headers)
    assert r.status_code == 403
    r = await client.post(f"/api/v1/reports/{n}/conclusion", headers=operator.headers,
                          json={"substantiated": True, "conclusion": "early"})
    assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "art34.stage"
    r = await client.post(f"/api/v1/reports/{n}/acknowledgement", headers=operator.headers)
    assert r.status_code == 200 and r.json()["stage"] == "investigating"
    r = await client.post(f"/api/v1/reports/{n}/conclusion", headers=operator.headers,
                          json={"substantiated": True, "conclusion": "属实 / substantiated",
                                "measures": "暂停服务 / suspended"})
    assert r.status_code == 200 and r.json()["stage"] == "concluded"
    # The reporter sees the conclusion by receipt code.
    seen = (await client.get(f"/api/v1/reports/receipt/{code}")).json()
    assert (seen["stage"], seen["substantiated"], seen["measures"]) == ("concluded", True, "暂停服务 / suspended")
    assert "handler_user_id" not in seen and "reporter" not in seen
    # Privacy: name and contact in no log line, no workflow history, no audit row.
    logged = "\n".join(f"{rec.getMessage()} {rec.__dict__}" for rec in caplog.records)
    history = (await temporal_env.client.get_workflow_handle(case_id).fetch_history()).to_json()
    with session_factory() as s:
        audit = " ".join(f"{e.action} {e.details} {e.actor_user_id}" for e in s.scalars(select(AuditEvent)))
    for secret in (NAME, CONTACT, "Zhang", "13800138000"):
        assert secret not in logged and secret not in history and secret not in audit, secret
    assert code not in history and code not in audit


async def test_signed_in_reporter_and_evidence_stay_out_of_the_audit(client, worker, make_org, make_actor, bureau,
                                                                      operator, session_factory, temporal_env):
    from tests import sample_files

    reported = make_org()
    citizen = make_actor(Role.INDIVIDUAL)
    doc = await client.post("/api/v1/documents", headers=citizen.headers,
                            files={"file": ("e.pdf", sample_files.pdf(), "application/pdf")})
    assert doc.status_code == 201, doc.text
    r = await _file(client, reported.id, citizen.headers, evidence_document_ids=[doc.json()["id"]])
    assert r.status_code == 201, r.text
    n = r.json()["report_id"]
    # Evidence needs a login (anonymous callers cannot upload) and must be the caller's own.
    r = await _file(client, reported.id, evidence_document_ids=[doc.json()["id"]])
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "login_required"
    await client.post(f"/api/v1/reports/{n}/assignment", json={"handler_user_id": operator.id}, headers=bureau.headers)
    seen = (await client.get(f"/api/v1/reports/{n}", headers=operator.headers)).json()
    assert seen["reporter"]["signed_in_user_id"] == citizen.id and seen["evidence_document_ids"] == [doc.json()["id"]]
    history = (await temporal_env.client.get_workflow_handle(f"report-{n}").fetch_history()).to_json()
    assert citizen.user.name not in history
    with session_factory() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.case_id == f"report-{n}")).all()
    assert events and all(e.actor_user_id != citizen.id for e in events)


async def test_reports_are_rate_limited_per_source_and_per_participant(client, worker, make_org, settings,
                                                                       session_factory, temporal_env):
    import httpx

    from api.app import create_app

    tight = settings.model_copy(update={"reports_per_source_per_hour": 2, "reports_per_participant_per_hour": 3})
    app = create_app(tight, session_factory=session_factory, temporal_client=temporal_env.client)
    a, b = make_org(), make_org()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.0.0.1", 1)),
                                 base_url="http://test") as one, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.0.0.2", 1)),
                              base_url="http://test") as two:
        codes = [(await _file(one, a.id)).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        codes = [(await _file(two, a.id)).status_code for _ in range(2)]
        assert codes == [201, 429]  # the participant's cap (3 an hour) is reached
        assert (await _file(two, b.id)).status_code == 201
    with session_factory() as s:
        assert len(s.scalars(select(Report).where(Report.reported_organisation_id == a.id)).all()) == 3


async def test_report_reminders_and_overdue_escalation(client, worker, make_org, bureau, operator, temporal_env,
                                                       session_factory):
    n = (await _file(client, make_org().id)).json()["report_id"]
    case_id = f"report-{n}"
    await client.post(f"/api/v1/reports/{n}/assignment", json={"handler_user_id": operator.id}, headers=bureau.headers)
    await temporal_env.sleep(timedelta(days=9))  # past 3 working days, whatever the holidays
    view = await temporal_env.client.get_workflow_handle(case_id).query(CASE_STATE_QUERY, result_type=CaseView)
    assert view.stage == "awaiting_acknowledgement"
    assert [(t.kind, t.assignee, t.overdue) for t in view.open_tasks] == [("acknowledge", f"user:{operator.id}", True)]
    with session_factory() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case_id)).all()
        assert s.get(Report, n).overdue is True
    assert "report.ack_reminder_sent" in actions and "report.ack_overdue" in actions


def test_sealed_reporters_open_with_old_keys_and_rotate_to_the_new_one(settings, session_factory, make_org,
                                                                       monkeypatch, database_url, capsys):
    from store.supervision import receipt_hash

    old = settings.model_copy(update={"secret_key": SecretStr("old-key-0123456789")})
    sealed = sealing.seal(old, {"name": NAME, "contact": CONTACT})
    with session_factory() as s, s.begin():
        s.add(Report(reported_organisation_id=make_org().id, content="c", evidence_document_ids=[],
                     reporter_sealed=sealed, receipt_hash=receipt_hash("x"), source_hash="s",
                     filed_at=datetime.now(timezone.utc), stage="awaiting_assignment", overdue=False))
    new_only = settings.model_copy(update={"secret_key": SecretStr("new-key-9876543210")})
    with pytest.raises(InvalidToken):
        sealing.unseal(new_only, sealed)
    both = new_only.model_copy(update={"old_secret_keys": SecretStr("spare, old-key-0123456789")})
    assert sealing.unseal(both, sealed)["name"] == NAME
    # `tanpuhui reports reseal` with the new key in force and the old one listed.
    from cli.main import main as cli_main
    from settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TANPUHUI_SECRET_KEY", "new-key-9876543210")
    monkeypatch.setenv("TANPUHUI_OLD_SECRET_KEYS", "spare, old-key-0123456789")
    get_settings.cache_clear()
    try:
        assert cli_main(["reports", "reseal"]) == 0
    finally:
        get_settings.cache_clear()
    assert "re-sealed 1 reporter" in capsys.readouterr().out
    with session_factory() as s:
        resealed = s.scalar(select(Report.reporter_sealed))
    assert resealed != sealed and sealing.unseal(new_only, resealed)["contact"] == CONTACT


async def test_a_report_whose_case_did_not_start_starts_at_its_assignment(client, worker, make_org, bureau, operator,
                                                                          session_factory, temporal_env):
    """Filing answers the receipt code even when Temporal is away (the report is stored); the bureau's
    assignment starts the case then, its deadlines counted from the filing."""
    from store.supervision import receipt_hash

    with session_factory() as s, s.begin():
        row = Report(reported_organisation_id=make_org().id, content="c", evidence_document_ids=[],
                     reporter_sealed=None, receipt_hash=receipt_hash("lost-start"), source_hash="s",
                     filed_at=datetime.now(timezone.utc), stage="awaiting_assignment", overdue=False)
        s.add(row)
        s.flush()
        n = row.id
    r = await client.post(f"/api/v1/reports/{n}/assignment", json={"handler_user_id": operator.id},
                          headers=bureau.headers)
    assert r.status_code == 200 and r.json()["stage"] == "awaiting_acknowledgement", r.text
    assert r.json()["ack_due"] is not None
    assert (await client.get("/api/v1/reports/receipt/lost-start")).json()["stage"] == "awaiting_acknowledgement"
