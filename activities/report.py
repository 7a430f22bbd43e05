"""Activities of the report case: its facts writer (the reports row follows the case's steps)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from domain.contracts.cases import CaseStep
from domain.contracts.report import CASE_TYPE, ReportFacts
from settings import Settings
from store import supervision


def write_facts(session: Session, step: CaseStep) -> None:
    supervision.write_report_facts(session, ReportFacts.model_validate(step.facts))


FACTS_WRITERS = {CASE_TYPE: write_facts}


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return []
