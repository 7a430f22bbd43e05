"""Typed search attributes every case upserts (never personal data: SPEC §3 privacy)."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.common import SearchAttributeKey

CASE_TYPE = SearchAttributeKey.for_keyword("CaseType")  # methodology, scenario, issuance, review…
CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
CASE_NUMBER = SearchAttributeKey.for_keyword("CaseNumber")  # the business id, e.g. methodology-42
CASE_DEADLINE = SearchAttributeKey.for_datetime("CaseDeadline")  # the next deadline the case waits on

ALL = [CASE_TYPE, CASE_STAGE, CASE_NUMBER, CASE_DEADLINE]

# Patch id: cases started before it send all four attributes at every stage change.
CHANGED_ONLY = "search-attributes-changed-only"


def upsert_case(case_type: str, number: str, stage: str, deadline: datetime | None) -> None:
    """Set a case's attributes from workflow code, sending only those that changed: every upsert is a
    command in the history and a write to the visibility store, and type and number never change."""
    wanted = [(CASE_TYPE, case_type), (CASE_NUMBER, number), (CASE_STAGE, stage), (CASE_DEADLINE, deadline)]
    if workflow.patched(CHANGED_ONLY):
        current = workflow.info().typed_search_attributes
        wanted = [(key, value) for key, value in wanted if current.get(key) != value]
        if not wanted:
            return
    workflow.upsert_search_attributes([key.value_set(value) if value is not None else key.value_unset()
                                       for key, value in wanted])


def dev_server_args() -> list[str]:
    """`temporal server start-dev` flags registering the attributes."""
    kinds = {"KEYWORD": "Keyword", "DATETIME": "Datetime", "INT": "Int", "TEXT": "Text", "BOOL": "Bool"}
    args: list[str] = []
    for key in ALL:
        args += ["--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_')]}"]
    return args
