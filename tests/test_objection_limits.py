"""Public objections cannot be flooded (issue 10, defect 6).

- Forwarded headers count only from configured proxies: served as `tanpuhui api` serves it, a caller varying
  X-Forwarded-For is still one source.
- Caps per source and per notice, also under concurrent filings.
- An Idempotency-Key makes a retried objection file nothing new.
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import uvicorn
from sqlalchemy import func, select

from api.app import create_app
from cli.main import api_server_config
from store.models.issuance import Objection
from tests.issuance_flow import flow  # noqa: F401 (the fixture)


async def _open_notice(flow) -> int:
    case_id = (await flow.file())["case_id"]
    await flow.verify(case_id)
    return (await flow.notice(case_id))["id"]


def _objections(session_factory, notice_id: int) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(Objection).where(Objection.notice_id == notice_id))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _serve(app) -> tuple[uvicorn.Server, asyncio.Task, str]:
    port = _free_port()
    server = uvicorn.Server(api_server_config(app, host="127.0.0.1", port=port))
    server.config.log_level = "warning"
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.02)
    return server, task, f"http://127.0.0.1:{port}"


async def test_a_forged_forwarded_for_does_not_get_past_the_limit(flow, settings, session_factory, temporal_env):
    notice_id = await _open_notice(flow)
    app = create_app(settings, session_factory=session_factory, temporal_client=temporal_env.client)
    server, task, base = await _serve(app)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            codes = []
            for i in range(8):
                r = await http.post(f"/api/v1/publicity-notices/{notice_id}/objections",
                                    json={"content": f"objection {i}"},
                                    headers={"X-Forwarded-For": f"203.0.113.{i}"})
                codes.append(r.status_code)
    finally:
        server.should_exit = True
        await task
    assert codes == [201] * settings.objections_per_source_per_hour + [429] * (8 - settings.objections_per_source_per_hour)
    assert _objections(session_factory, notice_id) == settings.objections_per_source_per_hour


async def test_behind_a_trusted_proxy_each_client_counts_and_the_notice_is_capped(flow, settings, session_factory,
                                                                               temporal_env):
    notice_id = await _open_notice(flow)
    proxied = settings.model_copy(update={"trusted_proxies": "127.0.0.1", "objections_per_source_per_hour": 2,
                                          "objections_per_notice_per_hour": 7})
    app = create_app(proxied, session_factory=session_factory, temporal_client=temporal_env.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        async def file(source: str) -> int:
            r = await http.post(f"/api/v1/publicity-notices/{notice_id}/objections", json={"content": "x"},
                                headers={"X-Forwarded-For": source})
            return r.status_code

        # Three clients behind the proxy, three tries each: two each pass the per-source cap.
        by_source = [await file(f"198.51.100.{n}") for n in range(3) for _ in range(3)]
        assert by_source == [201, 201, 429] * 3
        # Many clients at once: the notice takes 7 in the hour, however many sources there are.
        flood = await asyncio.gather(*(file(f"192.0.2.{n}") for n in range(20)))
    assert flood.count(201) == 1 and flood.count(429) == 19
    assert _objections(session_factory, notice_id) == 7


async def test_an_idempotency_key_files_an_objection_once(flow, session_factory):
    notice_id = await _open_notice(flow)
    url = f"/api/v1/publicity-notices/{notice_id}/objections"
    body = {"content": "The meter photos are from another site."}
    key = {"Idempotency-Key": "objection-7f3a"}
    answers = await asyncio.gather(*(flow.http.post(url, json=body, headers=key) for _ in range(4)))
    assert [r.status_code for r in answers] == [201] * 4, [r.text for r in answers]
    assert len({r.json()["objection_id"] for r in answers}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in answers) == 3
    assert _objections(session_factory, notice_id) == 1
    other = await flow.http.post(url, json={"content": "something else"}, headers=key)
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
    # The case holds one objection, not four.
    case = (await flow.call("GET", "/publicity-notices", None)).json()
    assert next(n for n in case if n["id"] == notice_id)["objections"] == 1


async def test_the_notice_publishes_the_verification_conclusion_and_report(flow):
    """Issue 10: the public notice shows the conclusion and the report, not only the verified quantity."""
    from tests import sample_files

    case_id = (await flow.file())["case_id"]
    await flow.until(case_id, "awaiting_verifier")
    await flow.call("POST", f"/issuance-cases/{case_id}/verifier-response", flow.verifier, json={"accept": True})
    report = sample_files.pdf("verification report")
    r = await flow.http.post("/api/v1/documents", headers=flow.verifier.headers, data={"kind": "report"},
                             files={"file": ("verification.pdf", report, "application/pdf")})
    report_id = r.json()["id"]
    await flow.call("POST", f"/issuance-cases/{case_id}/verification-report", flow.verifier, json={
        "verified_tco2e": "1000.5", "conclusion": "Reasonable assurance; no findings.", "document_ids": [report_id]})
    notice = await flow.notice(case_id)
    assert notice["verification_conclusion"] == "Reasonable assurance; no findings."
    assert notice["verification_report_document_ids"] == [report_id]
    got = await flow.http.get(f"/api/v1/publicity-notices/{notice['id']}/documents/{report_id}")
    assert got.status_code == 200 and got.content == report
    # Only the report: the developer's own accounting documents are not published this way.
    r = await flow.http.post("/api/v1/documents", headers=flow.developer.headers,
                             files={"file": ("accounts.pdf", sample_files.pdf(), "application/pdf")})
    assert (await flow.http.get(f"/api/v1/publicity-notices/{notice['id']}/documents/{r.json()['id']}")
            ).status_code == 404
