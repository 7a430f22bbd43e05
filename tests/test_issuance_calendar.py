"""Publicity counted in official working days (Art. 20, SPEC §3), on test servers whose clock starts
on the day the case needs: across the 2026 Spring Festival and National Day, and into 2027 before its
calendar is loaded (provisional, then recomputed and never shorter)."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete

from api.temporal import announce_calendar_loaded
from domain import calendar_file
from domain.working_days import SHANGHAI
from store import calendar
from store.models.calendar import CalendarYear
from tests.issuance_flow import api_and_worker, make_flow, time_skipping_env_at

EXAMPLE_2027 = (Path(__file__).parent.parent / "docs/examples/calendar-2027.example.txt").read_text(encoding="utf-8")


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def stack(tmp_path, session_factory, settings, activity_executor, make_actor, make_org, bureau, operator):
    """A flow on a fresh time-skipping server whose clock starts at the given instant."""
    @asynccontextmanager
    async def open_at(start: datetime):
        async with time_skipping_env_at(start, tmp_path) as env, \
                api_and_worker(env, session_factory, settings, activity_executor) as http:
            yield await make_flow(http, env, make_actor, make_org, bureau, operator, session_factory)
    yield open_at
    with session_factory() as s, s.begin():  # calendar rows survive truncation: drop a year a test loaded
        s.execute(delete(CalendarYear).where(CalendarYear.year.not_in((2025, 2026))))


@pytest.mark.parametrize("start,end", [
    # Fri 13 Feb 10:00 → Sat 14 Feb (调休) is day 1, 15–23 Feb off, 24–27 Feb days 2–5, Sat 28 Feb
    # (调休) day 6, Mon 2 Mar day 7: ends at the end of 2 Mar.
    (sh(2026, 2, 13, 10), sh(2026, 3, 3)),
    # Wed 30 Sep 15:00 → 1–7 Oct off, 8–9 Oct days 1–2, Sat 10 Oct (调休) day 3, 12–15 Oct days 4–7.
    (sh(2026, 9, 30, 15), sh(2026, 10, 16)),
], ids=["spring-festival", "national-day"])
async def test_publicity_across_the_2026_holidays_ends_at_the_exact_instant(stack, start, end):
    async with stack(start) as flow:
        case_id = (await flow.file())["case_id"]
        await flow.verify(case_id)
        notice = await flow.notice(case_id)
        assert start <= at(notice["starts_at"]) < start + timedelta(minutes=1)
        assert at(notice["ends_at"]) == end and notice["provisional"] is False

        # An objection a minute before the end is still in time; ruled on, it holds nothing open.
        await flow.skip(end - await flow.env.get_current_time() - timedelta(minutes=1))
        objection = (await flow.object(notice["id"])).json()
        await flow.call("POST", f"/issuance-cases/{case_id}/objections/{objection['objection_id']}/answer",
                        flow.developer, json={"answer": "The figures are in annex 3."})
        await flow.call("POST", f"/issuance-cases/{case_id}/objections/{objection['objection_id']}/ruling",
                        flow.bureau, json={"upheld": False, "reason": "Annex 3 settles it."})
        assert (await flow.state(case_id))["stage"] == "publicity"

        await flow.skip(timedelta(minutes=2))
        await flow.until(case_id, "awaiting_application")
        closed = await flow.notice(case_id)
        assert closed["outcome"] == "completed" and end <= at(closed["closed_at"]) < end + timedelta(minutes=2)
        late = await flow.object(notice["id"], expect=409)
        assert "closed" in late.json()["detail"]


async def _until_recomputed(flow, case_id: str) -> dict:
    for _ in range(200):
        notice = await flow.notice(case_id)
        if not notice["provisional"]:
            return notice
        await asyncio.sleep(0.05)
    raise AssertionError(f"the publicity of {case_id} stayed provisional")


async def test_provisional_publicity_is_recomputed_when_2027_is_loaded_and_never_shortened(stack):
    """Loading the year through the API tells the running case itself (SPEC §3)."""
    # Thu 24 Dec 2026 10:00 → 25, 28–31 Dec are days 1–5; 2027 not loaded, so Fri 1 Jan counts as day 6
    # and Mon 4 Jan as day 7: provisionally ends at the end of 4 Jan.
    async with stack(sh(2026, 12, 24, 10)) as flow:
        case_id = (await flow.file())["case_id"]
        await flow.verify(case_id)
        notice = await flow.notice(case_id)
        assert at(notice["ends_at"]) == sh(2027, 1, 5) and notice["provisional"] is True
        assert (await flow.state(case_id))["state"]["publicity"]["provisional"] is True

        # The (example) 2027 calendar makes 1 Jan a day off: one working day more.
        r = await flow.call("PUT", "/calendar/2027", flow.bureau, 201, content=EXAMPLE_2027,
                            headers={"Content-Type": "text/plain; charset=utf-8"})
        assert r.json()["recomputing_cases"] == [case_id]
        notice = await _until_recomputed(flow, case_id)
        assert at(notice["ends_at"]) == sh(2027, 1, 6) and notice["provisional"] is False

        # Past the provisional end the publicity is still open; it closes at the recomputed end.
        await flow.skip(sh(2027, 1, 5, 1) - await flow.env.get_current_time())
        assert (await flow.state(case_id))["stage"] == "publicity"
        await flow.skip(timedelta(days=1))
        await flow.until(case_id, "awaiting_application")


def _load_2027_like_the_cli(session_factory) -> None:
    """`tanpuhui calendar load`: straight into the database, no running case is told."""
    with session_factory() as s, s.begin():
        calendar.load_year(s, calendar_file.parse(EXAMPLE_2027), replace=False, now=datetime.now(SHANGHAI),
                           loaded_by="cli")


async def test_a_provisional_end_is_rechecked_when_reached_even_without_a_signal(stack, session_factory):
    async with stack(sh(2026, 12, 24, 10)) as flow:
        case_id = (await flow.file())["case_id"]
        await flow.verify(case_id)
        _load_2027_like_the_cli(session_factory)
        # Nobody signals: at the provisional end the case asks again and waits one working day more.
        await flow.skip(sh(2027, 1, 5, 1) - await flow.env.get_current_time())
        assert (await flow.state(case_id))["stage"] == "publicity"
        assert at((await flow.notice(case_id))["ends_at"]) == sh(2027, 1, 6)
        await flow.skip(timedelta(days=1))
        await flow.until(case_id, "awaiting_application")


async def test_after_a_cli_load_the_recompute_endpoint_tells_the_cases(stack, session_factory):
    async with stack(sh(2026, 12, 24, 10)) as flow:
        case_id = (await flow.file())["case_id"]
        await flow.verify(case_id)
        _load_2027_like_the_cli(session_factory)
        await flow.call("POST", "/publicity-notices/recompute", flow.developer, 403)
        signalled = (await flow.call("POST", "/publicity-notices/recompute", flow.bureau)).json()
        assert signalled == {"signalled": [case_id]}
        notice = await _until_recomputed(flow, case_id)
        assert at(notice["ends_at"]) == sh(2027, 1, 6) and notice["provisional"] is False


async def test_a_case_that_ended_meanwhile_is_skipped_when_cases_are_told(stack):
    async with stack(sh(2026, 12, 24, 10)) as flow:
        case_id = (await flow.file())["case_id"]
        told = await announce_calendar_loaded(flow.env.client, ["issuance-no-such-case", case_id])
        assert told == [case_id]
