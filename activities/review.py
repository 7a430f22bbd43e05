"""The review workflow's own activities: the roster check of a panel and the review mirror."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.contracts.panel import CHECK_PANEL, MIRROR_REVIEW, PanelCheck, PanelMember, ReviewMirror
from settings import Settings
from store import review
from store.session import transaction


class ReviewActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=CHECK_PANEL)
    def check_panel(self, check: PanelCheck) -> list[PanelMember]:
        """Read-only, so safe to retry; a refusal is final (the roster decides, not the retry)."""
        with self.session_factory() as session:
            try:
                return review.panel_members(session, check)
            except review.PanelRefused as refused:
                raise ApplicationError(refused.message, {"field": "expert_ids", "rule": refused.rule,
                                                         "expert_id": refused.expert_id},
                                       type=refused.kind.value, non_retryable=True) from None

    @activity.defn(name=MIRROR_REVIEW)
    def mirror_review(self, m: ReviewMirror) -> None:
        with transaction(self.session_factory) as session:
            review.mirror_review(session, m)


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [ReviewActivities(session_factory)]
