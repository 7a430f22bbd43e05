"""The pages in a real browser (Debian's Chromium through Playwright), against the app served by
uvicorn, the real worker and the Temporal dev server. Each journey drives the pages as a person would;
set-up steps a page does not offer (organisations, the roster, a verifier's report) go through the API."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from domain.roles import OrganisationType, Role
from store.models.cases import Case
from store.models.review import ReviewTaskRow
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


def methodology_body(title: str) -> dict:
    return {"title": title, "scope": "project", "domain": "energy_substitution",
            "summary": "屋顶分布式光伏替代电网电力。Grid electricity displaced by rooftop PV."}


async def test_expert_approves_and_bureau_publishes(browser, live_server, api, session_factory, make_org):
    bureau_org = make_org(org_type=OrganisationType.GOVERNMENT)
    bureau = person(session_factory, Role.BUREAU_ADMIN, bureau_org, name="王局")
    applicant = person(session_factory, Role.APPLICANT, make_org(), name="申请人")
    experts = []
    for i in range(3):
        expert = person(session_factory, Role.EXPERT, make_org(org_type=OrganisationType.PUBLIC_INSTITUTION),
                        name=f"专家{i + 1}", password=None if i == 0 else "correct horse battery")
        r = await api.post("/api/v1/experts", headers=bureau.headers, json={
            "user_id": expert.id, "name": f"李教授{i + 1}", "expertise": ["energy substitution"]})
        assert r.status_code == 201, r.text
        experts.append(expert)
    r = await api.post("/api/v1/methodologies", headers=applicant.headers, json=methodology_body("分布式光伏发电"))
    assert r.status_code == 201, r.text
    case_id = r.json()["case_id"]

    # The bureau signs in, sees the case on its dashboard, accepts it as complete and forms the panel.
    page = await new_page(browser, live_server)
    await sign_in(page, bureau)
    assert page.url.endswith("/dashboard")
    await eventually(lambda: _mirrored(session_factory, case_id), "case registered")
    await page.reload()
    await shot(page, "dashboard")
    await page.goto(f"/cases/{case_id}")
    await page.get_by_label("材料齐全：启动专家评审").check()
    async with page.expect_navigation():
        await page.get_by_role("button", name="提交完整性审查结论").click()

    async def panel_form():
        await page.goto(f"/cases/{case_id}")
        return await page.get_by_role("button", name="组建专家组").count()
    await eventually(panel_form, "the panel form")
    for i in range(3):
        await page.get_by_label(re.compile(f"李教授{i + 1}")).check()
    await shot(page, "case-panel-form")
    async with page.expect_navigation():
        await page.get_by_role("button", name="组建专家组").click()
    assert "专家评审中" in await page.content() or "专家评审" in await page.content()

    # The first expert has never signed in: the invitation link sets the password and signs in.
    with session_factory() as s, s.begin():
        from store import web_auth
        from store.models.identity import User
        _, link = web_auth.create_invitation(s, s.get(User, experts[0].id), ttl_hours=1, actor=None)
    expert_page = await new_page(browser, live_server, phone=True)
    await expert_page.goto(f"/invitation/{link}")
    await shot(expert_page, "invitation")
    await expert_page.get_by_label("新密码（至少10个字符）").fill("a long new password")
    await expert_page.get_by_label("再次输入密码").fill("a long new password")
    await expert_page.get_by_role("button", name="设置密码并登录").click()
    await expert_page.wait_for_url(re.compile("/expert/tasks$"))

    for n, expert in enumerate(experts):
        if n > 0:
            expert_page = await new_page(browser, live_server, phone=n == 2)
            await sign_in(expert_page, expert)

        async def listed():
            await expert_page.goto("/expert/tasks")
            return await expert_page.get_by_role("link", name="分布式光伏发电").count()
        await eventually(listed, f"expert {n} sees the task")
        if n == 0:
            await shot(expert_page, "expert-inbox-phone")
        async with expert_page.expect_navigation():
            await expert_page.get_by_role("link", name="分布式光伏发电").click()
        if n == 0:
            await shot(expert_page, "expert-task-phone")
        await expert_page.get_by_label("同意").check()
        await expert_page.get_by_label("评审意见（必填）").fill(f"方法学科学合理。Sound ({n}).")
        async with expert_page.expect_navigation():
            await expert_page.get_by_role("button", name="提交评审意见").click()
        assert "您的评审意见" in await expert_page.content()
        await expert_page.goto("/expert/tasks?show=done")
        assert await expert_page.get_by_role("link", name="分布式光伏发电").count() == 1
        if n == 0:
            await shot(expert_page, "expert-history-phone")

    # The bureau sees the case move on to the publication decision and publishes.
    async def at_publication():
        await page.goto(f"/cases/{case_id}")
        return "发布决定" in await page.get_by_role("heading", name="可办理事项").locator("..").inner_text()
    await eventually(at_publication, "publication decision")
    await shot(page, "case-publication")
    await page.get_by_label("发布（分配编号并生成第1版）").check()
    async with page.expect_navigation():
        await page.get_by_role("button", name="提交决定").click()
    assert "已发布" in await page.content()
    await shot(page, "case-published-with-timeline")

    # Anyone reads the register, in English too.
    public = await new_page(browser, live_server)
    await public.goto("/register/methodologies")
    async with public.expect_navigation():
        await public.get_by_role("link", name=re.compile("WH-M")).first.click()
    assert "分布式光伏发电" in await public.content()
    await shot(public, "register-methodology")
    async with public.expect_navigation():
        await public.get_by_role("link", name="English").click()
    assert "Behaviours" not in await public.content() and "Summary" in await public.content()


def _mirrored_sync(session_factory, case_id):
    with session_factory() as s:
        return s.get(Case, case_id) is not None


async def _mirrored(session_factory, case_id):
    return _mirrored_sync(session_factory, case_id)


async def test_public_objection_other_applicant_refused_and_csrf(browser, live_server, api, local_temporal_env,
                                                                 session_factory, make_org, make_actor):
    from tests.issuance_flow import make_flow

    bureau = make_actor(Role.BUREAU_ADMIN)
    flow = await make_flow(api, local_temporal_env, make_actor, make_org, bureau, make_actor(Role.OPERATOR_ADMIN),
                           session_factory)
    case_id = (await flow.file())["case_id"]
    await flow.verify(case_id)
    await flow.until(case_id, "publicity")

    # A member of the public reads the registers and objects, without an account.
    public = await new_page(browser, live_server, phone=True)
    await public.goto("/")
    await shot(public, "start-phone")
    await public.get_by_role("link", name="公示信息").first.click()
    async with public.expect_navigation():
        await public.get_by_role("link", name="Rooftop PV, Plant 3").first.click()
    # Opened during today: all 7 working days lie ahead (the README's screenshot once showed 8, taken
    # before today stopped counting).
    assert (await public.locator("#remaining").inner_text()).strip() == "7 个工作日"
    await public.get_by_label("异议内容（必填）").fill("项目边界内的部分屋顶属于另一家企业。")
    await public.get_by_label("您的姓名（选填，不公开）").fill("张三")
    async with public.expect_navigation():
        await public.get_by_role("button", name="提交异议").click()
    assert "您的异议已提交" in await public.content()
    await shot(public, "publicity-objection-filed-phone")
    assert (await flow.state(case_id))["state"]["objections"], "the case workflow took the objection"

    # The developer answers it on its case page.
    developer = person(session_factory, Role.APPLICANT, None, password="correct horse battery")
    with session_factory() as s, s.begin():  # a second person of the developer's organisation
        from store.models.identity import User
        s.get(User, developer.id).organisation_id = flow.developer.user.organisation_id
    page = await new_page(browser, live_server)
    await sign_in(page, developer)
    await page.goto("/my/cases")
    await shot(page, "applicant-cases")
    await page.get_by_role("link", name=case_id).click()
    await page.get_by_label("您的答复").fill("该屋顶已取得租赁合同，见附件。")
    async with page.expect_navigation():
        await page.get_by_role("button", name="答复异议").click()
    assert "该屋顶已取得租赁合同" in await page.content()
    await shot(page, "applicant-case-objection-answered")

    # An applicant of another organisation gets the 404 page, not the case and not a stack trace.
    stranger = person(session_factory, Role.APPLICANT, make_org())
    other = await new_page(browser, live_server)
    await sign_in(other, stranger)
    response = await other.goto(f"/cases/{case_id}")
    assert response.status == 404
    assert "未找到" in await other.content() and "Traceback" not in await other.content()
    assert "Rooftop" not in await other.content()
    await shot(other, "not-found")
    # …and an applicant cannot open the authorities' dashboard: 403 page.
    response = await other.goto("/dashboard")
    assert response.status == 403 and "无权访问" in await other.content()

    # A form sent without its CSRF token is refused (403) and changes nothing.
    await page.goto(f"/cases/{case_id}")
    before = (await flow.state(case_id))["state"]
    await page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    await page.goto("/publicity")
    await page.get_by_role("link", name="Rooftop PV, Plant 3").first.click()
    await page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    await page.get_by_label("异议内容（必填）").fill("forged")
    async with page.expect_navigation():
        await page.get_by_role("button", name="提交异议").click()
    assert "CSRF" in await page.content()
    await shot(page, "csrf-refused")
    after = (await flow.state(case_id))["state"]
    assert len(after["objections"]) == len(before["objections"]) == 1


async def test_expert_scores_a_scored_review(browser, live_server, api, local_temporal_env, settings,
                                             session_factory, make_org):
    from domain.contracts.review import REVIEW_WORKFLOW, ReviewCriterion, ReviewOutcome, review_workflow_id
    from tests.review_helpers import deployment, parent_case, request

    operator = person(session_factory, Role.OPERATOR_ADMIN, make_org(org_type=OrganisationType.PUBLIC_INSTITUTION))
    applicant_org = make_org()
    expert = person(session_factory, Role.EXPERT, make_org(org_type=OrganisationType.PUBLIC_INSTITUTION))
    r = await api.post("/api/v1/experts", headers=person(session_factory, Role.BUREAU_ADMIN, make_org(
        org_type=OrganisationType.GOVERNMENT)).headers, json={"user_id": expert.id, "name": "赵教授"})
    assert r.status_code == 201, r.text
    roster_id = r.json()["id"]
    case_id = parent_case(session_factory, applicant_org.id, case_type="scenario")
    criteria = [ReviewCriterion(code="reduction", name="减排效果", max_score=60),
                ReviewCriterion(code="data", name="数据质量", max_score=40)]
    req = request(case_id, applicant_org=applicant_org.id, authority=Role.OPERATOR_ADMIN, criteria=criteria,
                  panel_size=1, deployment_id=deployment(session_factory))
    review_id = review_workflow_id(case_id, 1)
    handle = await local_temporal_env.client.start_workflow(REVIEW_WORKFLOW, req, id=review_id,
                                                            task_queue=settings.task_queue, result_type=ReviewOutcome)

    async def panel_formed():
        formed = await api.post(f"/api/v1/reviews/{review_id}/panel", headers=operator.headers,
                                json={"expert_ids": [roster_id]})
        return formed.status_code == 200
    await eventually(panel_formed, "panel formed")

    page = await new_page(browser, live_server)
    await sign_in(page, expert)
    await page.get_by_role("link", name=f"Subject of {case_id}").click()
    await page.get_by_label("减排效果 (0–60)").fill("55")
    await page.get_by_label("数据质量 (0–40)").fill("41")  # above the maximum: the browser refuses to send it
    await page.get_by_label("同意").check()
    await page.get_by_label("评审意见（必填）").fill("场景减排效果显著。")
    await shot(page, "expert-task-scored")
    await page.get_by_role("button", name="提交评审意见").click()
    assert await page.locator("#score-data:invalid").count() == 1
    await page.get_by_label("数据质量 (0–40)").fill("36")
    async with page.expect_navigation():
        await page.get_by_role("button", name="提交评审意见").click()
    assert "您的评审意见" in await page.content()
    outcome = await handle.result()
    assert outcome.outcome.value == "approve" and outcome.mean_score_hundredths == 9100
    with session_factory() as s:
        task = s.scalars(select(ReviewTaskRow).where(ReviewTaskRow.review_id == review_id)).one()
        assert task.scores == {"reduction": 55, "data": 36} and task.vote == "approve"
