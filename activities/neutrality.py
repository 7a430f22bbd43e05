"""Activities of the annual-neutrality case (Art. 17): the facts writer of its steps (the public
compliance row) and the count of confirmed cancellations for a scenario and year (the ledger's link)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from domain.contracts.cases import CaseStep
from domain.contracts.neutrality import (
    CASE_TYPE,
    COUNT_NEUTRALITY_CANCELLATIONS,
    SCENARIO_LABELLED_UNTIL,
    CountRequest,
    LabelledUntil,
    NeutralityFacts,
)
from settings import Settings
from store import neutrality
from store.session import transaction


def write_facts(session: Session, step: CaseStep) -> None:
    neutrality.save(session, NeutralityFacts.model_validate(step.facts))


FACTS_WRITERS = {CASE_TYPE: write_facts}


class NeutralityActivities:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @activity.defn(name=COUNT_NEUTRALITY_CANCELLATIONS)
    def count_neutrality_cancellations(self, r: CountRequest) -> int:
        with transaction(self.session_factory) as session:
            return neutrality.cancelled_tonnes(session, r.scenario_id, r.year)

    @activity.defn(name=SCENARIO_LABELLED_UNTIL)
    def scenario_labelled_until(self, r: CountRequest) -> LabelledUntil:
        with transaction(self.session_factory) as session:
            return LabelledUntil(valid_until=neutrality.labelled_until(session, r.scenario_id))


def activities(session_factory: sessionmaker[Session], settings: Settings) -> list[Any]:
    return [NeutralityActivities(session_factory)]
