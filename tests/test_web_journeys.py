"""More journeys in a real browser (Debian's Chromium through Playwright), against the app served by
uvicorn, the real worker and the Temporal dev server: the ledger (an account's holdings, a cancellation
request, the public certificate with its PDF), an authority inviting a person, a methodology
resubmitted after its return, a verifier filing its report (and the notice then counting 7 working
days). Set-up steps a page does not offer go through the API or the store, as in test_web_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from domain.roles import OrganisationType, Role
from store.models.identity import User
from store.models.ledger import Cancellation
from tests.web_helpers import (  # noqa: F401  (fixtures)
    PASSWORD,
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


def a_pdf(folder: Path, name: str = "report.pdf") -> Path:
    from pypdf import PdfWriter

    path = folder / name
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    with path.open("wb") as f:
        writer.write(f)
    return path


async def test_account_cancellation_and_public_certificate(browser, live_server, api, session_factory, make_org):
    from tests.issuance_helpers import make_project
    from tests.ledger_helpers import issue_units

    org = make_org(name="汉阳光伏有限公司")
    holder = person(session_factory, Role.APPLICANT, org, name="财务 陈")
    operator = person(session_factory, Role.OPERATOR_ADMIN, make_org(org_type=OrganisationType.PUBLIC_INSTITUTION))
    project = make_project(session_factory, org.id, holder.user.id, facility_id="FAC-WEB-1")
    issue_units(session_factory, project, org.id, 120, key="web-ledger-1")

    # The holder opens its account from the menu: balance, the serial block, no cancellation yet.
    page = await new_page(browser, live_server)
    await sign_in(page, holder)
    async with page.expect_navigation():
        await page.get_by_role("link", name="账户", exact=True).click()
    assert re.search(r"/accounts/[^/]+$", page.url)
    number = page.url.rsplit("/", 1)[1]
    assert "120" in await page.locator("#balance").inner_text()
    block = page.get_by_role("link", name=re.compile(rf"-{project.id:06d}-"))  # the series names the project
    assert await block.count() == 1
    first_serial = (await block.get_attribute("href")).split("=", 1)[1]
    from urllib.parse import unquote
    first_serial = unquote(first_serial)
    await shot(page, "account")

    # A refusal is shown on the page with the API's field and rule: more than the account holds.
    await page.get_by_label("吨数（整吨；或在下方填写编号范围）").fill("500")
    await page.evaluate("document.getElementById('quantity').removeAttribute('max')")
    await page.get_by_label("用途", exact=True).select_option("donation")
    await page.get_by_label("受益方（必填）").fill("武汉市青少年发展基金会")
    async with page.expect_navigation():
        await page.get_by_role("button", name="申请注销").click()
    assert await page.get_by_role("alert").count() == 1
    assert "quantity" in await page.get_by_role("alert").inner_text()
    with session_factory() as s:
        assert s.scalar(select(Cancellation.id)) is None

    # The request for 30 t: reserved at once, shown with its case and due date.
    await page.get_by_label("吨数（整吨；或在下方填写编号范围）").fill("30")
    await page.get_by_label("用途", exact=True).select_option("donation")
    await page.get_by_label("受益方（必填）").fill("武汉市青少年发展基金会")
    async with page.expect_navigation():
        await page.get_by_role("button", name="申请注销").click()
    assert "注销冻结中" in await page.locator("#cancellations").locator("..").inner_text()
    assert "90" in await page.locator("#balance").inner_text()
    await shot(page, "account-cancellation-requested")
    with session_factory() as s:
        [cancellation_id] = s.scalars(select(Cancellation.id)).all()

    # Another organisation's applicant gets the 404 page for this account, and nothing of it.
    stranger = await new_page(browser, live_server)
    await sign_in(stranger, person(session_factory, Role.APPLICANT, make_org()))
    response = await stranger.goto(f"/accounts/{number}")
    assert response.status == 404 and "汉阳光伏" not in await stranger.content()
    # The operator decides on the case page: a rejection without a reason is refused (the API's rule),
    # then it confirms; the holder's page links the certificate.
    op = await new_page(browser, live_server)
    await sign_in(op, operator)

    async def decision_form():
        await op.goto(f"/cases/cancellation-{cancellation_id}")
        return await op.get_by_role("button", name="提交决定").count()
    await eventually(decision_form, "the cancellation decision form")
    await op.get_by_label("驳回：解除冻结，减排量退回持有人").check()
    async with op.expect_navigation():
        await op.get_by_role("button", name="提交决定").click()
    assert "reason" in await op.get_by_role("alert").inner_text()
    await shot(op, "cancellation-decision")
    await op.get_by_label("确认：减排量永久注销并出具注销证明").check()
    async with op.expect_navigation():
        await op.get_by_role("button", name="提交决定").click()
    r = await api.get(f"/api/v1/cancellations/{cancellation_id}", headers=operator.headers)
    assert r.json()["status"] == "confirmed", r.text
    certificate = r.json()["certificate_number"]
    assert certificate in await op.content()
    # The holder reads the case but is offered no decision.
    await page.goto(f"/cases/cancellation-{cancellation_id}")
    assert await page.get_by_role("button", name="提交决定").count() == 0
    await page.goto(f"/accounts/{number}")
    async with page.expect_navigation():
        await page.get_by_role("link", name=certificate).click()

    # Anyone checks the certificate by its number and opens its PDF.
    public = await new_page(browser, live_server, phone=True)
    await public.goto("/")
    await public.get_by_role("link", name="注销证明").first.click()
    await public.get_by_label("证明编号（WH-C-YYYY-NNNNNN）").fill("WH-C-1999-999999")
    async with public.expect_navigation():
        await public.get_by_role("button", name="查询").click()
    assert "未找到" in await public.content() or await public.get_by_role("alert").count() == 1
    # By keyboard alone: type into the labelled field and press Enter.
    await public.get_by_label("证明编号（WH-C-YYYY-NNNNNN）").fill("")
    await public.get_by_label("证明编号（WH-C-YYYY-NNNNNN）").press_sequentially(certificate.lower())
    await public.keyboard.press("Enter")
    await public.wait_for_url(re.compile(f"/certificates/{certificate}$"))
    text = await public.content()
    assert "武汉市青少年发展基金会" in text and "30 tCO2e" in text
    await shot(public, "certificate-phone")
    # The serial lookup of a cancelled serial links its certificate.
    await public.goto("/serials")
    await public.get_by_label("序列号", exact=True).fill(first_serial)
    async with public.expect_navigation():
        await public.get_by_role("button", name="查询").click()
    assert "已注销" in await public.content()
    await public.get_by_role("link", name=certificate).click()
    await public.wait_for_url(re.compile(f"/certificates/{certificate}$"))
    pdf = await public.get_by_role("link", name="注销证明（PDF）").get_attribute("href")
    r = await api.get(pdf)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")


async def test_account_page_needs_the_holder_and_a_valid_form(browser, live_server, api, session_factory, make_org):
    from tests.issuance_helpers import make_project
    from tests.ledger_helpers import issue_units

    org = make_org()
    holder = person(session_factory, Role.APPLICANT, org)
    project = make_project(session_factory, org.id, holder.user.id, facility_id="FAC-WEB-2")
    issue_units(session_factory, project, org.id, 10, key="web-ledger-2")
    page = await new_page(browser, live_server)
    await sign_in(page, holder)
    await page.goto("/my/account")
    number = page.url.rsplit("/", 1)[1]

    # A form without its CSRF token is refused before its handler: nothing is reserved.
    await page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    await page.get_by_label("吨数（整吨；或在下方填写编号范围）").fill("5")
    await page.get_by_label("受益方（必填）").fill("某某")
    async with page.expect_navigation():
        await page.get_by_role("button", name="申请注销").click()
    assert "CSRF" in await page.content()

    # The operator sees the account (authorities may), but is not its holder: no cancellation form.
    operator = person(session_factory, Role.OPERATOR_ADMIN, make_org(org_type=OrganisationType.PUBLIC_INSTITUTION))
    other = await new_page(browser, live_server)
    await sign_in(other, operator)
    response = await other.goto(f"/accounts/{number}")
    assert response.status == 200
    assert await other.get_by_role("button", name="申请注销").count() == 0
    with session_factory() as s:
        assert s.scalar(select(Cancellation.id)) is None


async def test_authority_invites_a_person_who_sets_a_password(browser, live_server, api, session_factory, make_org):
    bureau_org = make_org(org_type=OrganisationType.GOVERNMENT)
    bureau = person(session_factory, Role.BUREAU_ADMIN, bureau_org, name="王局")
    firm = make_org(name="江岸节能科技有限公司")

    page = await new_page(browser, live_server)
    await sign_in(page, bureau)
    async with page.expect_navigation():
        await page.get_by_role("link", name="用户", exact=True).click()
    await page.get_by_label("姓名（必填）").fill("刘申报")
    await page.get_by_label("电子邮箱（必填，用于登录）").fill("liu@jiangan-energy.cn")
    await page.get_by_label("角色", exact=True).select_option("applicant")
    await page.get_by_label("单位", exact=True).select_option(label="江岸节能科技有限公司")
    async with page.expect_navigation():
        await page.get_by_role("button", name="创建并显示邀请链接").click()
    link = await page.get_by_label("一次性链接").input_value()
    assert re.search(r"/invitation/inv_", link)
    await shot(page, "users-invitation-link")
    # The link is shown once: reloading the list does not show it again.
    await page.goto("/users")
    assert await page.get_by_label("一次性链接").count() == 0

    newcomer = await new_page(browser, live_server, phone=True)
    await newcomer.goto(link)
    await newcomer.get_by_label("新密码（至少10个字符）").fill("a long new password")
    await newcomer.get_by_label("再次输入密码").fill("a long new password")
    await newcomer.get_by_role("button", name="设置密码并登录").click()
    await newcomer.wait_for_url(re.compile("/my/cases$"))
    with session_factory() as s:
        user = s.scalar(select(User).where(User.email == "liu@jiangan-energy.cn"))
        assert user.role == "applicant" and user.organisation_id == firm.id

    # The operator may not manage a bureau administrator: the role is not offered, no invite button,
    # and a forged post is refused with a 403 page (the API's rule, domain.roles.may_manage_user).
    operator = person(session_factory, Role.OPERATOR_ADMIN, make_org(org_type=OrganisationType.PUBLIC_INSTITUTION))
    op = await new_page(browser, live_server)
    await sign_in(op, operator)
    await op.goto("/users")
    assert await op.locator("#role option[value=bureau_admin]").count() == 0
    assert await op.get_by_role("button", name="邀请 / 重置密码：王局").count() == 0
    assert await op.get_by_role("button", name="邀请 / 重置密码：刘申报").count() == 1
    await op.evaluate(f"document.querySelector('form[action=\"/users/{user.id}/invitation\"]').action = "
                      f"'/users/{bureau.user.id}/invitation'")
    async with op.expect_navigation():
        await op.get_by_role("button", name="邀请 / 重置密码：刘申报").click()
    assert "请求未被受理" in await op.content()
    assert await op.get_by_label("一次性链接").count() == 0

    # An applicant has no user page at all.
    response = await newcomer.goto("/users")
    assert response.status == 403


async def test_applicant_resubmits_a_returned_methodology(browser, live_server, api, session_factory, make_org,
                                                          tmp_path):
    bureau = person(session_factory, Role.BUREAU_ADMIN, make_org(org_type=OrganisationType.GOVERNMENT))
    applicant = person(session_factory, Role.APPLICANT, make_org())
    r = await api.post("/api/v1/methodologies", headers=applicant.headers, json={
        "title": "公共自行车骑行", "scope": "project", "domain": "energy_substitution",
        "summary": "骑行替代机动车出行。"})
    assert r.status_code == 201, r.text
    case_no, case_id = r.json()["id"], r.json()["case_id"]

    async def returned():
        r = await api.post(f"/api/v1/methodologies/{case_no}/completeness", headers=bureau.headers,
                           json={"decision": "return", "reasons": "缺少基准线情景的数据来源。"})
        return r.status_code == 200
    await eventually(returned, "the bureau returns the submission")

    page = await new_page(browser, live_server, phone=True)
    await sign_in(page, applicant)
    await page.goto(f"/cases/{case_id}")
    async with page.expect_navigation():
        await page.get_by_role("link", name="重新提交修改后的方法学").click()
    assert "缺少基准线情景的数据来源" in await page.content()
    assert await page.get_by_label("名称", exact=True).input_value() == "公共自行车骑行"  # the current content, to amend
    await page.get_by_label("摘要", exact=True).fill("骑行替代机动车出行；基准线数据来自市交通局年报。")
    await page.get_by_label("修改说明（选填）").fill("补充了基准线数据来源。")
    await page.set_input_files("#files", str(a_pdf(tmp_path, "baseline.pdf")))
    await shot(page, "methodology-resubmission-phone")
    await page.get_by_role("button", name="重新提交").click()
    await page.wait_for_url(re.compile(f"/cases/{case_id}$"))
    r = await api.get(f"/api/v1/methodologies/{case_no}", headers=applicant.headers)
    body = r.json()
    assert body["stage"] == "completeness_check" and body["submission_no"] == 2
    assert body["summary"].endswith("市交通局年报。") and len(body["document_ids"]) == 1
    assert "baseline.pdf" in await page.content()

    # Resubmitting again now is refused by the case (it is not returned any more), shown on the form.
    await page.goto(f"/cases/{case_id}/methodology/resubmission")
    async with page.expect_navigation():
        await page.get_by_role("button", name="重新提交").click()
    assert await page.get_by_role("alert").count() >= 1
    r = await api.get(f"/api/v1/methodologies/{case_no}", headers=applicant.headers)
    assert r.json()["submission_no"] == 2

    # Another organisation's applicant cannot open the form: 404 page.
    other = await new_page(browser, live_server)
    await sign_in(other, person(session_factory, Role.APPLICANT, make_org()))
    assert (await other.goto(f"/cases/{case_id}/methodology/resubmission")).status == 404


async def test_verifier_files_its_report_and_the_notice_counts_seven_working_days(
        browser, live_server, api, local_temporal_env, session_factory, make_org, make_actor, tmp_path):
    from tests.issuance_flow import make_flow

    bureau = make_actor(Role.BUREAU_ADMIN)
    flow = await make_flow(api, local_temporal_env, make_actor, make_org, bureau, make_actor(Role.OPERATOR_ADMIN),
                           session_factory)
    case_id = (await flow.file(claimed="1234.567"))["case_id"]
    await flow.until(case_id, "awaiting_verifier")
    await flow.call("POST", f"/issuance-cases/{case_id}/verifier-response", flow.verifier, json={"accept": True})
    await flow.until(case_id, "verification")

    verifier = person(session_factory, Role.VERIFIER, None, name="核查员 周")
    with session_factory() as s, s.begin():  # a person of the commissioned verification body
        s.get(User, verifier.user.id).organisation_id = flow.verifier_org_id
    page = await new_page(browser, live_server)
    await sign_in(page, verifier)
    await page.goto("/my/cases")
    async with page.expect_navigation():
        await page.get_by_role("link", name=case_id).click()

    # The verifier asks for corrections; the developer amends the report on its case page.
    await page.get_by_label("请项目业主更正：需更正的内容（必填）").fill("监测数据缺少3月电表读数。")
    async with page.expect_navigation():
        await page.get_by_role("button", name="要求更正").click()
    await flow.until(case_id, "correction")
    developer = person(session_factory, Role.APPLICANT, None, name="业主 吴")
    with session_factory() as s, s.begin():  # a person of the developer's organisation
        s.get(User, developer.user.id).organisation_id = flow.developer.user.organisation_id
    dev = await new_page(browser, live_server, phone=True)
    await sign_in(dev, developer)
    await dev.goto(f"/cases/{case_id}")
    assert "监测数据缺少3月电表读数" in await dev.content()
    await dev.get_by_label("更正说明（必填）").fill("已补充3月电表读数。")
    await dev.get_by_label("申报减排量（如有变化，最多3位小数）").fill("1200.25")
    await dev.set_input_files("#am-files", str(a_pdf(tmp_path, "meter-march.pdf")))
    await shot(dev, "developer-amendment-phone")
    async with dev.expect_navigation():
        await dev.get_by_role("button", name="提交更正后的报告").click()
    state = await flow.until(case_id, "verification")
    assert state["claimed_tco2e"] == "1200.250"
    await page.reload()

    # More than claimed: the API's refusal, naming the field, on the case page; nothing filed.
    await page.get_by_label("核查减排量（tCO2e，最多3位小数，不超过申报量）").fill("2000")
    await page.get_by_label("核查结论（必填）").fill("合理保证，无发现。")
    async with page.expect_navigation():
        await page.get_by_role("button", name="提交核查报告").click()
    assert "verified_tco2e" in await page.get_by_role("alert").inner_text()
    assert (await flow.state(case_id))["stage"] == "verification"

    await page.get_by_label("核查减排量（tCO2e，最多3位小数，不超过申报量）").fill("1000.5")
    await page.get_by_label("核查结论（必填）").fill("合理保证，无发现。")
    await page.set_input_files("#vfiles", str(a_pdf(tmp_path, "verification-report.pdf")))
    await shot(page, "verifier-report-form")
    async with page.expect_navigation():
        await page.get_by_role("button", name="提交核查报告").click()
    assert "verification-report.pdf" in await page.content()
    state = await flow.until(case_id, "publicity")
    assert state["verified_tco2e"] == "1000.500"

    # The notice opened during today: its 7 working days all lie ahead (today is not one of them).
    public = await new_page(browser, live_server, phone=True)
    await public.goto("/publicity")
    async with public.expect_navigation():
        await public.get_by_role("link", name="Rooftop PV, Plant 3").first.click()
    assert (await public.locator("#remaining").inner_text()).strip() == "7 个工作日"
    await shot(public, "publicity-notice-phone")


def _published_spec(session_factory, author_id: int) -> None:
    """A restaurant specification as the bureau's panel would have published it (Art. 12; the spec
    review is tested in test_scenario.py)."""
    from domain.clock import now_utc
    from store.models.scenario import EvaluationSpec, EvaluationSpecItem

    now = now_utc()
    with session_factory() as s, s.begin():
        s.add(EvaluationSpec(category="restaurant", version=1, title="低碳餐厅评价规范", status="published",
                             pass_mark=60, created_by=author_id, created_at=now, published_by=author_id,
                             published_at=now, items=[
                                 EvaluationSpecItem(position=0, code="G1", name="不主动提供一次性餐具", kind="gate"),
                                 EvaluationSpecItem(position=1, code="W1", name="减少食物浪费措施", kind="weighted",
                                                    weight=60),
                                 EvaluationSpecItem(position=2, code="W2", name="顾客低碳激励", kind="weighted",
                                                    weight=40)]))


async def test_applicant_drafts_a_scenario_self_assesses_and_applies(browser, live_server, api, session_factory,
                                                                     make_org):
    org = make_org(name="户部巷餐饮有限公司")
    applicant = person(session_factory, Role.APPLICANT, org, name="店长 郑")
    operator = person(session_factory, Role.OPERATOR_ADMIN, make_org(org_type=OrganisationType.PUBLIC_INSTITUTION))
    _published_spec(session_factory, operator.user.id)

    page = await new_page(browser, live_server, phone=True)
    await sign_in(page, applicant)
    await page.goto("/my/cases")
    async with page.expect_navigation():
        await page.get_by_role("link", name="我的场景").first.click()
    # The draft form refuses what the API refuses: a missing field is named.
    await page.get_by_label("场景名称（必填）").fill("户部巷热干面")
    await page.get_by_label("类别", exact=True).select_option("restaurant")
    await page.get_by_label("行政区").select_option("wu_chang")
    await page.get_by_label("地址（必填）").fill("武昌区户部巷1号")
    await page.get_by_label("用户低碳行为的记录与激励方式（必填）").fill("顾客扫码选择不要一次性餐具，获得积分。")
    await shot(page, "scenario-draft-phone")
    await page.get_by_role("button", name="保存草稿").click()
    await page.wait_for_url(re.compile(r"/my/scenarios/\d+$"))
    scenario_id = int(page.url.rsplit("/", 1)[1])

    # A self-assessment that misses the required item does not pass: no application is offered.
    await page.get_by_label("得分（0–60）").fill("55")
    await page.get_by_label("得分（0–40）").fill("35")
    async with page.expect_navigation():
        await page.get_by_role("button", name="提交自评").click()
    assert "未达标" in await page.locator("#assessments").locator("..").inner_text()
    assert await page.get_by_role("button", name="申请评价").count() == 0

    await page.get_by_label("已满足（必备项）").check()
    await page.get_by_label("得分（0–60）").fill("55")
    await page.get_by_label("得分（0–40）").fill("35")
    async with page.expect_navigation():
        await page.get_by_role("button", name="提交自评").click()
    await shot(page, "scenario-self-assessed-phone")
    await page.get_by_role("button", name="申请评价").click()
    await page.wait_for_url(re.compile(r"/cases/scenario-\d+$"))
    case_id = page.url.rsplit("/", 1)[1]
    r = await api.get(f"/api/v1/scenario-cases/{case_id}", headers=applicant.headers)
    assert r.status_code == 200 and r.json()["scenario_id"] == scenario_id

    # While the case is open the scenario page offers no second application (one at a time).
    await page.goto(f"/my/scenarios/{scenario_id}")
    assert await page.get_by_role("button", name="申请评价").count() == 0
    # The applicant withdraws the application on its case page.
    await page.goto(f"/cases/{case_id}")
    await page.get_by_label("撤回申请：理由（必填）").fill("门店装修，暂缓评价。")
    async with page.expect_navigation():
        await page.get_by_role("button", name="撤回").click()

    async def withdrawn():
        r = await api.get(f"/api/v1/scenario-cases/{case_id}", headers=applicant.headers)
        return r.json()["stage"] == "withdrawn"
    await eventually(withdrawn, "the application withdrawn")

    # Another organisation's applicant gets the 404 page; the operator does not draft (403 page).
    other = await new_page(browser, live_server)
    await sign_in(other, person(session_factory, Role.APPLICANT, make_org()))
    assert (await other.goto(f"/my/scenarios/{scenario_id}")).status == 404
    assert "户部巷" not in await other.content()
    op = await new_page(browser, live_server)
    await sign_in(op, operator)
    assert (await op.goto("/my/scenarios")).status == 403


async def test_bureau_reevaluates_a_published_methodology(browser, live_server, api, session_factory, make_org):
    from sqlalchemy import text as sql

    from tests.methodology_rows import publish_methodology

    owner_org = make_org()
    owner = person(session_factory, Role.APPLICANT, owner_org)
    bureau = person(session_factory, Role.BUREAU_ADMIN, make_org(org_type=OrganisationType.GOVERNMENT))
    publish_methodology(session_factory, code="WH-M-WEB-001")
    with session_factory() as s, s.begin():
        s.execute(sql("UPDATE methodologies SET owner_organisation_id = :o WHERE code = 'WH-M-WEB-001'"),
                  {"o": owner_org.id})

    # Nobody but the bureau is offered the form on the register page.
    public = await new_page(browser, live_server)
    await public.goto("/register/methodologies/WH-M-WEB-001")
    assert await public.get_by_role("button", name="发起复评").count() == 0

    page = await new_page(browser, live_server)
    await sign_in(page, bureau)
    await page.goto("/register/methodologies/WH-M-WEB-001")
    await page.get_by_label("复评当前版本的理由（必填）").fill("国家发布了新的电网排放因子。")
    await page.get_by_role("button", name="发起复评").click()
    try:
        await page.wait_for_url(re.compile(r"/cases/[^/]+$"))
    except Exception:
        print("DEBUG-PAGE", page.url, (await page.content())[:3000])
        raise
    case_id = page.url.rsplit("/", 1)[1]

    async def decision_form():
        await page.goto(f"/cases/{case_id}")
        return await page.get_by_role("button", name="提交决定").count()
    await eventually(decision_form, "the re-evaluation decision form")
    assert "国家发布了新的电网排放因子" in await page.content()
    await shot(page, "reevaluation-decision")
    # While it is open the register page links it instead of offering a second (the API's
    # one_open_reevaluation); a second sent anyway (a form kept open in another tab) is refused.
    stale = await new_page(browser, live_server)
    await sign_in(stale, bureau)
    await page.goto("/register/methodologies/WH-M-WEB-001")
    assert await page.get_by_role("button", name="发起复评").count() == 0
    assert await page.get_by_role("link", name=case_id).count() == 1
    await stale.goto("/register/methodologies/WH-M-WEB-001")
    await stale.evaluate("""() => {
        const f = document.createElement('form'); f.method = 'post';
        f.action = '/register/methodologies/WH-M-WEB-001/reevaluations';
        for (const [k, v] of [['csrf_token', document.querySelector('input[name=csrf_token]').value],
                              ['reason', '再次评估']]) {
            const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
        }
        document.body.appendChild(f); f.submit(); }""")
    await stale.wait_for_load_state()
    assert "one_open_reevaluation" in await stale.get_by_role("alert").inner_text()

    # A revision needs the new version's content: an empty title is refused naming revised.title.
    await page.goto(f"/cases/{case_id}")
    await page.get_by_label("修订：形成新版本，经专家组评审后发布").check()
    await page.get_by_label("理由（必填）").fill("需要修订。")
    await page.locator("#re-title").fill("")
    async with page.expect_navigation():
        await page.get_by_role("button", name="提交决定").click()
    assert "revised.title" in await page.get_by_role("alert").inner_text()

    # The owner sees the case but may not decide; another applicant gets the 404 page.
    owner_page = await new_page(browser, live_server)
    await sign_in(owner_page, owner)
    assert (await owner_page.goto(f"/cases/{case_id}")).status == 200
    assert await owner_page.get_by_role("button", name="提交决定").count() == 0
    stranger = await new_page(browser, live_server)
    await sign_in(stranger, person(session_factory, Role.APPLICANT, make_org()))
    assert (await stranger.goto(f"/cases/{case_id}")).status == 404

    # The bureau confirms the version: the re-evaluation ends confirmed.
    await page.goto(f"/cases/{case_id}")
    await page.get_by_label("确认：当前版本继续有效").check()
    await page.get_by_label("理由（必填）").fill("新因子与原版本一致，无需修订。")
    async with page.expect_navigation():
        await page.get_by_role("button", name="提交决定").click()

    async def confirmed():
        with session_factory() as s:
            return s.scalar(sql("SELECT stage FROM methodology_reevaluations WHERE case_id = :c"),
                            {"c": case_id}) == "confirmed"
    await eventually(confirmed, "the re-evaluation confirmed")
    await page.reload()
    assert "国家发布了新的电网排放因子" in await page.content()


async def test_developer_commissions_another_verifier_after_a_decline(
        browser, live_server, api, local_temporal_env, session_factory, make_org, make_actor):
    from tests.issuance_flow import make_flow

    bureau = make_actor(Role.BUREAU_ADMIN)
    flow = await make_flow(api, local_temporal_env, make_actor, make_org, bureau, make_actor(Role.OPERATOR_ADMIN),
                           session_factory)
    case_id = (await flow.file())["case_id"]
    await flow.until(case_id, "awaiting_verifier")
    await flow.call("POST", f"/issuance-cases/{case_id}/verifier-response", flow.verifier,
                    json={"accept": False, "reason": "利益冲突。"})
    await flow.until(case_id, "verifier_declined")
    second = make_org(name="湖北第二核查中心", org_type=OrganisationType.VERIFICATION_BODY)
    r = await api.post(f"/api/v1/verification-bodies/{second.id}/accreditations", headers=bureau.headers,
                       json={"reference": "HB-VB-02", "valid_from": "2024-01-01", "valid_until": "2030-12-31"})
    assert r.status_code == 201, r.text
    unaccredited = make_org(name="未备案核查机构", org_type=OrganisationType.VERIFICATION_BODY)

    developer = person(session_factory, Role.APPLICANT, None)
    with session_factory() as s, s.begin():
        s.get(User, developer.user.id).organisation_id = flow.developer.user.organisation_id
    page = await new_page(browser, live_server)
    await sign_in(page, developer)
    await page.goto(f"/cases/{case_id}")
    choices = page.get_by_label("核查机构已拒绝：委托另一家已备案的核查机构")
    options = await choices.locator("option").all_inner_texts()
    assert "湖北第二核查中心" in options and "未备案核查机构" not in options  # only the accredited
    # A forged choice of the unaccredited body is refused by the API's check, naming the field.
    await page.evaluate(f"document.querySelector('#new-verifier option').value = '{unaccredited.id}'")
    await choices.select_option(index=0)
    async with page.expect_navigation():
        await page.get_by_role("button", name="委托").click()
    assert "verifier_organisation_id" in await page.get_by_role("alert").inner_text()
    await page.get_by_label("核查机构已拒绝：委托另一家已备案的核查机构").select_option(label="湖北第二核查中心")
    async with page.expect_navigation():
        await page.get_by_role("button", name="委托").click()
    await flow.until(case_id, "awaiting_verifier")
    assert (await flow.state(case_id))["verifier_organisation_id"] == second.id
