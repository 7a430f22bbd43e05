"""Supervision, disclosure and residents' pages in a real browser (Debian's Chromium through Playwright),
against the app served by uvicorn, the real worker and the Temporal dev server (tests/web_helpers.py):
a public report (举报) with its receipt code shown once and followed by it, the sanctions in force, the
disclosure lists and the registers' CSV downloads. Refusals: a report without a participant (the API's
422 naming `organisation_id`), an unknown receipt code (404), a form without its CSRF token (403)."""

from __future__ import annotations

import re

import pytest

from domain.roles import OrganisationType, Role
from store.models.supervision import Report
from sqlalchemy import select
from tests.web_helpers import (  # noqa: F401  (fixtures)
    api,
    browser,
    eventually,
    live_server,
    live_worker,
    new_page,
    person,
    shot,
    sign_in,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

CSV_LINKS = {
    "/register/methodologies": "/api/v1/disclosure/methodologies?format=csv&include_retired=true",
    "/register/scenario-labels": "/api/v1/disclosure/scenarios?format=csv",
    "/publicity": "/api/v1/disclosure/publicity-notices?format=csv",
    "/register/issued": "/api/v1/disclosure/issuances?format=csv",
    "/certificates": "/api/v1/disclosure/cancellations?format=csv",
}


async def test_public_report_receipt_follow_sanctions_and_disclosure(browser, live_server, api, session_factory,
                                                                     make_org):
    reported = make_org(name="硚口虚报减排有限公司")
    sanctioned = make_org(name="江岸停牌科技有限公司")
    bureau_org = make_org(name="武汉市生态环境局-web3", org_type=OrganisationType.GOVERNMENT)
    operator = person(session_factory, Role.OPERATOR_ADMIN, make_org(org_type=OrganisationType.PUBLIC_INSTITUTION),
                      password=None)

    page = await new_page(browser, live_server, phone=True)
    await page.goto("/")
    async with page.expect_navigation():
        await page.get_by_role("link", name="举报违规行为").first.click()
    options = await page.get_by_label("被举报的参与方（必填）").locator("option").all_inner_texts()
    # Participants only: the government is not offered.
    assert "硚口虚报减排有限公司" in options and bureau_org.name not in options

    # Refused by the API's own model: no participant chosen (the browser's `required` removed).
    await page.evaluate("document.getElementById('organisation_id').removeAttribute('required')")
    await page.get_by_label("举报内容（必填）").fill("虚报减排量 / forged reductions")
    async with page.expect_navigation():
        await page.get_by_role("button", name="提交举报").click()
    alert = await page.get_by_role("alert").inner_text()
    assert "organisation_id" in alert
    with session_factory() as s:
        assert s.scalar(select(Report.id).where(Report.reported_organisation_id == reported.id)) is None

    await page.get_by_label("被举报的参与方（必填）").select_option(label="硚口虚报减排有限公司")
    await page.get_by_label("举报内容（必填）").fill("虚报减排量 / forged reductions")
    await page.get_by_label("您的姓名（选填，严格保密）").fill("举报人李四")
    await shot(page, "report-form-phone")
    async with page.expect_navigation():
        await page.get_by_role("button", name="提交举报").click()
    code = (await page.locator("#receipt-code").inner_text()).strip()
    assert len(code) >= 20
    assert "只显示这一次" in await page.locator("#receipt").inner_text()
    await shot(page, "report-filed")
    # Shown once: not in the URL, and the form page shows no code afterwards.
    assert code not in page.url
    await page.goto("/report")
    assert code not in await page.content()

    # Following it: an unknown code is 404 on the page, the right one shows the stage.
    await page.goto("/report/follow")
    await page.get_by_label("受理回执码").fill("not-a-code")
    async with page.expect_navigation():
        await page.get_by_role("button", name="查询").click()
    assert "404" in await page.get_by_role("alert").inner_text() or await page.get_by_role("alert").count() == 1
    await page.get_by_label("受理回执码").fill(code)
    async with page.expect_navigation():
        await page.get_by_role("button", name="查询").click()
    assert (await page.locator("#report-stage").inner_text()).strip() == "待分派处理人"
    assert code not in page.url
    await shot(page, "report-follow")

    # A form without its CSRF token is refused before its handler runs.
    r = await api.post("/report", data={"organisation_id": str(reported.id), "content": "x"})
    assert r.status_code == 403
    with session_factory() as s:
        assert len(s.scalars(select(Report.id).where(Report.reported_organisation_id == reported.id)).all()) == 1

    # The sanctions in force: none for this participant, then the operator's suspension (API) shows.
    await page.goto("/sanctions")
    assert sanctioned.name not in await page.content()
    r = await api.post("/api/v1/sanctions", headers=operator.headers, json={
        "organisation_id": sanctioned.id, "measure": "suspend", "reason": "虚报 / false reporting"})
    assert r.status_code == 201, r.text
    await page.goto("/sanctions")
    row = page.locator("#sanctions tr", has_text=sanctioned.name)
    assert "暂停" in await row.inner_text()
    await shot(page, "sanctions-in-force")

    # Disclosure: the lists and their CSV downloads (the API's CSV answers).
    await page.goto("/disclosure")
    assert await page.get_by_role("heading", name="场景年度碳中和").count() == 1
    hrefs = await page.locator("a[download]").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert "/api/v1/disclosure/neutrality?format=csv" in hrefs and len(hrefs) == 7
    for href in hrefs:
        r = await api.get(href)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), href
    await shot(page, "disclosure")
    r = await api.get("/disclosure?year=1900")
    assert r.status_code == 422 and "year" in r.text

    # English by the switch.
    en = await new_page(browser, live_server, lang="en")
    await en.goto("/report")
    assert await en.get_by_role("heading", name="Report a participant").count() == 1
    await en.goto("/disclosure")
    assert await en.get_by_role("heading", name="Annual neutrality of scenarios").count() == 1

    # The registers' CSV links (where the API has a CSV form) download.
    for path, href in CSV_LINKS.items():
        response = await page.goto(path)
        assert response.status == 200, path
        link = page.get_by_role("link", name="下载此列表（CSV）")
        assert await link.count() == 1, (path, await page.content())
        assert await link.get_attribute("href") == href, path
        r = await api.get(href)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), href


async def test_resident_signs_up_binds_reads_grams_and_unbinds(browser, live_server, api, session_factory, make_org,
                                                               make_actor):
    import uuid

    from tests.personal_helpers import publish_personal, record, wait_accounted

    publish_personal(session_factory)
    operator = person(session_factory, Role.OPERATOR_ADMIN, make_org(org_type=OrganisationType.PUBLIC_INSTITUTION),
                      password=None)
    source = make_actor(Role.DATA_SOURCE, org=make_org(name=f"武汉地铁出行-{uuid.uuid4().hex[:4]}"))
    r = await api.post("/api/v1/data-sources", headers=operator.headers,
                       json={"organisation_id": source.user.organisation_id, "behaviours": ["metro_km"]})
    assert r.status_code == 201, r.text
    email = f"resident-{uuid.uuid4().hex[:8]}@example.cn"

    # Sign-up: the API's password rule refuses a short password, naming the field.
    page = await new_page(browser, live_server, phone=True)
    await page.goto("/sign-in")
    async with page.expect_navigation():
        await page.get_by_role("link", name="注册").click()
    await page.get_by_label("姓名").fill("市民 王五")
    await page.get_by_label("电子邮箱").fill(email)
    await page.get_by_label("密码（至少 10 个字符）").fill("short")
    await page.evaluate("document.getElementById('password').removeAttribute('minlength')")
    async with page.expect_navigation():
        await page.get_by_role("button", name="注册").click()
    assert "password" in await page.get_by_role("alert").inner_text()
    await page.get_by_label("密码（至少 10 个字符）").fill("correct horse battery")
    async with page.expect_navigation():
        await page.get_by_role("button", name="注册").click()
    assert page.url.endswith("/me")
    assert "0 克" in await page.locator("#balance").inner_text()
    # The API's bearer token made by the sign-up is revoked: the browser has its session instead.
    from store.models.identity import ApiToken, User
    with session_factory() as s:
        uid = s.scalar(select(User.id).where(User.email == email))
        assert all(t.revoked_at is not None for t in s.scalars(select(ApiToken).where(ApiToken.user_id == uid)))

    # The same e-mail again is refused (409 naming `email`).
    other = await new_page(browser, live_server)
    await other.goto("/sign-up")
    await other.get_by_label("姓名").fill("冒名")
    await other.get_by_label("电子邮箱").fill(email)
    await other.get_by_label("密码（至少 10 个字符）").fill("another good password")
    async with other.expect_navigation():
        await other.get_by_role("button", name="注册").click()
    assert "email" in await other.get_by_role("alert").inner_text()

    # A wrong binding code is refused with the API's field; the source's code binds.
    await page.get_by_label("应用提供的绑定码").fill("WRONG-CODE")
    async with page.expect_navigation():
        await page.get_by_role("button", name="绑定", exact=True).click()
    assert "code" in await page.get_by_role("alert").inner_text()
    r = await api.post("/api/v1/binding-codes", headers=source.headers, json={"subject_ref": "metro-user-8841"})
    assert r.status_code == 201, r.text
    await page.get_by_label("应用提供的绑定码").fill(r.json()["code"])
    async with page.expect_navigation():
        await page.get_by_role("button", name="绑定", exact=True).click()
    assert "武汉地铁出行" in await page.locator("#bindings").locator("..").inner_text()

    # The source pushes rides; once accounted, the balance and the statement show the grams.
    r = await api.post("/api/v1/behaviour-batches", headers=source.headers,
                       json={"records": [record(f"web-{i}", "metro-user-8841", quantity=10) for i in range(3)]})
    assert r.status_code == 202, r.text
    await wait_accounted(api, source.headers, r.json()["batch_id"])
    await page.goto("/me")
    grams = int((await page.locator("#statement-total").inner_text()).strip())
    assert grams > 0 and str(grams) in await page.locator("#balance").inner_text()
    await shot(page, "resident-me")

    # Another role has no /me (403 page); a form without its CSRF token is refused.
    applicant = await new_page(browser, live_server)
    await sign_in(applicant, person(session_factory, Role.APPLICANT, make_org()))
    assert (await applicant.goto("/me")).status == 403
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    import httpx
    async with httpx.AsyncClient(base_url=live_server, cookies=cookies) as signed_in_client:
        r = await signed_in_client.post("/me/bindings", data={"code": "x"})
    assert r.status_code == 403 and "csrf" in r.text

    # Unbinding: the binding moves to the ended list.
    async with page.expect_navigation():
        await page.get_by_role("button", name=re.compile("解除绑定")).click()
    assert await page.get_by_role("button", name=re.compile("解除绑定")).count() == 0
    assert "已解除绑定" in await page.content()


async def _csrf_post(page, path: str, form: dict) -> int:
    """A form POST from the signed-in page with its CSRF token, fields of our choosing (a forged form)."""
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    r = await page.request.post(path, form={**form, "csrf_token": token}, max_redirects=0)
    return r.status


async def test_authorities_handle_a_report_and_sanction(browser, live_server, api, session_factory, make_org):
    reported = make_org(name="青山虚构碳汇有限公司")
    bureau = person(session_factory, Role.BUREAU_ADMIN, make_org(org_type=OrganisationType.GOVERNMENT),
                    name="局 审核员")
    handler = person(session_factory, Role.OPERATOR_ADMIN, make_org(org_type=OrganisationType.PUBLIC_INSTITUTION),
                     name="运营 处理人")
    r = await api.post("/api/v1/reports", json={"organisation_id": reported.id, "content": "重复计算减排量",
                                                "reporter_name": "举报人赵六", "contact": "zhao6@example.cn"})
    assert r.status_code == 201, r.text
    n = r.json()["report_id"]

    # The bureau's dashboard lists the report awaiting a handler; its page hides the reporter.
    bp = await new_page(browser, live_server)
    await sign_in(bp, bureau)
    await bp.goto("/dashboard")
    assert f"report-{n}" in await bp.locator("#reports-unassigned").inner_text()
    await shot(bp, "dashboard-supervision")
    async with bp.expect_navigation():
        await bp.get_by_role("link", name=f"report-{n}").first.click()
    assert "举报人赵六" not in await bp.content() and await bp.locator("#reporter-sealed").count() == 1
    await bp.get_by_label("处理人（生态环境局或运营机构人员，不得来自被举报方）").select_option(value=str(handler.id))
    async with bp.expect_navigation():
        await bp.get_by_role("button", name="指派", exact=True).click()
    assert (await bp.locator("#report-stage").inner_text()).startswith("待受理")
    assert "运营 处理人" in await bp.locator("#handler").inner_text()
    assert "举报人赵六" not in await bp.content()
    assert await bp.get_by_role("button", name="受理该举报").count() == 0
    await shot(bp, "report-assigned")

    # The handler: no assignment form, a forged one refused (the API's Bureau rule); sees the reporter.
    hp = await new_page(browser, live_server)
    await sign_in(hp, handler)
    await hp.goto(f"/supervision/reports/{n}")
    assert await hp.get_by_role("button", name="指派", exact=True).count() == 0
    assert await _csrf_post(hp, f"/supervision/reports/{n}/assignment", {"handler_user_id": str(handler.id)}) == 403
    await hp.goto(f"/supervision/reports/{n}")
    assert "举报人赵六" in await hp.locator("#reporter").inner_text()
    async with hp.expect_navigation():
        await hp.get_by_role("button", name="受理该举报").click()
    assert (await hp.locator("#report-stage").inner_text()).startswith("调查处理中")
    # A conclusion without its text is refused naming `conclusion`.
    await hp.get_by_label("是", exact=True).check()
    await hp.evaluate("document.getElementById('conclusion').removeAttribute('required')")
    async with hp.expect_navigation():
        await hp.get_by_role("button", name="办结该举报").click()
    assert "conclusion" in await hp.get_by_role("alert").inner_text()
    await hp.get_by_label("是", exact=True).check()
    await hp.get_by_label("处理结论（必填）").fill("情况属实，已责令整改")
    async with hp.expect_navigation():
        await hp.get_by_role("button", name="办结该举报").click()
    assert (await hp.locator("#report-stage").inner_text()).startswith("已办结")
    await shot(hp, "report-concluded")
    # The bureau (not the handler) may not acknowledge: refused by the case.
    assert await _csrf_post(bp, f"/supervision/reports/{n}/acknowledgement", {}) >= 400

    # Sanctions: the operator suspends the participant; the government is refused (art33.participant);
    # a second measure is refused (art33.measure_in_force); the reinstatement lifts it.
    await hp.goto("/supervision/sanctions")
    await hp.get_by_label("参与方", exact=True).select_option(label="青山虚构碳汇有限公司")
    await hp.get_by_label("暂停（可恢复）").check()
    await hp.get_by_label("理由（必填）").fill("举报属实 / report substantiated")
    await hp.get_by_label("举报编号（选填）").fill(str(n))
    async with hp.expect_navigation():
        await hp.get_by_role("button", name="执行处理措施").click()
    assert "青山虚构碳汇有限公司" in await hp.locator("#sanctions").inner_text()
    assert await _csrf_post(hp, "/supervision/sanctions", {
        "organisation_id": str(bureau.user.organisation_id), "measure": "suspend", "reason": "x"}) == 422
    assert await _csrf_post(hp, "/supervision/sanctions", {
        "organisation_id": str(reported.id), "measure": "terminate", "reason": "again"}) == 409

    async def in_force():
        await hp.goto("/supervision/sanctions")
        return await hp.get_by_role("button", name="恢复").count()
    await eventually(in_force, "the suspension in force")
    await bp.goto("/dashboard")
    assert "青山虚构碳汇有限公司" in await bp.locator("#supervision-sanctions").inner_text()
    await bp.goto("/supervision/sanctions")
    assert await bp.get_by_role("button", name="执行处理措施").count() == 0  # the bureau does not sanction
    assert await _csrf_post(bp, "/supervision/sanctions", {
        "organisation_id": str(reported.id), "measure": "suspend", "reason": "x"}) == 403
    await shot(hp, "sanctions-authority")
    # The sanction's case page (stage timeline) opens for the authority.
    sanction_link = hp.locator("#sanctions tr", has_text="青山虚构碳汇有限公司").get_by_role("link")
    case_path = await sanction_link.get_attribute("href")
    assert (await hp.request.get(case_path)).status == 200
    await hp.get_by_label("恢复理由").fill("已整改 / rectified")
    async with hp.expect_navigation():
        await hp.get_by_role("button", name="恢复").click()

    async def lifted():
        r = await api.get("/api/v1/sanctions", headers=handler.headers)
        return [s for s in r.json() if s["organisation_id"] == reported.id and s["stage"] == "lifted"]
    await eventually(lifted, "the suspension lifted")

    # The neutrality obligations list (authorities only), overdue first. The rows are what the neutrality
    # case writes (tests/test_neutrality.py runs the case itself); here they are put in through the store.
    from datetime import date

    from store.models.disclosure import NeutralityObligation
    owner_org = make_org(name="武昌茶馆-web3")
    owner = person(session_factory, Role.APPLICANT, owner_org, password=None)
    r = await api.post("/api/v1/scenarios", headers=owner.headers, json={
        "name": "茶馆无一次性杯", "category": "restaurant", "address": "昙华林 3 号", "district": "wu_chang",
        "behaviour_description": "no disposable cups"})
    assert r.status_code == 201, r.text
    scenario_id = r.json()["id"]
    with session_factory() as s, s.begin():
        for year, overdue in ((2024, True), (2025, False)):
            s.add(NeutralityObligation(scenario_id=scenario_id, year=year, case_id=f"neutrality-{scenario_id}",
                                       organisation_id=owner_org.id, report_due=date(year + 1, 3, 31),
                                       due=date(year + 1, 6, 30), overdue=overdue))
    await bp.goto("/supervision/neutrality")
    assert await bp.get_by_role("heading", name="年度碳中和义务").count() == 1
    rows = bp.locator("#obligations tbody tr")
    assert "已逾期" in await rows.first.inner_text() and "2024" in await rows.first.inner_text()
    async with bp.expect_navigation():
        await bp.get_by_role("link", name="只显示逾期").click()
    assert await bp.locator("#obligations tbody tr.overdue").count() == await bp.locator("#obligations tbody tr").count() >= 1
    years = await bp.locator("#obligations tbody tr td:first-child").all_inner_texts()
    assert "2024" in years and "2025" not in years
    await shot(bp, "neutrality-obligations")
    applicant = await new_page(browser, live_server)
    await sign_in(applicant, person(session_factory, Role.APPLICANT, reported))
    assert (await applicant.goto(f"/supervision/reports/{n}")).status == 403
    assert (await applicant.goto("/supervision/neutrality")).status == 403
