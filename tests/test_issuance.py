"""The issuance case through the HTTP API under time skipping (SPEC §2.4, Art. 19–21, 24)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from domain.contracts.review import Vote
from store.models.audit import AuditEvent
from store.models.cases import Case
from tests.issuance_flow import flow, status  # noqa: F401 (flow: the fixture)
from tests import sample_files



async def _upload(flow, actor, name: str) -> int:
    r = await flow.http.post("/api/v1/documents", headers=actor.headers, data={"kind": "report"},
                             files={"file": (name, sample_files.pdf(name), "application/pdf")})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_full_path_issues_whole_tonnes_and_records_the_remainder(flow, session_factory):
    accounting = await _upload(flow, flow.developer, "accounting-report.pdf")
    case = await flow.file(claimed="1234.567", document_ids=[accounting])
    case_id = case["case_id"]
    assert case["claimed_tco2e"] == "1234.567" and case["document_ids"] == [accounting]
    await flow.until(case_id, "awaiting_verifier")
    await flow.call("POST", f"/issuance-cases/{case_id}/verifier-response", flow.verifier, json={"accept": True})
    await flow.call("GET", f"/documents/{accounting}", flow.verifier)  # the commissioned verifier reads it
    verification = await _upload(flow, flow.verifier, "verification-report.pdf")
    await flow.call("POST", f"/issuance-cases/{case_id}/verification-report", flow.verifier, json={
        "verified_tco2e": "1000.5", "conclusion": "Reasonable assurance.", "document_ids": [verification]})
    assert (await flow.state(case_id))["document_ids"] == [accounting, verification]
    other = (await flow.file(period=("2024-01-01", "2024-12-31"), claimed="1"))["case_id"]
    listed = (await flow.call("GET", "/issuance-cases", flow.developer, params={"project_id": flow.project_id})).json()
    assert {x["case_id"]: x["document_ids"] for x in listed} == {case_id: [accounting, verification], other: []}
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
    assert actions == ["issuance.accounting_report_filed", "document.attached", "issuance.filed",
                       "issuance.verifier_accepted", "document.attached", "issuance.verification_report_filed", "issuance.publicity_completed",
                       "issuance.application_submitted", "issuance.evaluation_completed", "issuance.published",
                       "issuance.issued"]
    assert (mirrored.case_type, mirrored.stage) == ("issuance", "issued")


async def _objection(flow, case_id: str, round_no: int = 1, **body) -> int:
    notice = await flow.notice(case_id, round_no)
    return (await flow.object(notice["id"], **body)).json()["objection_id"]


async def _answer(flow, case_id: str, objection_id: int, expect: int = 200):
    return await flow.call("POST", f"/issuance-cases/{case_id}/objections/{objection_id}/answer", flow.developer,
                           expect, json={"answer": "The annex shows the payments."})


async def _rule(flow, case_id: str, objection_id: int, upheld: bool, expect: int = 200):
    return await flow.call("POST", f"/issuance-cases/{case_id}/objections/{objection_id}/ruling", flow.bureau,
                           expect, json={"upheld": upheld, "reason": "Ruling reasons."})


async def test_upheld_objection_returns_the_case_and_publicity_restarts_in_full(flow):
    case_id = (await flow.file())["case_id"]
    await flow.verify(case_id, verified="1200")
    objection_id = await _objection(flow, case_id)
    await flow.skip(timedelta(days=5))  # at least 3 working days into the first period
    await _answer(flow, case_id, objection_id)
    await _rule(flow, case_id, objection_id, upheld=True)
    case = await flow.until(case_id, "correction")
    assert case["state"]["last_comments"] == "Ruling reasons."
    first = await flow.notice(case_id, 1)
    assert (first["open"], first["outcome"]) == (False, "returned")

    await flow.call("POST", f"/issuance-cases/{case_id}/amendment", flow.developer,
                    json={"benefit_sharing": "40% to residents, paid quarterly", "comments": "Corrected sharing."})
    await flow.until(case_id, "verification")
    await flow.report(case_id, verified="1100")
    second = await flow.notice(case_id, 2)
    assert second["open"] and second["verified_tco2e"] == "1100.000"
    assert second["benefit_sharing"] == "40% to residents, paid quarterly"
    # A full new period from the new start, not the rest of the first one.
    assert datetime.fromisoformat(second["ends_at"]) >= datetime.fromisoformat(first["ends_at"]) + timedelta(days=3)
    await flow.skip_past_publicity(case_id, 2)
    await flow.until(case_id, "awaiting_application")


async def test_an_unruled_objection_holds_publicity_open_past_its_end(flow):
    case_id = (await flow.file())["case_id"]
    await flow.verify(case_id)
    objection_id = await _objection(flow, case_id)
    # The bureau cannot rule before the developer answered or the answer period passed.
    early = await _rule(flow, case_id, objection_id, upheld=False, expect=409)
    assert "may answer" in early.json()["detail"] and early.json()["errors"][0]["rule"] == "art20.answer_period"
    await flow.skip_past_publicity(case_id)
    await flow.skip(timedelta(days=3))
    case = await flow.state(case_id)
    assert case["stage"] == "publicity"
    assert [t["kind"] for t in (await _case_view(flow, case_id))["open_tasks"]] == ["objection"]
    notice = await flow.notice(case_id)
    assert notice["open"] and notice["remaining_seconds"] >= 0
    late = await flow.object(notice["id"], expect=409)  # the period itself is over: no new objections
    assert late.json()["errors"][0]["rule"] == "art20.publicity_over"
    answered = (await _answer(flow, case_id, objection_id)).json()
    assert (await _answer(flow, case_id, objection_id)).json() == answered  # a retry changes nothing
    await _rule(flow, case_id, objection_id, upheld=False)
    await flow.until(case_id, "awaiting_application")
    await _rule(flow, case_id, objection_id, upheld=True, expect=409)


async def _case_view(flow, case_id: str) -> dict:
    from domain.contracts.cases import CASE_STATE_QUERY, CaseView

    view = await flow.env.client.get_workflow_handle(case_id).query(CASE_STATE_QUERY, result_type=CaseView)
    return view.model_dump(mode="json")


async def test_objections_are_public_private_size_and_rate_limited(flow):
    case_id = (await flow.file())["case_id"]
    await flow.verify(case_id)
    notice = await flow.notice(case_id)
    r = await flow.object(notice["id"], name="Li Lei", contact="13800000000")
    objection_id = r.json()["objection_id"]
    assert set(r.json()) == {"objection_id", "notice_id", "answer_due"}
    too_long = await flow.object(notice["id"], expect=422, content="x" * 4001)
    assert too_long.json()["errors"][0]["field"] == "content"
    for _ in range(4):
        await flow.object(notice["id"])
    limited = await flow.object(notice["id"], expect=429)
    assert limited.headers["Retry-After"] == "3600"
    public = await flow.notice(case_id)
    assert public["objections"] == 5 and "Li Lei" not in str(public) and "13800000000" not in str(public)
    seen_by_developer = (await flow.call("GET", f"/issuance-cases/{case_id}/objections", flow.developer)).json()
    assert all(o["objector_name"] is None and o["objector_contact"] is None for o in seen_by_developer)
    seen_by_bureau = (await flow.call("GET", f"/issuance-cases/{case_id}/objections", flow.bureau)).json()
    assert [(o["id"], o["objector_name"], o["objector_contact"]) for o in seen_by_bureau][0] == (
        objection_id, "Li Lei", "13800000000")
    await flow.call("GET", f"/issuance-cases/{case_id}/objections", flow.verifier, 404)
    await flow.call("POST", "/publicity-notices/999999/objections", None, 404, json={"content": "x"})


async def test_overlapping_periods_are_refused_until_the_earlier_case_is_withdrawn(flow):
    first = (await flow.file(period=("2025-01-01", "2025-06-30")))["case_id"]
    r = await flow.file(period=("2025-06-30", "2025-12-31"), expect=422)
    error = r["errors"][0]
    assert (error["field"], error["rule"]) == ("period_start", "art24.overlapping_period") and first in error["message"]
    await flow.file(period=("2025-07-01", "2025-12-31"))  # adjacent, not overlapping
    await flow.until(first, "awaiting_verifier")
    await flow.call("POST", f"/issuance-cases/{first}/withdrawal", flow.developer, json={"reason": "Wrong meter data."})
    await flow.until(first, "withdrawn")
    await flow.file(period=("2025-01-01", "2025-06-30"))  # the withdrawn period is free again


async def test_accounting_report_refusals(flow, make_org, make_actor, bureau):
    from domain.roles import OrganisationType, Role

    for period, rule in [(("2023-06-01", "2023-12-31"), "after_project_start"),
                         (("2026-01-01", "2099-12-31"), "not_in_future")]:
        r = await flow.file(period=period, expect=422)
        assert r["errors"][0]["rule"] == rule
    r = await flow.file(claimed="1.0001", expect=422)
    assert r["errors"][0]["field"] == "claimed_tco2e"
    assert (await flow.file(claimed="0", expect=422))["errors"][0]["field"] == "claimed_tco2e"
    unaccredited = make_org(org_type=OrganisationType.VERIFICATION_BODY)
    r = await flow.file(verifier_organisation_id=unaccredited.id, expect=422)
    assert (r["errors"][0]["field"], r["errors"][0]["rule"]) == ("verifier_organisation_id", "accredited")
    project = (await flow.call("GET", f"/projects/{flow.project_id}", None)).json()
    await flow.call("POST", "/key-emitters", bureau, 201, json={
        "organisation_id": project["organisation_id"], "scheme": "hubei",
        "boundary_facility_ids": [project["facility_id"]], "effective_from": "2025-06-01"})
    r = await flow.file(expect=422)
    assert r["errors"][0]["rule"] == "art23.key_emitter_boundary"
    other = make_actor(Role.APPLICANT)
    body = {"period_start": "2025-01-01", "period_end": "2025-03-31", "claimed_tco2e": "1",
            "benefit_sharing": "x", "verifier_organisation_id": flow.verifier_org_id}
    await flow.call("POST", f"/projects/{flow.project_id}/issuance-cases", other, 404, json=body)
    await flow.call("POST", f"/projects/{flow.project_id}/issuance-cases", flow.verifier, 403, json=body)
    await flow.call("POST", f"/projects/{flow.project_id}/issuance-cases", None, 401, json=body)


async def test_only_the_commissioned_verifier_acts_and_within_the_claim(flow, make_org, make_actor, bureau):
    from domain.roles import OrganisationType, Role

    case_id = (await flow.file(claimed="100"))["case_id"]
    other_vb = make_org(org_type=OrganisationType.VERIFICATION_BODY)
    await flow.call("POST", f"/verification-bodies/{other_vb.id}/accreditations", bureau, 201,
                    json={"reference": "X", "valid_from": "2024-01-01", "valid_until": "2030-12-31"})
    stranger = make_actor(Role.VERIFIER, org=other_vb)
    await flow.until(case_id, "awaiting_verifier")
    # Not commissioned: the case is not even visible to them.
    await flow.call("POST", f"/issuance-cases/{case_id}/verifier-response", stranger, 404, json={"accept": True})
    await flow.call("POST", f"/issuance-cases/{case_id}/verifier-response", flow.developer, 403, json={"accept": True})
    await flow.call("POST", f"/issuance-cases/{case_id}/verification-report", flow.verifier, 409,
                    json={"verified_tco2e": "1", "conclusion": "early"})
    await flow.call("POST", f"/issuance-cases/{case_id}/verifier-response", flow.verifier, json={"accept": True})
    too_much = await flow.report(case_id, verified="100.001", expect=422)
    assert "exceeds the claimed" in too_much["detail"] and too_much["errors"][0]["rule"] == "art21.within_claim"
    assert too_much["errors"][0]["field"] == "verified_tco2e"  # issue 10: the 422 names the field
    await flow.report(case_id, verified="100")
    # A verifier of the same body but from another case's point of view is still refused elsewhere:
    other_case = (await flow.file(period=("2024-01-01", "2024-06-30")))["case_id"]
    await flow.until(other_case, "awaiting_verifier")
    await flow.call("GET", f"/issuance-cases/{other_case}", stranger, 404)


async def test_declined_engagement_then_another_verifier_and_corrections(flow, make_org, make_actor, bureau):
    from domain.roles import OrganisationType, Role

    case_id = (await flow.file(claimed="50"))["case_id"]
    await flow.until(case_id, "awaiting_verifier")
    await flow.call("POST", f"/issuance-cases/{case_id}/verifier-response", flow.verifier,
                    json={"accept": False, "reason": "Conflict of interest."})
    await flow.until(case_id, "verifier_declined")
    unaccredited = make_org(org_type=OrganisationType.VERIFICATION_BODY)
    r = await flow.call("POST", f"/issuance-cases/{case_id}/verifier", flow.developer, 422,
                        json={"verifier_organisation_id": unaccredited.id})
    assert r.json()["errors"][0]["rule"] == "accredited"
    second_vb = make_org(org_type=OrganisationType.VERIFICATION_BODY)
    await flow.call("POST", f"/verification-bodies/{second_vb.id}/accreditations", bureau, 201,
                    json={"reference": "Y", "valid_from": "2024-01-01", "valid_until": "2030-12-31"})
    await flow.call("POST", f"/issuance-cases/{case_id}/verifier", flow.developer,
                    json={"verifier_organisation_id": second_vb.id})
    second = make_actor(Role.VERIFIER, org=second_vb)
    # The body that declined is no longer a participant.
    await flow.call("POST", f"/issuance-cases/{case_id}/verifier-response", flow.verifier, 404, json={"accept": True})
    await flow.call("POST", f"/issuance-cases/{case_id}/verifier-response", second, json={"accept": True})
    await flow.call("POST", f"/issuance-cases/{case_id}/correction-request", second,
                    json={"comments": "Meter 2 readings are missing for March."})
    case = await flow.until(case_id, "correction")
    assert case["state"]["last_comments"] == "Meter 2 readings are missing for March."
    await flow.call("POST", f"/issuance-cases/{case_id}/amendment", flow.developer,
                    json={"claimed_tco2e": "48.25", "comments": "Added meter 2, corrected total."})
    case = await flow.until(case_id, "verification")
    assert case["claimed_tco2e"] == "48.250"
    await flow.call("POST", f"/issuance-cases/{case_id}/verification-report", second, 422,
                    json={"verified_tco2e": "49", "conclusion": "more than claimed"})
    await flow.call("POST", f"/issuance-cases/{case_id}/verification-report", second,
                    json={"verified_tco2e": "48.25", "conclusion": "ok"})
    await flow.until(case_id, "publicity")


async def _to_published(flow, case_id: str, verified: str = "10.999") -> None:
    await flow.verify(case_id, verified=verified)
    await flow.skip_past_publicity(case_id)
    await flow.apply(case_id)
    await flow.conclude_review(case_id, 1, Vote.APPROVE)
    await flow.publish(case_id)
    await flow.until(case_id, "published")


async def test_issuance_retried_never_issues_twice(flow, session_factory):
    from activities.issuance import IssuanceActivities
    from domain.contracts.issuance import IssueRequest
    from store import ledger
    from store.models.ledger import UnitBlock

    case_id = (await flow.file(claimed="11"))["case_id"]
    await _to_published(flow, case_id, verified="10.999")
    await flow.call("POST", f"/issuance-cases/{case_id}/issuance", flow.bureau, 403)
    first, again = await asyncio.gather(flow.issue(case_id), flow.issue(case_id))
    assert first == again and (first["tonnes"], first["remainder_grams"]) == (10, 999_000)
    assert await flow.issue(case_id) == first  # a later retry: the same answer
    replayed = IssuanceActivities(session_factory).issue_reductions(IssueRequest(
        case_id=case_id, issued_at=datetime.now(timezone.utc), operator_user_id=flow.operator.id))
    assert replayed.model_dump() == first
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(UnitBlock)) == 1
        account = s.scalar(select(UnitBlock.account_id))
        assert ledger.balance(s, account) == 10
    await flow.call("POST", f"/issuance-cases/{case_id}/withdrawal", flow.developer, 409, json={"reason": "late"})


async def test_withdrawal_during_publicity_closes_the_notice(flow):
    case_id = (await flow.file())["case_id"]
    await flow.verify(case_id)
    await flow.call("POST", f"/issuance-cases/{case_id}/withdrawal", flow.verifier, 403, json={"reason": "x"})
    await flow.call("POST", f"/issuance-cases/{case_id}/withdrawal", flow.developer, json={"reason": "Sold the plant."})
    case = await flow.until(case_id, "withdrawn")
    assert case["state"]["withdrawal_reason"] == "Sold the plant."
    notice = await flow.notice(case_id)
    assert (notice["open"], notice["outcome"], notice["remaining_seconds"]) == (False, "withdrawn", 0)
    await flow.object(notice["id"], expect=409)
    await flow.call("POST", f"/issuance-cases/{case_id}/application", flow.developer, 409, json={})


async def test_withdrawal_during_evaluation_cancels_the_panel_review(flow):
    from domain.contracts.issuance import IssuanceState

    case_id = (await flow.file())["case_id"]
    await flow.verify(case_id)
    await flow.skip_past_publicity(case_id)
    await flow.apply(case_id)
    review_id = await flow.review(case_id, 1)
    await flow.call("POST", f"/reviews/{review_id}/panel", flow.bureau,
                    json={"expert_ids": [e for _, e in flow.experts]})
    await flow.call("POST", f"/issuance-cases/{case_id}/withdrawal", flow.developer, json={"reason": "Withdrawn."})
    await flow.until(case_id, "withdrawn")
    result = await flow.env.client.get_workflow_handle(case_id, result_type=IssuanceState).result()
    assert result.stage == "withdrawn"
    for _ in range(200):  # the review is cancelled and closes the experts' open tasks
        if await status(flow.env, review_id) != "RUNNING":
            break
        await asyncio.sleep(0.05)
    assert await status(flow.env, review_id) == "CANCELED"
    expert = flow.experts[0][0]
    assert [t for t in (await flow.call("GET", "/review-tasks", expert)).json() if t["review_id"] == review_id] == []


async def test_panel_revision_then_approval_and_a_rejected_case(flow):
    case_id = (await flow.file(period=("2025-01-01", "2025-06-30")))["case_id"]
    await flow.verify(case_id)
    await flow.skip_past_publicity(case_id)
    await flow.apply(case_id)
    await flow.conclude_review(case_id, 1, Vote.REVISE)
    case = await flow.until(case_id, "revision")
    assert case["state"]["revision_due"] is not None
    await flow.call("POST", f"/issuance-cases/{case_id}/application", flow.developer,
                    json={"statement": "Answered the panel's comments."})
    await flow.conclude_review(case_id, 2, Vote.APPROVE)
    await flow.publish(case_id)
    await flow.until(case_id, "published")

    rejected = (await flow.file(period=("2025-07-01", "2025-12-31")))["case_id"]
    await flow.verify(rejected)
    await flow.skip_past_publicity(rejected)
    await flow.apply(rejected)
    await flow.conclude_review(rejected, 1, Vote.REJECT)
    await flow.until(rejected, "decision")
    refused = await flow.call("POST", f"/issuance-cases/{rejected}/decision", flow.bureau, 422,
                              json={"publish": True, "reason": "Publish anyway."})
    assert "did not approve" in refused.json()["detail"]
    assert refused.json()["errors"][0]["rule"] == "art21.panel_approval"
    await flow.call("POST", f"/issuance-cases/{rejected}/decision", flow.operator, 403,
                    json={"publish": False, "reason": "x"})
    await flow.call("POST", f"/issuance-cases/{rejected}/decision", flow.bureau,
                    json={"publish": False, "reason": "The baseline is not credible."})
    case = await flow.until(rejected, "rejected")
    assert case["state"]["decision_reason"] == "The baseline is not credible."
    await flow.file(period=("2025-07-01", "2025-12-31"))  # a rejected period may be claimed again


async def test_no_resubmission_within_the_revision_period_withdraws_the_case(flow):
    case_id = (await flow.file())["case_id"]
    await flow.verify(case_id)
    await flow.skip_past_publicity(case_id)
    await flow.apply(case_id)
    await flow.conclude_review(case_id, 1, Vote.REVISE)
    await flow.until(case_id, "revision")
    await flow.skip(timedelta(days=31))
    case = await flow.until(case_id, "withdrawn")
    assert "not resubmitted" in case["state"]["withdrawal_reason"]


async def test_who_sees_a_case(flow, make_actor):
    from domain.roles import Role

    case_id = (await flow.file())["case_id"]
    for actor in (flow.developer, flow.verifier, flow.bureau, flow.operator):
        await flow.call("GET", f"/issuance-cases/{case_id}", actor)
    await flow.call("GET", f"/issuance-cases/{case_id}", make_actor(Role.APPLICANT), 404)
    await flow.call("GET", f"/issuance-cases/{case_id}", None, 401)
    listed = (await flow.call("GET", "/issuance-cases", make_actor(Role.APPLICANT))).json()
    assert listed == []
    assert [c["case_id"] for c in (await flow.call("GET", "/issuance-cases", flow.verifier)).json()] == [case_id]
    view = await _case_view(flow, case_id)
    assert view["case_type"] == "issuance" and view["open_tasks"][0]["assignee"] in ("verifier",)


async def test_experts_of_the_verifier_or_the_developer_are_kept_off_the_panel(flow, make_actor, session_factory):
    from domain.roles import Role
    from store.models.identity import Organisation

    case_id = (await flow.file())["case_id"]
    await flow.verify(case_id)
    await flow.skip_past_publicity(case_id)
    await flow.apply(case_id)
    review_id = await flow.review(case_id, 1)
    with session_factory() as s:
        verifier_org = s.get(Organisation, flow.verifier_org_id)
        developer_org = s.get(Organisation, flow.developer.user.organisation_id)
    for org, rule in ((verifier_org, "same_organisation_as_verifier"), (developer_org, "same_organisation_as_applicant")):
        conflicted = make_actor(Role.EXPERT, org=org)
        r = await flow.call("POST", "/experts", flow.bureau, 201, json={
            "user_id": conflicted.id, "name": "Conflicted", "affiliation_organisation_id": org.id,
            "expertise": ["energy substitution"]})
        panel = [e for _, e in flow.experts[:2]] + [r.json()["id"]]
        refused = await flow.call("POST", f"/reviews/{review_id}/panel", flow.bureau, 422, json={"expert_ids": panel})
        assert refused.json()["errors"][0]["rule"] == rule
    await flow.conclude_review(case_id, 1, Vote.APPROVE)
    await flow.until(case_id, "decision")


async def test_a_facility_period_is_claimed_once_across_projects_and_developers(flow, make_actor, session_factory):
    """Art. 24: another developer's project on the same facility cannot claim an overlapping period."""
    from sqlalchemy.exc import IntegrityError

    from domain.roles import Role
    from store.models.issuance import IssuanceCase, Project

    first = (await flow.file(period=("2025-01-01", "2025-06-30")))["case_id"]
    with session_factory() as s:
        facility = s.get(Project, flow.project_id).facility_id
    rival = make_actor(Role.APPLICANT)
    project = await flow.call("POST", "/projects", rival, 201, json={
        "methodology_version_id": (await flow.call("GET", f"/projects/{flow.project_id}", None)).json()[
            "methodology_version_id"], "name": "Same roof, other developer", "district": "Dongxihu",
        "site_address": "3 Industry Road", "facility_id": facility, "start_date": "2024-01-01",
        "description": "Claims the same panels."})
    body = {"period_start": "2025-06-01", "period_end": "2025-12-31", "claimed_tco2e": "10",
            "benefit_sharing": "none", "verifier_organisation_id": flow.verifier_org_id}
    refused = await flow.call("POST", f"/projects/{project.json()['id']}/issuance-cases", rival, 409, json=body)
    error = refused.json()["errors"][0]
    assert (error["field"], error["rule"]) == ("period_start", "art24.double_claim") and first in error["message"]
    # The database itself refuses a second claim, whoever writes it.
    with session_factory() as s:
        row = s.scalar(select(IssuanceCase).where(IssuanceCase.case_id == first))
        twin = IssuanceCase(case_id="twin", project_id=project.json()["id"], organisation_id=row.organisation_id,
                            facility_id=facility, period_start=row.period_end, period_end=row.period_end,
                            claimed_grams=1, benefit_sharing="x", verifier_organisation_id=row.verifier_organisation_id,
                            stage="awaiting_verifier", filed_by_user_id=rival.id, filed_at=row.filed_at,
                            updated_at=row.filed_at)
        s.add(twin)
        with pytest.raises(IntegrityError, match="ex_issuance_cases_facility_period"):
            s.flush()
    await flow.until(first, "awaiting_verifier")
    await flow.call("POST", f"/issuance-cases/{first}/withdrawal", flow.developer, json={"reason": "Sold the roof."})
    await flow.until(first, "withdrawn")
    await flow.call("POST", f"/projects/{project.json()['id']}/issuance-cases", rival, 201, json=body)
