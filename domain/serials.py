"""Quantities and serial numbers of project reductions (SPEC §2.4, §2.6). Pure functions, no I/O.

Every issued tonne has exactly one serial number for life:

    WH-{vintage}-{project id:06d}-{methodology segment}-{number:09d}
    e.g. WH-2026-000012-WH-M-TRAVEL-001-V1-000000001

A *series* is everything before the number (vintage, project and methodology). Numbers inside a
series are handed out once, in increasing order, across all issuances of that series; a block is an
inclusive range [start, end] of one series. Splitting a block (a partial transfer or cancellation)
shortens it and adds a new block for the rest with the same series, so no tonne is ever renumbered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

GRAMS_PER_TONNE = 1_000_000
# Claimed and verified quantities are given in tCO2e with at most 3 decimals (kilogram precision).
TONNE_DECIMALS = 3
SERIAL_NUMBER_DIGITS = 9
MAX_SERIAL_NUMBER = 10**SERIAL_NUMBER_DIGITS - 1

_SEGMENT_OK = re.compile(r"[^A-Z0-9]+")
_SERIAL = re.compile(r"^WH-(?P<vintage>\d{4})-(?P<project>\d{6})-(?P<methodology>[A-Z0-9][A-Z0-9-]*[A-Z0-9])-(?P<number>\d{9})$")


def tonnes_to_grams(tonnes: Decimal) -> int:
    """Exact conversion; refuses more than 3 decimals rather than rounding a claim silently."""
    if not tonnes.is_finite():
        raise ValueError("quantity must be a finite number")
    exponent = tonnes.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -TONNE_DECIMALS:  # trailing zeros do not count
        raise ValueError(f"quantity has more than {TONNE_DECIMALS} decimals")
    return int(tonnes * GRAMS_PER_TONNE)


def grams_to_tonnes(grams: int) -> Decimal:
    """For display: exact, with 3 decimals ("1234.567")."""
    return (Decimal(grams) / GRAMS_PER_TONNE).quantize(Decimal(1).scaleb(-TONNE_DECIMALS))


def whole_tonnes(grams: int) -> tuple[int, int]:
    """Issuable whole tonnes (rounded down) and the remainder in grams that is recorded, not issued."""
    if grams < 0:
        raise ValueError("quantity cannot be negative")
    return divmod(grams, GRAMS_PER_TONNE)


def methodology_segment(code: str, version: int) -> str:
    """`WH-M-TRAVEL-001` v1 → `WH-M-TRAVEL-001-V1`: upper case, letters, digits and single hyphens."""
    base = _SEGMENT_OK.sub("-", code.upper()).strip("-")
    if not base:
        raise ValueError("methodology code has no letters or digits")
    return f"{base}-V{version}"


def series_prefix(vintage: int, project_id: int, methodology: str) -> str:
    if not 1000 <= vintage <= 9999:
        raise ValueError("vintage must be a four-digit year")
    if not 0 < project_id <= 999_999:
        raise ValueError("project id must fit in six digits")
    return f"WH-{vintage}-{project_id:06d}-{methodology}"


def serial(prefix: str, number: int) -> str:
    if not 1 <= number <= MAX_SERIAL_NUMBER:
        raise ValueError("serial number out of range")
    return f"{prefix}-{number:0{SERIAL_NUMBER_DIGITS}d}"


def serial_range(prefix: str, start: int, end: int) -> str:
    """A block as people read it: first serial `..` last number."""
    return f"{serial(prefix, start)}..{end:0{SERIAL_NUMBER_DIGITS}d}"


@dataclass(frozen=True)
class ParsedSerial:
    prefix: str
    vintage: int
    project_id: int
    methodology: str
    number: int


def parse_serial(text: str) -> ParsedSerial:
    m = _SERIAL.match(text.strip().upper())
    if m is None or int(m["number"]) == 0:
        raise ValueError("not a serial number of the form WH-YYYY-PPPPPP-METHODOLOGY-NNNNNNNNN")
    prefix = f"WH-{m['vintage']}-{m['project']}-{m['methodology']}"
    return ParsedSerial(prefix, int(m["vintage"]), int(m["project"]), m["methodology"], int(m["number"]))
