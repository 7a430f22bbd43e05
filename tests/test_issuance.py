"""The issuance case through the HTTP API under time skipping (SPEC §2.4, Art. 19–21, 24)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import select

from domain.contracts.review import Vote
from store.models.audit import AuditEvent
from store.models.cases import Case
from tests.issuance_flow import api_and_worker, make_flow
from tests.methodology_rows import methodology_tables  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("methodology_tables")


@pytest_asyncio.fixture
async def flow(temporal_env, session_factory, settings, activity_executor, make_actor, make_org, bureau, operator):
    async with api_and_worker(temporal_env, session_factory, settings, activity_executor) as http:
        yield await make_flow(http, temporal_env, make_actor, make_org, bureau, operator, session_factory)


async def test_full_path_issues_whole_tonnes_and_records_the_remainder(flow, session_factory):
    case = await flow.file(claimed="1234.567")
    case_id = case["case_id"]
    assert case["claimed_tco2e"] == "1234.567"
    await flow.verify(case_id, verified="1000.5")
    notice = await flow.notice(case_id)
    assert notice["open"] and notice["verified_tco2e"] == "1000.500" and notice["remaining_seconds"] > 0
    await flow.skip_past_publicity(case_id)
    await flow.apply(case_id)
    await flow.conclude_review(case_id, 1, Vote.APPROVE)
    await flow.publish(case_id)
    await flow.until(case_id, "published")
    issued = await flow.issue(case_id)
    assert (issued["tonnes"], issued["remainder_grams"]) == (1000, 500_000)
    assert issued["serial_range"] == f"WH-2025-{flow.project_id:06d}-WH-M-PV-001-V1-000000001..000001000"
    final = await flow.until(case_id, "issued")
    assert final["state"]["issued"] == issued

    account = (await flow.call("GET", "/accounts/mine", flow.developer)).json()
    assert account["balance_tonnes"] == 1000 and account["account_number"] == issued["account_number"]
    serial = await flow.call("GET", f"/serials/WH-2025-{flow.project_id:06d}-WH-M-PV-001-V1-000000777", None)
    assert serial.json()["case_id"] == case_id and serial.json()["not_declarable_elsewhere"] is True
    register = (await flow.call("GET", "/issued-reductions", None)).json()
    assert [(r["case_id"], r["tonnes"], r["remainder_grams"]) for r in register] == [(case_id, 1000, 500_000)]
    closed = (await flow.call("GET", "/publicity-notices", None, params={"status": "closed"})).json()
    assert [(n["case_id"], n["outcome"], n["remaining_seconds"]) for n in closed] == [(case_id, "completed", 0)]

    with session_factory() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case_id)
                            .order_by(AuditEvent.id)).all()
        mirrored = s.get(Case, case_id)
    assert actions == ["issuance.accounting_report_filed", "issuance.filed", "issuance.verifier_accepted",
                       "issuance.verification_report_filed", "issuance.publicity_completed",
                       "issuance.application_submitted", "issuance.evaluation_completed", "issuance.published",
                       "issuance.issued"]
    assert (mirrored.case_type, mirrored.stage) == ("issuance", "issued")
