"""Crash drill of a sanction (Art. 33): the worker — `tanpuhui worker`, its own process — is killed with
SIGKILL in the middle of a suspension and again in the middle of the reinstatement. The participant's
end state (status, account freeze, its cases paused and resumed, every step audited once, the audit
chain intact) is the same as that of an identical participant sanctioned with no worker dying.
Black-box: HTTP calls and database reads only."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api.app import create_app
from domain.roles import Role
from store import ledger
from store.models.audit import AuditEvent
from store.models.identity import Organisation
from store.models.ledger import InstitutionalAccount, LedgerMovement
from store.models.supervision import Sanction
from tests.ledger_helpers import issue_units, make_project
from tests.test_crash_drill import Killer, _server

DRILL_SECONDS = float(os.environ.get("DRILL_SECONDS", "300"))
RETRY = (503, 504)


async def _call(http: httpx.AsyncClient, method: str, url: str, actor, expect: int, **kw) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRILL_SECONDS
    while True:
        r = await http.request(method, f"/api/v1{url}", headers=actor.headers, **kw)
        if r.status_code in RETRY and loop.time() < deadline:
            await asyncio.sleep(0.5)  # the worker is dead: the same request again (never applied twice)
            continue
        assert r.status_code == expect, f"{method} {url}: {r.status_code} {r.text}"
        return r.json()


def _audited(session_factory, case_id: str) -> list[str]:
    with session_factory() as s:
        return list(s.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id)))


async def _until(check, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRILL_SECONDS
    while not check():
        assert loop.time() < deadline, f"not reached: {what}"
        await asyncio.sleep(0.05)


def _summary(session_factory, org_id: int, sanction_id: int, case_ids: list[str]) -> dict[str, Any]:
    """The participant's state with its own ids left out, so two participants compare."""
    with session_factory() as s:
        account = s.scalar(select(InstitutionalAccount).where(InstitutionalAccount.organisation_id == org_id))
        movements = Counter(s.scalars(select(LedgerMovement.kind).where(LedgerMovement.from_account_id == account.id,
                                                                        LedgerMovement.kind.like("account_%"))))
        status_events = Counter(s.scalars(select(AuditEvent.action).where(
            AuditEvent.entity_type == "organisation", AuditEvent.entity_id == str(org_id))))
        sanction = s.get(Sanction, sanction_id)
        return {
            "status": s.get(Organisation, org_id).status, "frozen": account.frozen_at is not None,
            "held": ledger.balance(s, account.id), "movements": dict(movements), "status_events": dict(status_events),
            "sanction": (sanction.stage, sanction.froze_account, len(sanction.cases_told)),
            "sanction_steps": Counter(_audited(session_factory, f"sanction-{sanction_id}")),
            "cases": sorted(tuple(sorted(Counter(_audited(session_factory, c)).items())) for c in case_ids),
        }


async def _sanction_and_lift(http, session_factory, operator, holder, killer: Killer | None) -> dict[str, Any]:
    actor, org_id, number = holder
    case_ids = []
    for q in (2, 3):
        x = await _call(http, "POST", "/cancellations", actor, 201, json={
            "account_number": number, "quantity": q, "purpose": "event", "beneficiary_name": "武汉"})
        case_ids.append(x["case_id"])
    for c in case_ids:
        await _until(lambda c=c: "cancellation.applied" in _audited(session_factory, c), f"{c} applied")
    s = await _call(http, "POST", "/sanctions", operator, 201, json={
        "organisation_id": org_id, "measure": "suspend", "reason": "drill"})
    sid = s["sanction_id"]
    sanction_case = f"sanction-{sid}"
    if killer is not None:  # die right after the status is set: cases not told yet, units not frozen
        await _until(lambda: "sanction.status_set" in _audited(session_factory, sanction_case), "status set")
        await killer.kill()
        await killer.start()
    await _until(lambda: "sanction.in_force" in _audited(session_factory, sanction_case), "in force")
    for c in case_ids:
        await _until(lambda c=c: "cancellation.paused" in _audited(session_factory, c), f"{c} paused")
    lifting = asyncio.create_task(_call(http, "POST", f"/sanctions/{sid}/reinstatement", operator, 200,
                                        json={"reason": "remedied"}))
    if killer is not None:  # die in the middle of the reinstatement: unfrozen, cases not told yet
        await _until(lambda: "sanction.units_unfrozen" in _audited(session_factory, sanction_case), "unfrozen")
        await killer.kill()
        await killer.start()
    await lifting
    await _until(lambda: "sanction.lifted" in _audited(session_factory, sanction_case), "lifted")
    for c in case_ids:
        await _until(lambda c=c: "cancellation.resumed" in _audited(session_factory, c), f"{c} resumed")
    return _summary(session_factory, org_id, sid, case_ids)


@pytest.mark.slow
async def test_a_sanction_ends_the_same_however_often_the_worker_dies(settings, session_factory, database_url,
                                                                      make_actor, operator, bureau):
    env = await _server()
    app = create_app(settings.model_copy(update={"temporal_wait_seconds": 2.0}), session_factory=session_factory,
                     temporal_client=env.client)
    worker_env = {**os.environ, "DATABASE_URL": database_url, "TASK_QUEUE": settings.task_queue,
                  "WORKER_METRICS_ADDRESS": "", "MAX_CACHED_WORKFLOWS": "0",
                  "TEMPORAL_ADDRESS": env.client.service_client.config.target_host, "TEMPORAL_NAMESPACE": "default",
                  "TANPUHUI_DATA_DIR": str(settings.data_dir)}
    holders = []
    for key in ("calm", "drill"):
        a = make_actor(Role.APPLICANT)
        project = make_project(session_factory, a.user.organisation_id, a.id)
        issue_units(session_factory, project, a.user.organisation_id, 20, key=f"issuance-{key}-{a.id}")
        with session_factory() as s, s.begin():
            holders.append((a, a.user.organisation_id, ledger.ensure_account(s, a.user.organisation_id).account_number))
    killer = Killer(worker_env)
    try:
        polling = await killer.start()
        await asyncio.wait_for(polling.wait(), 60)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=60) as http:
            calm = await _sanction_and_lift(http, session_factory, operator, holders[0], None)
            drilled = await _sanction_and_lift(http, session_factory, operator, holders[1], killer)
            verify = await _call(http, "GET", "/audit/verify", bureau, 200)
    except BaseException:
        print("\n".join(killer.log[-200:]))
        raise
    finally:
        await killer.stop()
        await env.shutdown()
    assert killer.kills == 2
    assert drilled == calm, (drilled, calm)
    assert calm["status"] == "active" and calm["frozen"] is False and calm["held"] == 15
    assert calm["movements"] == {"account_frozen": 1, "account_unfrozen": 1}
    assert all(n == 1 for n in calm["sanction_steps"].values()), calm["sanction_steps"]
    assert verify["ok"] is True
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Sanction).where(Sanction.stage != "lifted")) == 0
