"""Activities of the sanction case (Art. 33): the participant's status, its account's freeze, the
cases it owns. Each is idempotent on the sanction, so a retry after a crash changes nothing twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from domain.contracts.cases import CaseStep
from domain.contracts.sanction import (
    CASE_TYPE,
    CASES_OF_PARTICIPANT,
    FREEZE_PARTICIPANT_UNITS,
    SET_PARTICIPANT_STATUS,
    CasesRequest,
    FreezeRequest,
    FreezeResult,
    SanctionFacts,
    StatusRequest,
)
from settings import Settings
from store import supervision
from store.session import transaction


def write_facts(session: Session, step: CaseStep) -> None:
    supervision.write_sanction_facts(session, SanctionFacts.model_validate(step.facts))


FACTS_WRITERS = {CASE_TYPE: write_facts}


class SanctionActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=SET_PARTICIPANT_STATUS)
    def set_participant_status(self, r: StatusRequest) -> None:
        with transaction(self.session_factory) as session:
            supervision.set_participant_status(session, r)

    @activity.defn(name=FREEZE_PARTICIPANT_UNITS)
    def freeze_participant_units(self, r: FreezeRequest) -> FreezeResult:
        with transaction(self.session_factory) as session:
            return supervision.freeze_participant_units(session, r)

    @activity.defn(name=CASES_OF_PARTICIPANT)
    def cases_of_participant(self, r: CasesRequest) -> list[str]:
        with self.session_factory() as session:
            return supervision.cases_of_participant(session, r.organisation_id)


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [SanctionActivities(session_factory)]
