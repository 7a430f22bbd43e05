"""A resent issuance order never claims more than the case shows (issue 10).

The worker died between writing the issuance (ledger rows) and the case recording it: the units exist, the
case still reads `published`. A resent POST …/issuance must not answer from the ledger row alone; it asks the
case, which finishes the step (the write is idempotent on the case id), so the answer and the case agree.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from activities.issuance import IssuanceActivities
from domain.contracts.issuance import IssueRequest
from domain.contracts.review import Vote
from store.models.audit import AuditEvent
from store.models.ledger import Issuance
from tests.issuance_flow import flow  # noqa: F401 (the fixture)


async def test_a_resent_issuance_answers_only_what_the_case_shows(flow, session_factory, operator):
    case_id = (await flow.file())["case_id"]
    await flow.verify(case_id)
    await flow.skip_past_publicity(case_id)
    await flow.apply(case_id)
    await flow.conclude_review(case_id, 1, Vote.APPROVE)
    await flow.publish(case_id)
    await flow.until(case_id, "published")
    # The issuing activity ran (as a killed worker may leave it): the ledger has the units, the case not yet.
    written = IssuanceActivities(session_factory).issue_reductions(IssueRequest(
        case_id=case_id, issued_at=datetime.now(timezone.utc), operator_user_id=operator.id))
    assert (await flow.state(case_id))["stage"] == "published"

    answer = await flow.issue(case_id)
    assert answer["issuance_id"] == written.issuance_id and answer["tonnes"] == written.tonnes
    case = await flow.state(case_id)
    assert case["stage"] == "issued", "the answer claimed an issuance the case did not show"
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Issuance).where(Issuance.issuance_key == case_id)) == 1
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.case_id == case_id, AuditEvent.action == "issuance.issued")) == 1
    assert await flow.issue(case_id) == answer  # and again: the same answer
