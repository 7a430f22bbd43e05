"""Methodology rules (SPEC §2.2; Art. 7, 9–11): scopes, domains, stages, codes, behaviour tables."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from domain.rules import Kind, Refusal


class Scope(StrEnum):
    PROJECT = "project"
    PERSONAL = "personal"


class MethodologyDomain(StrEnum):
    GREEN_CONSUMPTION = "green_consumption"
    RESOURCE_SAVING = "resource_saving"
    ENERGY_SUBSTITUTION = "energy_substitution"
    FORESTRY_CARBON_SINK = "forestry_carbon_sink"
    LOW_CARBON_TRAVEL = "low_carbon_travel"
    OTHER = "other"


# The domain part of a published code, e.g. WH-M-TRAVEL-001.
DOMAIN_CODE = {
    MethodologyDomain.GREEN_CONSUMPTION: "CONSUME",
    MethodologyDomain.RESOURCE_SAVING: "RESOURCE",
    MethodologyDomain.ENERGY_SUBSTITUTION: "ENERGY",
    MethodologyDomain.FORESTRY_CARBON_SINK: "FOREST",
    MethodologyDomain.LOW_CARBON_TRAVEL: "TRAVEL",
    MethodologyDomain.OTHER: "OTHER",
}


def methodology_code(domain: MethodologyDomain, seq: int) -> str:
    return f"WH-M-{DOMAIN_CODE[domain]}-{seq:03d}"


def version_label(version_no: int) -> str:
    return f"v{version_no}"


class Stage(StrEnum):
    """Stages of a methodology case (the workflow's state, mirrored to PostgreSQL)."""

    COMPLETENESS_CHECK = "completeness_check"  # the bureau checks the submission is complete
    RETURNED = "returned"  # incomplete: the applicant amends and resubmits
    PANEL_REVIEW = "panel_review"  # the expert panel (child workflow) reviews it
    REVISION = "revision"  # the panel asked for a revision: the applicant resubmits before the deadline
    PUBLICATION_DECISION = "publication_decision"  # the panel approved: the bureau publishes or rejects
    PUBLISHED = "published"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


TERMINAL_STAGES = frozenset({Stage.PUBLISHED, Stage.REJECTED, Stage.WITHDRAWN})
# The applicant may withdraw until publication.
WITHDRAWABLE_STAGES = frozenset(Stage) - TERMINAL_STAGES
RESUBMITTABLE_STAGES = frozenset({Stage.RETURNED, Stage.REVISION})


class ReevaluationStage(StrEnum):
    OPEN = "open"
    PANEL_REVIEW = "panel_review"  # a revision's new version is with an expert panel (Art. 7, 11)
    CONFIRMED = "confirmed"  # the version stays current; its next re-evaluation date moves on
    REVISED = "revised"  # a new version is published; the old one is superseded
    RETIRED = "retired"  # the methodology may no longer be used by new projects or accounting


class ReevaluationOutcome(StrEnum):
    CONFIRM = "confirm"
    REVISE = "revise"
    RETIRE = "retire"


class VersionStatus(StrEnum):
    CURRENT = "current"
    SUPERSEDED = "superseded"  # users who took it keep it; new users take the current version
    RETIRED = "retired"


# Factors are gCO2e per unit with at most 4 decimals, stored exactly as ten-thousandths of a gram.
FACTOR_SCALE = 10_000
FACTOR_DECIMALS = 4
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


def parse_factor(text: str) -> int:
    """"78.4" → 784000 ten-thousandths of a gram; refuses ≤ 0, more than 4 decimals, non-numbers."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise _invalid(None, "decimal", f"'{text}' is not a decimal number") from None
    if not value.is_finite():
        raise _invalid(None, "decimal", f"'{text}' is not a decimal number")
    if value <= 0:
        raise _invalid(None, "positive", "the factor must be greater than 0")
    scaled = value * FACTOR_SCALE
    if scaled != scaled.to_integral_value():
        raise _invalid(None, "max_decimals", f"the factor has more than {FACTOR_DECIMALS} decimals")
    return int(scaled)


def format_factor(ten_thousandths: int) -> str:
    """784000 → "78.4" (the exact decimal, without trailing zeros)."""
    whole, frac = divmod(ten_thousandths, FACTOR_SCALE)
    return f"{whole}.{frac:04d}".rstrip("0").rstrip(".") if frac else str(whole)


def _invalid(field: str | None, rule: str, message: str) -> Refusal:
    return Refusal(Kind.INVALID, rule, message, field)


def check_behaviour_table(scope: Scope, rows: list[dict]) -> list[Refusal]:
    """Field errors of a behaviour table (rows: code, name, unit, daily_cap; factors parsed already).

    A personal methodology needs a table; a project methodology has none (its quantities come from
    monitoring reports, SPEC §2.4).
    """
    errors: list[Refusal] = []
    if scope == Scope.PROJECT:
        if rows:
            errors.append(_invalid("behaviours", "not_allowed_for_project_scope",
                                     "a project methodology has no behaviour table"))
        return errors
    if not rows:
        return [_invalid("behaviours", "required_for_personal_scope",
                           "a personal methodology needs a behaviour table")]
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        code = row.get("code") or ""
        if not _CODE.match(code):
            errors.append(_invalid(f"behaviours.{i}.code", "format",
                                     "a behaviour code is lower-case letters, digits and '_' (e.g. metro_km)"))
        elif code in seen:
            errors.append(_invalid(f"behaviours.{i}.code", "unique",
                                     f"behaviour code '{code}' is already used in row {seen[code]}"))
        else:
            seen[code] = i
        if not (row.get("name") or "").strip():
            errors.append(_invalid(f"behaviours.{i}.name", "required", "a behaviour needs a name"))
        if not (row.get("unit") or "").strip():
            errors.append(_invalid(f"behaviours.{i}.unit", "required", "a behaviour needs a unit of quantity"))
        cap = row.get("daily_cap")
        if not isinstance(cap, int) or isinstance(cap, bool) or cap <= 0:
            errors.append(_invalid(f"behaviours.{i}.daily_cap", "positive_integer",
                                     "the daily cap per person is a whole number of units greater than 0"))
    return errors


def add_years(moment: datetime, years: int) -> datetime:
    """The same date `years` later; 29 February becomes 28 February in a common year."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)
