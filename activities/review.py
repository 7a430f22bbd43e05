"""The review workflow's own activities: the roster check of a panel, and its facts writer (the review
and its tasks, in the step's transaction)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.contracts.cases import CaseStep
from domain.review import CHECK_PANEL, PanelCheck, PanelMember, ReviewMirror
from domain.contracts.review import REVIEW_CASE_TYPE
from domain.rules import Refusal
from settings import Settings
from store import review


def write_facts(session: Session, step: CaseStep) -> None:
    review.mirror_review(session, ReviewMirror.model_validate(step.facts))


FACTS_WRITERS = {REVIEW_CASE_TYPE: write_facts}


class ReviewActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=CHECK_PANEL)
    def check_panel(self, check: PanelCheck) -> list[PanelMember]:
        """Read-only, so safe to retry; a refusal is final (the roster decides, not the retry)."""
        with self.session_factory() as session:
            try:
                return review.panel_members(session, check)
            except Refusal as refused:
                raise ApplicationError(refused.message, {"field": refused.field, "rule": refused.rule},
                                       type=refused.kind.value, non_retryable=True) from None


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [ReviewActivities(session_factory)]
