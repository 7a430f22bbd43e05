"""A business refusal raised below the API (store, domain) that the API answers as problem+json."""

from __future__ import annotations


class Refusal(Exception):
    """Refused input: the HTTP status it maps to, the field at fault and the rule it broke."""

    def __init__(self, status: int, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.rule = rule
        self.message = message
