"""The case register: stage mirroring from workflows and who may see a case."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from domain.contracts.cases import CaseAccessGrant, CaseMirror
from domain.roles import Role
from store import cases
from store.models.cases import Case

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


def _mirror(s, stage: str, at: datetime, **kw) -> None:
    cases.mirror(s, CaseMirror(case_id="methodology-1", case_type="methodology", stage=stage,
                               occurred_at=at, **kw))


def test_mirror_upserts_and_never_lets_older_news_win(session_factory, make_org):
    org = make_org()
    with session_factory() as s, s.begin():
        _mirror(s, "submitted", T0, owner_organisation_id=org.id, title="Metro travel", details={"round": 1})
        _mirror(s, "completeness_check", T0 + timedelta(minutes=5), details={"checker": "bureau"})
        # A retried activity carrying the earlier stage arrives late: ignored.
        _mirror(s, "submitted", T0 + timedelta(minutes=1))
    with session_factory() as s:
        case = s.get(Case, "methodology-1")
    assert case.stage == "completeness_check"
    assert case.title == "Metro travel" and case.owner_organisation_id == org.id
    assert case.details == {"round": 1, "checker": "bureau"}
    assert case.created_at == T0 and case.updated_at == T0 + timedelta(minutes=5)


def test_may_see_owner_authorities_and_granted_participants(session_factory, make_actor):
    owner = make_actor(Role.APPLICANT)
    stranger = make_actor(Role.APPLICANT)
    expert = make_actor(Role.EXPERT)
    bureau = make_actor(Role.BUREAU_ADMIN)
    verifier = make_actor(Role.VERIFIER)
    with session_factory() as s, s.begin():
        _mirror(s, "submitted", T0, owner_organisation_id=owner.user.organisation_id)
    with session_factory() as s:
        assert cases.may_see(s, owner.user, "methodology-1")
        assert cases.may_see(s, bureau.user, "methodology-1")
        assert not cases.may_see(s, stranger.user, "methodology-1")
        assert not cases.may_see(s, expert.user, "methodology-1")
        assert not cases.may_see(s, owner.user, "methodology-404")
    with session_factory() as s, s.begin():
        grant = CaseAccessGrant(case_id="methodology-1", capacity="expert", user_id=expert.id, granted_at=T0)
        cases.grant(s, grant)
        cases.grant(s, grant)  # a retried grant is harmless
        cases.grant(s, CaseAccessGrant(case_id="methodology-1", capacity="verifier",
                                       organisation_id=verifier.user.organisation_id, granted_at=T0))
    with session_factory() as s:
        assert cases.may_see(s, expert.user, "methodology-1")
        assert cases.may_see(s, verifier.user, "methodology-1")
    with session_factory() as s, s.begin():
        cases.grant(s, CaseAccessGrant(case_id="methodology-1", capacity="expert", user_id=expert.id,
                                       granted_at=T0 + timedelta(hours=1), revoke=True))
    with session_factory() as s:
        assert not cases.may_see(s, expert.user, "methodology-1")
