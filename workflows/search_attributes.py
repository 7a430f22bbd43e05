"""Typed search attributes every case upserts (never personal data: SPEC §3 privacy); the kit
(workflows/kit.py) sends those that changed at each step."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CASE_TYPE = SearchAttributeKey.for_keyword("CaseType")  # methodology, scenario, issuance, review…
CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
CASE_NUMBER = SearchAttributeKey.for_keyword("CaseNumber")  # the business id, e.g. methodology-42
CASE_DEADLINE = SearchAttributeKey.for_datetime("CaseDeadline")  # the next deadline the case waits on

ALL = [CASE_TYPE, CASE_STAGE, CASE_NUMBER, CASE_DEADLINE]


def dev_server_args() -> list[str]:
    """`temporal server start-dev` flags registering the attributes."""
    kinds = {"KEYWORD": "Keyword", "DATETIME": "Datetime", "INT": "Int", "TEXT": "Text", "BOOL": "Bool"}
    args: list[str] = []
    for key in ALL:
        args += ["--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_')]}"]
    return args
