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

pytestmark = pytest.mark.asyncio(loop_scope="session")

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

    page = await new_page(browser, live_server)
    await page.goto("/")
    await page.get_by_role("link", name="举报违规行为").first.click()
    await page.wait_for_load_state()
    options = await page.get_by_label("被举报的参与方（必填）").locator("option").all_inner_texts()
    # Participants only: the government is not offered.
    assert "硚口虚报减排有限公司" in options and bureau_org.name not in options

    # Refused by the API's own model: no participant chosen (the browser's `required` removed).
    await page.evaluate("document.getElementById('organisation_id').removeAttribute('required')")
    await page.get_by_label("举报内容（必填）").fill("虚报减排量 / forged reductions")
    await page.get_by_role("button", name="提交举报").click()
    await page.wait_for_load_state()
    alert = await page.get_by_role("alert").inner_text()
    assert "organisation_id" in alert
    with session_factory() as s:
        assert s.scalar(select(Report.id).where(Report.reported_organisation_id == reported.id)) is None

    await page.get_by_label("被举报的参与方（必填）").select_option(label="硚口虚报减排有限公司")
    await page.get_by_label("举报内容（必填）").fill("虚报减排量 / forged reductions")
    await page.get_by_label("您的姓名（选填，严格保密）").fill("举报人李四")
    await page.get_by_role("button", name="提交举报").click()
    await page.wait_for_load_state()
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
    await page.get_by_role("button", name="查询").click()
    await page.wait_for_load_state()
    assert "404" in await page.get_by_role("alert").inner_text() or await page.get_by_role("alert").count() == 1
    await page.get_by_label("受理回执码").fill(code)
    await page.get_by_role("button", name="查询").click()
    await page.wait_for_load_state()
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
    assert "/api/v1/disclosure/neutrality?format=csv" in hrefs and len(hrefs) == 4
    for href in hrefs:
        r = await api.get(href)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), href
    await shot(page, "disclosure")
    r = await api.get("/disclosure?year=1900")
    assert r.status_code == 422 and "year" in r.text

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
    await page.get_by_role("link", name="注册").click()
    await page.wait_for_load_state()
    await page.get_by_label("姓名").fill("市民 王五")
    await page.get_by_label("电子邮箱").fill(email)
    await page.get_by_label("密码（至少 10 个字符）").fill("short")
    await page.evaluate("document.getElementById('password').removeAttribute('minlength')")
    await page.get_by_role("button", name="注册").click()
    await page.wait_for_load_state()
    assert "password" in await page.get_by_role("alert").inner_text()
    await page.get_by_label("密码（至少 10 个字符）").fill("correct horse battery")
    await page.get_by_role("button", name="注册").click()
    await page.wait_for_load_state()
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
    await other.get_by_role("button", name="注册").click()
    await other.wait_for_load_state()
    assert "email" in await other.get_by_role("alert").inner_text()

    # A wrong binding code is refused with the API's field; the source's code binds.
    await page.get_by_label("应用提供的绑定码").fill("WRONG-CODE")
    await page.get_by_role("button", name="绑定", exact=True).click()
    await page.wait_for_load_state()
    assert "code" in await page.get_by_role("alert").inner_text()
    r = await api.post("/api/v1/binding-codes", headers=source.headers, json={"subject_ref": "metro-user-8841"})
    assert r.status_code == 201, r.text
    await page.get_by_label("应用提供的绑定码").fill(r.json()["code"])
    await page.get_by_role("button", name="绑定", exact=True).click()
    await page.wait_for_load_state()
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
    await page.get_by_role("button", name=re.compile("解除绑定")).click()
    await page.wait_for_load_state()
    assert await page.get_by_role("button", name=re.compile("解除绑定")).count() == 0
    assert "已解除绑定" in await page.content()
