"""Pure rules of project reduction issuance (SPEC §2.4, Art. 18–24)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shanghai_today(now: datetime) -> date:
    """Dates of the scheme are local dates in Asia/Shanghai (SPEC §3)."""
    return now.astimezone(SHANGHAI).date()


def vintage(period_end: date) -> int:
    """The vintage of a monitoring period's reductions: the year its period ends."""
    return period_end.year
