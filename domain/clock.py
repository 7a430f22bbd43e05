"""Time of the scheme in one place: instants are UTC (`Z` in API answers), days are local dates in
Asia/Shanghai (SPEC §3). Workflow code reads `workflow.now()`, never `now_utc()` (replay)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now_utc() -> datetime:
    """The current instant, UTC (API, store and activities; not workflows)."""
    return datetime.now(timezone.utc)


def shanghai_today(now: datetime) -> date:
    """Dates of the scheme are local dates in Asia/Shanghai (SPEC §3)."""
    return now.astimezone(SHANGHAI).date()
