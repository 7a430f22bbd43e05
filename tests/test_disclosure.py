"""Disclosure and statistics (Art. 30, 31) through HTTP, no login: every list paged with a total, CSV with
zh-CN headers, answered through the public-read cache (a write shows at once, in JSON and CSV)."""

from __future__ import annotations

import csv
import io

from domain.roles import Role
from store import ledger
from tests.ledger_helpers import issue_units, make_project

D = "/api/v1/disclosure"


def _csv(r) -> list[list[str]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    assert r.content.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheet programs read the Chinese
    return list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))


async def _add_expert(client, bureau, make_actor, name: str, expertise: list[str]) -> None:
    user = make_actor(Role.EXPERT)
    r = await client.post("/api/v1/experts", headers=bureau.headers,
                          json={"user_id": user.id, "name": name, "expertise": expertise})
    assert r.status_code == 201, r.text


async def test_committee_names_and_fields_no_contact_paged_and_csv(client, bureau, make_actor):
    for i in range(3):
        await _add_expert(client, bureau, make_actor, f"专家{i}", ["能源 energy", "交通 transport"])
    r = await client.get(f"{D}/committee", params={"limit": 2})
    page = r.json()
    assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 0 and len(page["items"]) == 2
    assert set(page["items"][0]) == {"name", "affiliation", "expertise", "active"}  # no user, no contact
    assert (await client.get(f"{D}/committee", params={"limit": 2, "offset": 2})).json()["items"][0]["name"] == "专家2"
    rows = _csv(await client.get(f"{D}/committee", params={"format": "csv", "limit": 1}))
    assert rows[0] == ["姓名 / name", "单位 / affiliation", "专业领域 / fields", "在任 / active"]
    assert len(rows) == 4  # a download has every row, not one page
    assert rows[1][2] == "能源 energy; 交通 transport" and rows[1][3] == "是 / yes"


async def test_a_csv_answer_changes_with_the_data_and_answers_304(client, bureau, make_actor):
    await _add_expert(client, bureau, make_actor, "甲", ["x"])
    url = f"{D}/committee?format=csv"
    first = await client.get(url)
    assert len(_csv(first)) == 2
    r = await client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert r.status_code == 304
    await _add_expert(client, bureau, make_actor, "乙", ["y"])
    after = await client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert [row[0] for row in _csv(after)[1:]] == ["甲", "乙"]
    assert after.headers["etag"] != first.headers["etag"]
    # JSON and CSV are separate entries of the same list.
    assert (await client.get(f"{D}/committee")).json()["total"] == 2


async def test_ledger_lists_and_statistics_by_year_district_methodology(
        client, worker, session_factory, make_actor, operator):
    dev = make_actor(Role.APPLICANT)
    org = dev.user.organisation_id
    project = make_project(session_factory, org, dev.id)
    prefix = issue_units(session_factory, project, org, 30, key="issuance-d1")
    with session_factory() as s, s.begin():
        seller = ledger.ensure_account(s, org).account_number
    buyer = make_actor(Role.APPLICANT)
    with session_factory() as s, s.begin():
        bought = ledger.ensure_account(s, buyer.user.organisation_id).account_number
    exchange = make_actor(Role.EXCHANGE)

    stats = (await client.get(f"{D}/statistics")).json()
    assert stats["by"] == ["year", "district", "methodology"]
    assert stats["rows"] == [{"year": 2026, "district": "Jiang'an", "methodology": "WH-M-PV-001",
                              "issued_tonnes": 30, "retired_tonnes": 0, "issuances": 1, "projects": 1}]
    assert (await client.get(f"{D}/transfers")).json()["total"] == 0

    r = await client.post("/api/v1/trades", headers=exchange.headers, json={
        "trade_ref": "d-1", "seller_account": seller, "buyer_account": bought,
        "serial_ranges": [f"{prefix}-000000001..000000012"]})
    assert r.status_code in (200, 201), r.text
    transfers = (await client.get(f"{D}/transfers")).json()
    assert transfers["total"] == 1 and transfers["items"][0]["trades"] == 1 and transfers["items"][0]["tonnes"] == 12
    assert "seller" not in str(transfers) and seller not in str(transfers)  # in aggregate only

    r = await client.post("/api/v1/cancellations", headers=buyer.headers, json={
        "account_number": bought, "quantity": 5, "purpose": "donation", "beneficiary_name": "某公益基金",
        "beneficiary_anonymous": True})
    assert r.status_code == 201, r.text
    n = r.json()["cancellation_id"]
    r = await client.post(f"/api/v1/cancellations/{n}/confirm", headers=operator.headers)
    assert r.status_code == 200, r.text
    cancelled = (await client.get(f"{D}/cancellations")).json()
    assert cancelled["total"] == 1
    row = cancelled["items"][0]
    assert row["beneficiary"] == "匿名 / anonymous" and row["quantity"] == 5
    assert row["certificate_number"] == r.json()["certificate_number"]

    by_district = (await client.get(f"{D}/statistics", params={"by": "district"})).json()
    assert by_district["rows"] == [{"district": "Jiang'an", "issued_tonnes": 30,
                                    "retired_tonnes": 5, "issuances": 1, "projects": 1}]
    rows = _csv(await client.get(f"{D}/statistics", params={"by": ["year", "methodology"], "format": "csv"}))
    assert rows[0][:2] == ["年度 / year", "方法学 / methodology"] and rows[1][:4] == ["2026", "WH-M-PV-001", "30", "5"]

    issued = (await client.get(f"{D}/issuances", params={"year": 2026})).json()
    assert issued["total"] == 1 and issued["items"][0]["tonnes"] == 30
    assert (await client.get(f"{D}/issuances", params={"year": 2025})).json()["total"] == 0
    projects = (await client.get(f"{D}/projects")).json()
    assert projects["items"][0]["methodology_code"] == "WH-M-PV-001"
    methodologies = (await client.get(f"{D}/methodologies")).json()
    assert methodologies["items"][0]["code"] == "WH-M-PV-001" and methodologies["items"][0]["current_version"] == 1
    for name in ("projects", "issuances", "transfers", "cancellations", "methodologies", "scenarios",
                 "publicity-notices", "neutrality"):
        table = _csv(await client.get(f"{D}/{name}", params={"format": "csv"}))
        assert all(" / " in header for header in table[0]), name


async def test_bad_paging_is_refused_with_the_field(client):
    r = await client.get(f"{D}/projects", params={"limit": 0})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert "limit" in r.text
    r = await client.get(f"{D}/statistics", params={"by": "colour"})
    assert r.status_code == 422
