"""Who may call which operation: the table tests/test_access_matrix.py checks against the OpenAPI.

ADDING A ROUTE? Add one row here: "METHOD /api/v1/path" as the OpenAPI writes it. The test calls every
operation in the OpenAPI document as anonymous and as every role, with the ids of ANOTHER organisation's
objects (tests/test_access_matrix.py: `World`), and fails for an operation without a row.

A row is `Rule(roles, hidden=..., body=...)`:
- `roles`: who may call the operation at all. `PUBLIC` lets anonymous callers in too. A signed-in caller whose
  role is not listed gets 403 (or 404 where existence itself is hidden); anonymous gets 401.
- `hidden`: roles that may call it but must not see the other organisation's object used here: 404 (403 is
  accepted too for an action on an object the caller may not act on). Authorities see everything.
- `body`: a JSON body, so that the visibility check is reached (otherwise validation answers 422 first). Ids in
  `{braces}` are filled from the World. Without it, a minimal body is made from the OpenAPI schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.roles import Role

B, O, E, A, V, D, X, I = (Role.BUREAU_ADMIN, Role.OPERATOR_ADMIN, Role.EXPERT, Role.APPLICANT, Role.VERIFIER,
                          Role.DATA_SOURCE, Role.EXCHANGE, Role.INDIVIDUAL)
ALL_ROLES = frozenset(Role)
PUBLIC = "public"  # a marker in `roles`: no token needed
AUTHORITIES = frozenset({B, O})
MEMBERS = ALL_ROLES - AUTHORITIES  # everyone signed in who is not an authority


@dataclass(frozen=True)
class Rule:
    roles: frozenset = ALL_ROLES
    hidden: frozenset = frozenset()
    body: dict | None = None
    content_type: str = "application/json"
    raw: bytes | None = None  # a non-JSON body (e.g. a calendar file)
    files: dict | None = field(default=None, hash=False)


def rule(*roles, hidden=(), body=None, **kw) -> Rule:
    return Rule(frozenset(roles), frozenset(hidden), body, **kw)


def public(**kw) -> Rule:
    return Rule(frozenset(ALL_ROLES | {PUBLIC}), **kw)


ANY = ALL_ROLES
P = "/api/v1"

MATRIX: dict[str, Rule] = {
    f"GET {P}/health": public(),
    f"GET {P}/me": rule(*ANY),
    # identity
    f"POST {P}/organisations": rule(B, O, body={"name": "matrix org", "org_type": "enterprise"}),
    f"GET {P}/organisations": rule(*ANY),
    f"GET {P}/organisations/{{org_id}}": rule(*ANY, hidden=MEMBERS),
    f"POST {P}/organisations/{{org_id}}/approve": rule(B, O),
    f"POST {P}/organisations/{{org_id}}/suspend": rule(B, O, body={"reason": "r"}),
    f"POST {P}/organisations/{{org_id}}/reinstate": rule(B, O, body={"reason": "r"}),
    f"POST {P}/organisations/{{org_id}}/terminate": rule(B, O, body={"reason": "r"}),
    f"POST {P}/users": rule(B, O, body={"name": "n", "role": "individual"}),
    f"GET {P}/users": rule(B, O),
    # Another user's tokens and status: only who may create that user (defect 1), never members.
    f"POST {P}/users/{{user_id}}/tokens": rule(*ANY, hidden=MEMBERS, body={}),
    f"GET {P}/users/{{user_id}}/tokens": rule(*ANY, hidden=MEMBERS),
    f"POST {P}/users/{{user_id}}/invitations": rule(B, O, body={}),
    f"DELETE {P}/tokens/{{token_id}}": rule(*ANY, hidden=MEMBERS),
    f"POST {P}/users/{{user_id}}/deactivation": rule(B, O, body={"reason": "r"}),
    f"POST {P}/users/{{user_id}}/reactivation": rule(B, O, body={"reason": "r"}),
    f"GET {P}/audit/cases/{{case_id}}": rule(B, O),
    f"GET {P}/audit/verify": rule(B),
    # calendar and policy
    f"GET {P}/calendar/years": public(),
    f"GET {P}/calendar/deadline": public(),
    f"GET {P}/calendar/{{year}}": public(),
    f"PUT {P}/calendar/{{year}}": rule(B, O, content_type="text/plain", raw=b"# nothing\n"),
    f"GET {P}/policy": public(),
    f"GET {P}/policy/changes": rule(B, O),
    f"POST {P}/policy/changes": rule(B, body={"parameter": "publicity_working_days", "value": 7, "reason": "r"}),
    # documents and notifications
    f"POST {P}/documents": rule(*ANY, content_type="multipart/form-data"),
    f"GET {P}/documents/{{document_id}}": rule(*ANY, hidden=MEMBERS),
    f"GET {P}/documents/{{document_id}}/content": rule(*ANY, hidden=MEMBERS),
    f"GET {P}/notifications": rule(*ANY),
    f"POST {P}/notifications/{{notification_id}}/read": rule(*ANY, hidden=ANY),
    # experts and reviews
    f"GET {P}/experts": public(),
    f"POST {P}/experts": rule(B, body={"user_id": "{user_id}", "name": "n", "expertise": []}),
    f"PATCH {P}/experts/{{expert_id}}": rule(B, body={"active": True}),
    f"GET {P}/reviews/{{review_id}}": rule(*ANY, hidden=MEMBERS),
    f"POST {P}/reviews/{{review_id}}/panel": rule(B, O, body={"expert_ids": [1, 2, 3]}),
    f"POST {P}/reviews/{{review_id}}/tasks/{{task_id}}/replacement": rule(B, O, body={"expert_id": 1}),
    f"GET {P}/review-tasks": rule(E),
    f"POST {P}/review-tasks/{{task_id}}/decision": rule(E, hidden={E}, body={"vote": "approve", "comments": "c"}),
    f"POST {P}/review-tasks/{{task_id}}/recusal": rule(E, hidden={E}, body={"reason": "conflict"}),
    f"GET {P}/admin/cases": rule(B, O),
    f"GET {P}/admin/cases/{{case_id}}": rule(B, O),
    f"GET {P}/admin/overdue-tasks": rule(B, O),
    # methodologies
    f"POST {P}/methodologies": rule(A, B, body={"title": "t", "scope": "project", "domain": "other", "summary": "s"}),
    f"GET {P}/methodologies": rule(*ANY),
    f"GET {P}/methodologies/{{case_no}}": rule(*ANY, hidden=MEMBERS),
    f"POST {P}/methodologies/{{case_no}}/completeness": rule(B, body={"decision": "accept"}),
    f"POST {P}/methodologies/{{case_no}}/resubmission": rule(A, B, hidden={A}, body={
        "title": "t", "scope": "project", "domain": "other", "summary": "s"}),
    f"POST {P}/methodologies/{{case_no}}/withdrawal": rule(A, B, hidden={A}, body={"reason": "r"}),
    f"POST {P}/methodologies/{{case_no}}/publication": rule(B, body={"decision": "publish"}),
    f"POST {P}/methodology-reevaluations": rule(B, body={"code": "WH-M-NONE-001", "reason": "due"}),
    f"GET {P}/methodology-reevaluations/{{no}}": rule(*ANY, hidden=MEMBERS),
    f"POST {P}/methodology-reevaluations/{{no}}/decision": rule(B, body={"outcome": "confirm", "reason": "r"}),
    f"GET {P}/public/methodologies": public(),
    f"GET {P}/public/methodologies/{{code}}": public(),
    f"GET {P}/public/methodology-documents/{{document_id}}/content": public(),
    f"GET {P}/public/methodologies/{{code}}/versions/{{version_no}}": public(),
    # scenarios
    f"POST {P}/scenario-specs": rule(O, body={"category": "restaurant", "title": "t", "items": [
        {"code": "g1", "name": "gate", "kind": "gate", "description": "d"},
        {"code": "w1", "name": "weighted", "kind": "weighted", "weight": 100, "description": "d"}]}),
    f"GET {P}/scenario-specs": public(),
    f"POST {P}/scenario-specs/{{spec_id}}/publish": rule(O),
    f"GET {P}/scenario-specs/{{spec_id}}": public(),
    f"POST {P}/scenarios": rule(A, body={"name": "n", "category": "restaurant", "address": "a",
                                         "district": "jiang_an", "behaviour_description": "d"}),
    f"GET {P}/scenarios": rule(*ANY),
    f"GET {P}/scenarios/{{scenario_id}}": rule(*ANY, hidden=MEMBERS),
    f"POST {P}/scenarios/{{scenario_id}}/self-assessments": rule(A, hidden={A}, body={"items": [{"code": "g1", "passed": True}]}),
    f"GET {P}/scenarios/{{scenario_id}}/self-assessments/{{assessment_id}}": rule(*ANY, hidden=MEMBERS),
    f"POST {P}/scenarios/{{scenario_id}}/applications": rule(A, hidden={A}, body={"self_assessment_id": 1}),
    f"GET {P}/scenario-cases/{{case_id}}": rule(*ANY, hidden=MEMBERS),
    f"POST {P}/scenario-cases/{{case_id}}/withdraw": rule(A, hidden={A}, body={"reason": "r"}),
    f"POST {P}/scenario-cases/{{case_id}}/resubmission": rule(A, hidden={A}, body={"self_assessment_id": 1}),
    f"POST {P}/scenario-cases/{{case_id}}/decision": rule(O, body={"decision": "reject", "reasons": "r"}),
    f"GET {P}/scenario-labels": public(),
    # reference lists
    f"POST {P}/verification-bodies/{{organisation_id}}/accreditations": rule(B, body={
        "reference": "r", "valid_from": "2025-01-01", "valid_until": "2026-01-01"}),
    f"POST {P}/accreditations/{{accreditation_id}}/revocation": rule(B, body={"reason": "r"}),
    f"GET {P}/verification-bodies": public(),
    f"POST {P}/key-emitters": rule(B, body={"organisation_id": "{org_id}", "scheme": "hubei",
                                            "boundary_facility_ids": ["F-1"], "effective_from": "2025-01-01"}),
    f"GET {P}/key-emitters": rule(B, O),
    f"PATCH {P}/key-emitters/{{emitter_id}}": rule(B, body={"effective_until": "2030-01-01"}),
    # projects and issuance
    f"POST {P}/projects": rule(A, body={"methodology_code": "WH-M-NONE-001", "methodology_version": 1, "name": "n",
                                        "district": "d", "site_address": "a", "facility_id": "f",
                                        "start_date": "2025-01-01", "description": "d"}),
    f"GET {P}/projects": public(),
    f"GET {P}/projects/{{project_id}}": public(),
    f"POST {P}/projects/{{project_id}}/issuance-cases": rule(A, hidden={A}, body={
        "period_start": "2025-01-01", "period_end": "2025-06-30", "claimed_tco2e": "1", "benefit_sharing": "b",
        "verifier_organisation_id": "{org_id}"}),
    f"GET {P}/issuance-cases": rule(*ANY),
    f"GET {P}/issuance-cases/{{case_id}}": rule(*ANY, hidden=MEMBERS),
    f"POST {P}/issuance-cases/{{case_id}}/verifier-response": rule(V, hidden={V}, body={"accept": True}),
    f"POST {P}/issuance-cases/{{case_id}}/verifier": rule(A, hidden={A}, body={"verifier_organisation_id": 1}),
    f"POST {P}/issuance-cases/{{case_id}}/correction-request": rule(V, hidden={V}, body={"comments": "c"}),
    f"POST {P}/issuance-cases/{{case_id}}/amendment": rule(A, hidden={A}, body={"comments": "c"}),
    f"POST {P}/issuance-cases/{{case_id}}/verification-report": rule(V, hidden={V}, body={
        "verified_tco2e": "1", "conclusion": "c"}),
    f"POST {P}/issuance-cases/{{case_id}}/application": rule(A, hidden={A}, body={"statement": "s"}),
    f"POST {P}/issuance-cases/{{case_id}}/decision": rule(B, body={"publish": False, "reason": "r"}),
    f"POST {P}/issuance-cases/{{case_id}}/issuance": rule(O),
    f"POST {P}/issuance-cases/{{case_id}}/withdrawal": rule(A, hidden={A}, body={"reason": "r"}),
    f"POST {P}/publicity-notices/{{notice_id}}/objections": public(body={"content": "c"}),
    f"GET {P}/issuance-cases/{{case_id}}/objections": rule(*ANY, hidden=MEMBERS),
    f"POST {P}/issuance-cases/{{case_id}}/objections/{{objection_id}}/answer": rule(A, hidden={A},
                                                                                   body={"answer": "a"}),
    f"POST {P}/issuance-cases/{{case_id}}/objections/{{objection_id}}/ruling": rule(B, body={
        "upheld": False, "reason": "r"}),
    f"GET {P}/publicity-notices/{{notice_id}}/documents/{{document_id}}": public(),
    f"GET {P}/publicity-notices": public(),
    f"GET {P}/publicity-notices/{{notice_id}}": public(),
    f"POST {P}/publicity-notices/recompute": rule(B, O),
    f"GET {P}/issued-reductions": public(),
    # scenario annual neutrality (Art. 17)
    f"GET {P}/neutrality-obligations": rule(B, O),
    f"GET {P}/scenarios/{{scenario_id}}/neutrality": rule(*ANY, hidden=MEMBERS),
    f"POST {P}/scenarios/{{scenario_id}}/neutrality/{{year}}/report": rule(
        A, hidden={A}, body={"emissions_tco2e": 1, "document_id": 1}),
    f"POST {P}/scenarios/{{scenario_id}}/neutrality/{{year}}/extension": rule(O, body={"reason": "r", "due": "2099-01-01"}),
    # disclosure and statistics (Art. 30, 31): public, paged, CSV
    **{f"GET {P}/disclosure/{name}": public() for name in (
        "committee", "methodologies", "scenarios", "projects", "publicity-notices", "issuances", "transfers",
        "cancellations", "statistics", "neutrality")},
    f"GET {P}/accounts/mine": rule(*ANY),
    f"GET {P}/accounts": rule(B, O),
    f"GET {P}/accounts/{{account_number}}": rule(*ANY, hidden=MEMBERS),
    f"GET {P}/serials/{{serial}}": public(),
    # ledger: holdings, trades, freezing, cancellations and certificates
    f"GET {P}/accounts/{{account_number}}/holdings": rule(*ANY, hidden=MEMBERS),
    f"GET {P}/accounts/{{account_number}}/movements": rule(*ANY, hidden=MEMBERS),
    f"POST {P}/trades": rule(X, body={"trade_ref": "T-1", "seller_account": "{account_number}",
                                      "buyer_account": "{account_number}", "quantity": 1}),
    f"POST {P}/accounts/{{account_number}}/freeze": rule(O, X, body={"reason": "r"}),
    f"POST {P}/accounts/{{account_number}}/unfreeze": rule(O, X, body={"reason": "r"}),
    # Only the holder applies: nobody else (authorities included) finds A's account to cancel from.
    f"POST {P}/cancellations": rule(*ANY, hidden=ANY, body={"account_number": "{account_number}", "quantity": 1,
                                                             "purpose": "donation", "beneficiary_name": "b"}),
    f"GET {P}/cancellations": rule(*ANY),
    f"GET {P}/cancellations/{{cancellation_id}}": rule(*ANY, hidden=MEMBERS),
    f"POST {P}/cancellations/{{cancellation_id}}/confirm": rule(*ANY, hidden=ANY),
    f"POST {P}/cancellations/{{cancellation_id}}/reject": rule(*ANY, hidden=ANY, body={"reason": "r"}),
    f"POST {P}/cancellations/{{cancellation_id}}/withdraw": rule(*ANY, hidden=ANY, body={"reason": "r"}),
    # supervision: reports (Art. 34) by anyone, handled by the authorities; sanctions (Art. 33)
    f"POST {P}/reports": public(body={"organisation_id": "{org_id}", "content": "matrix report"}),
    f"GET {P}/reports/receipt/{{receipt_code}}": public(),
    f"GET {P}/reports": rule(B, O),
    f"GET {P}/reports/{{report_id}}": rule(B, O),
    f"POST {P}/reports/{{report_id}}/assignment": rule(B, body={"handler_user_id": "{user_id}"}),
    f"POST {P}/reports/{{report_id}}/acknowledgement": rule(B, O),
    f"POST {P}/reports/{{report_id}}/conclusion": rule(B, O, body={"substantiated": False, "conclusion": "c"}),
    f"POST {P}/sanctions": rule(O, X, body={"organisation_id": "{organisation_id}", "measure": "suspend",
                                            "reason": "matrix"}),
    f"GET {P}/sanctions": rule(B, O, X),
    f"GET {P}/sanctions/{{sanction_id}}": rule(B, O, X),
    f"POST {P}/sanctions/{{sanction_id}}/reinstatement": rule(O, X, body={"reason": "r"}),
    f"GET {P}/public/sanctions": public(),
    f"GET {P}/public/ledger/totals": public(),
    f"GET {P}/public/certificates": public(),
    f"GET {P}/public/certificates/{{number}}": public(),
    f"GET {P}/public/certificates/{{number}}/pdf": public(),
    # personal reductions. A data source pushes and issues codes only once the operator approved it (the
    # matrix's data-source user is not: 403 art22.source_not_approved, hence `hidden`).
    f"POST {P}/behaviour-batches": rule(D, hidden={D}, body={"records": [{"source_event_id": "e1"}]}),
    f"GET {P}/behaviour-batches/{{batch_id}}": rule(D, B, O, hidden={D}),
    # The operator sees statistics, not records (SPEC §2.5).
    f"GET {P}/behaviour-batches/{{batch_id}}/records": rule(D, hidden={D}),
    f"POST {P}/binding-codes": rule(D, hidden={D}, body={"subject_ref": "u-1"}),
    f"POST {P}/residents": public(body={"name": "m", "email": "matrix@example.cn", "password": "long enough pw"}),
    f"POST {P}/residents/tokens": public(body={"email": "nobody@example.cn", "password": "wrong password"}),
    f"GET {P}/personal-account": rule(I),
    f"GET {P}/personal-account/statement": rule(I),
    f"GET {P}/personal-account/bindings": rule(I),
    f"POST {P}/personal-account/bindings": rule(I, body={"code": "NOPE123456"}),
    f"DELETE {P}/personal-account/bindings/{{binding_id}}": rule(I, hidden={I}),
    f"POST {P}/data-sources": rule(O, body={"organisation_id": "{org_id}", "behaviours": ["metro_km"]}),
    f"GET {P}/data-sources": rule(B, O),
    f"POST {P}/data-sources/{{source_id}}/suspend": rule(O, body={"reason": "r"}),
    f"POST {P}/data-sources/{{source_id}}/reinstate": rule(O, body={"reason": "r"}),
    f"GET {P}/data-sources/{{source_id}}/statistics": rule(D, B, O, hidden={D}),
}
