"""Working-day calendar (SPEC §3): the official days, periods in Asia/Shanghai, loading a new year."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import chinese_calendar
import pytest
from sqlalchemy import delete, select

from cli.main import main as cli_main
from domain import calendar_file
from domain.rules import Refusal
from domain.contracts.calendar import Deadline, DeadlineRequest
from domain.roles import Role
from domain.working_days import SHANGHAI, OfficialYear, PeriodEnd, WorkingDayCalendar
from store import calendar
from store.models.audit import AuditEvent
from store.models.calendar import CalendarYear
from tests.probe_workflows import DeadlineProbe, probe_worker

EXAMPLE_2027 = (Path(__file__).parent.parent / "docs/examples/calendar-2027.example.txt").read_text(encoding="utf-8")
SEEDED = (2025, 2026)
TEXT = {"Content-Type": "text/plain; charset=utf-8"}


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def remove_loaded_years(session_factory):
    """Calendar tables survive truncation (seed data): drop any year a test loaded."""
    yield
    with session_factory() as s, s.begin():
        s.execute(delete(CalendarYear).where(CalendarYear.year.not_in(SEEDED)))


@pytest.fixture
def cal(db) -> WorkingDayCalendar:
    return calendar.current(db)


def test_seeded_2025_and_2026_match_chinese_calendar_on_every_day(cal):
    day, checked = date(2025, 1, 1), 0
    while day.year <= 2026:
        assert cal.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)
        checked += 1
    assert checked == 730 and cal.is_official(2025) and cal.is_official(2026) and not cal.is_official(2027)


def test_seven_working_days_across_the_2026_spring_festival(cal):
    # From Friday 13 Feb 10:00 counting starts on the next working day: Sat 14 Feb (调休) is day 1;
    # 15-23 Feb are off; 24, 25, 26, 27 Feb are days 2-5; Sat 28 Feb (调休) is 6; Mon 2 Mar is 7.
    result = cal.period_end(sh(2026, 2, 13, 10), 7)
    assert result.end == sh(2026, 3, 3) and result.end.utcoffset() == timedelta(hours=8)
    assert result.provisional is False


def test_seven_working_days_across_the_2026_national_day(cal):
    # From Wed 30 Sep 15:00: 1-7 Oct are off; 8, 9 Oct are days 1-2; Sat 10 Oct (调休) is 3;
    # 12-15 Oct are days 4-7.
    result = cal.period_end(sh(2026, 9, 30, 15), 7)
    assert result == PeriodEnd(end=sh(2026, 10, 16), provisional=False)


def test_a_start_at_local_midnight_counts_that_day(cal):
    assert cal.period_end(sh(2026, 3, 2), 1).end == sh(2026, 3, 3)  # Monday 00:00: Monday counts
    assert cal.period_end(datetime(2026, 3, 1, 16, tzinfo=timezone.utc), 1).end == sh(2026, 3, 3)  # same instant
    assert cal.period_end(sh(2026, 3, 2) + timedelta(microseconds=1), 1).end == sh(2026, 3, 4)
    assert cal.period_end(sh(2026, 3, 1, 23, 59, 59), 1).end == sh(2026, 3, 3)
    # Midnight of a day off: the first working day after it is day 1 (Tue 24 Feb 2026).
    assert cal.period_end(sh(2026, 2, 16), 1).end == sh(2026, 2, 25)
    # Late in the evening UTC is already the next local day.
    assert cal.period_end(datetime(2026, 3, 2, 17, tzinfo=timezone.utc), 1).end == sh(2026, 3, 5)


def test_zero_working_days_end_at_the_start(cal):
    start = sh(2026, 5, 6, 9, 30)
    assert cal.period_end(start, 0).end == start


def test_a_period_into_a_year_without_official_data_is_provisional(cal):
    # Ends on Thu 31 Dec 2026: still official.
    assert cal.period_end(sh(2026, 12, 24, 10), 5) == PeriodEnd(end=sh(2027, 1, 1), provisional=False)
    # Into 2027 (weekends only assumed: Fri 1 Jan counts as a working day).
    result = cal.period_end(sh(2026, 12, 24, 10), 10)
    assert result.end == sh(2027, 1, 8) and result.provisional is True
    assert cal.period_end(sh(2031, 3, 3), 1).provisional is True


def test_not_before_is_a_floor_never_a_ceiling():
    plain = WorkingDayCalendar([OfficialYear(2027, working_weekends={date(2027, 1, 2): "New Year"})])
    assert plain.period_end(sh(2026, 12, 31, 10), 1).end == sh(2027, 1, 2)  # Fri 1 Jan
    floor = sh(2027, 1, 3)
    assert plain.period_end(sh(2026, 12, 31, 10), 1, not_before=floor).end == floor
    assert plain.period_end(sh(2026, 12, 31, 10), 3, not_before=floor).end == sh(2027, 1, 5)


def test_naive_instants_are_refused(cal):
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.period_end(datetime(2026, 3, 2), 1)


def test_the_calendar_is_cached_until_a_year_is_loaded(db, session_factory):
    first = calendar.current(db)
    assert calendar.current(db) is first
    with session_factory() as s, s.begin():
        calendar.load_year(s, calendar_file.parse(EXAMPLE_2027), replace=False, loaded_by="test",
                           now=datetime.now(timezone.utc))
    refreshed = calendar.current(db)
    assert refreshed is not first and refreshed.is_official(2027)
    assert not refreshed.is_working_day(date(2027, 1, 1)) and refreshed.is_working_day(date(2027, 2, 14))


# --- the file format ---------------------------------------------------------------------------

def test_the_documented_example_parses_and_renders_back():
    parsed = calendar_file.parse(EXAMPLE_2027)
    assert parsed.year == 2027 and len(parsed.days_off) == 18 and len(parsed.working_weekends) == 6
    assert parsed.days_off[date(2027, 2, 5)] == "Spring Festival" and parsed.notice.startswith("EXAMPLE")
    assert calendar_file.parse(calendar_file.render(parsed)) == parsed


@pytest.mark.parametrize(("body", "line", "rule"), [
    ("year: 2027\n2028-01-03 off New Year", 2, "date_outside_year"),
    ("year: 2027\n2027-01-02 off New Year", 2, "off_on_weekend"),  # a Saturday
    ("year: 2027\n2027-01-04 work New Year", 2, "work_on_weekday"),  # a Monday
    ("year: 2027\n2027-01-01 off New Year\n2027-01-01 off New Year", 3, "duplicate_date"),
    ("year: 2027\n2027-02-30 off Spring Festival", 2, "date_invalid"),
    ("year: 2027\n2027-1-1 off New Year", 2, "date_invalid"),
    ("year: 2027\n2027-01-01 holiday New Year", 2, "kind_unknown"),
    ("year: 2027\n2027-01-01 off", 2, "holiday_missing"),
    ("year: 2027\n2027-01-01", 2, "syntax"),
    ("2027-01-01 off New Year", 1, "year_header_missing"),
    ("year: 27\n2027-01-01 off New Year", 1, "year_invalid"),
    ("year: 2027\nyear: 2027\n2027-01-01 off New Year", 2, "duplicate_header"),
    ("# nothing\n", None, "year_header_missing"),
    ("year: 2027\n", None, "no_days"),
])
def test_each_rule_of_the_file_format(body, line, rule):
    with pytest.raises(Refusal) as refused:
        calendar_file.parse(body)
    assert [(e.field, e.rule) for e in refused.value.errors] == [("file" if line is None else f"line {line}", rule)]


def test_every_error_of_a_file_is_reported_with_its_line():
    body = "# 2027\nyear: 2027\n\n2027-01-01 off New Year\n2027-01-02 off New Year\n2026-10-01 off National Day\n"
    with pytest.raises(Refusal) as refused:
        calendar_file.parse(body, expected_year=2027)
    assert [(e.field, e.rule, e.extra["text"]) for e in refused.value.errors] == [
        ("line 5", "off_on_weekend", "2027-01-02 off New Year"),
        ("line 6", "date_outside_year", "2026-10-01 off National Day")]


# --- the API -----------------------------------------------------------------------------------

async def test_the_calendar_is_public(client):
    r = await client.get("/api/v1/calendar/years")
    assert r.status_code == 200
    assert [(y["year"], y["days_off"], y["working_weekends"]) for y in r.json()] == [(2025, 18, 5), (2026, 19, 6)]
    r = await client.get("/api/v1/calendar/2026")
    body = r.json()
    assert body["official"] is True and body["notice"].startswith("国务院办公厅")
    assert {"date": "2026-02-14", "holiday": "Spring Festival"} in body["working_weekends"]
    assert len(body["days_off"]) == 19 and body["days_off"][0] == {"date": "2026-01-01", "holiday": "New Year"}
    r = await client.get("/api/v1/calendar/2030")
    assert r.status_code == 200 and r.json()["official"] is False and r.json()["days_off"] == []
    assert (await client.get("/api/v1/calendar/1900")).status_code == 422


async def test_deadline_endpoint(client):
    r = await client.get("/api/v1/calendar/deadline", params={"start": "2026-09-30T15:00:00+08:00", "working_days": 7})
    assert r.status_code == 200, r.text
    assert datetime.fromisoformat(r.json()["end"]) == sh(2026, 10, 16) and r.json()["provisional"] is False
    assert r.json()["end"].endswith("Z")  # every instant in an answer is UTC with Z (issue 10)
    r = await client.get("/api/v1/calendar/deadline", params={"start": "2026-12-24T10:00:00Z", "working_days": 10})
    assert r.json()["provisional"] is True
    r = await client.get("/api/v1/calendar/deadline", params={"start": "2026-09-30T15:00:00", "working_days": 7})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "start"
    r = await client.get("/api/v1/calendar/deadline", params={"start": "2026-09-30T15:00:00Z", "working_days": -1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "working_days"


async def test_loading_a_year_is_for_authorities(client, make_actor, session_factory):
    r = await client.put("/api/v1/calendar/2027", content=EXAMPLE_2027, headers=TEXT)
    assert r.status_code == 401
    for role in (Role.APPLICANT, Role.EXPERT, Role.VERIFIER):
        r = await client.put("/api/v1/calendar/2027", content=EXAMPLE_2027, headers={**TEXT, **make_actor(role).headers})
        assert r.status_code == 403, role
    operator = make_actor(Role.OPERATOR_ADMIN)
    r = await client.put("/api/v1/calendar/2027", content=EXAMPLE_2027, headers={**TEXT, **operator.headers})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["outcome"] == "loaded" and body["official"] is True and len(body["days_off"]) == 18
    assert body["loaded_by"] == f"user {operator.id} (operator_admin)"
    with session_factory() as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.entity_type == "calendar_year"))
    assert (event.action, event.entity_id, event.actor_user_id) == ("calendar.year_loaded", "2027", operator.id)
    assert [y["year"] for y in (await client.get("/api/v1/calendar/years")).json()] == [2025, 2026, 2027]


async def test_a_loaded_year_is_replaced_only_explicitly(client, bureau, session_factory):
    h = {**TEXT, **bureau.headers}
    assert (await client.put("/api/v1/calendar/2027", content=EXAMPLE_2027, headers=h)).status_code == 201
    # The same file again (a retried upload) changes nothing.
    r = await client.put("/api/v1/calendar/2027", content=EXAMPLE_2027, headers=h)
    assert r.status_code == 200 and r.json()["outcome"] == "unchanged"
    changed = EXAMPLE_2027.replace("2027-06-09 off Dragon Boat\n", "")
    r = await client.put("/api/v1/calendar/2027", content=changed, headers=h)
    assert r.status_code == 409 and r.json()["errors"][0] == {
        "field": "replace", "rule": "year_already_loaded", "message": r.json()["detail"]}
    assert len((await client.get("/api/v1/calendar/2027")).json()["days_off"]) == 18
    r = await client.put("/api/v1/calendar/2027", params={"replace": "true"}, content=changed, headers=h)
    assert r.status_code == 200 and r.json()["outcome"] == "replaced" and len(r.json()["days_off"]) == 17
    with session_factory() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.entity_type == "calendar_year")
                           .order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["calendar.year_loaded", "calendar.year_replaced"]
    assert "2027-06-09" in events[1].details["previous"]["days_off"]


async def test_a_malformed_file_is_refused_whole(client, bureau, session_factory):
    body = EXAMPLE_2027.replace("2027-05-08 work", "2027-05-07 work").replace("2027-10-07 off", "2027-10-07 of")
    r = await client.put("/api/v1/calendar/2027", content=body, headers={**TEXT, **bureau.headers})
    assert r.status_code == 422
    lines = body.splitlines()
    assert r.json()["errors"] == [
        {"field": f"line {lines.index('2027-05-07 work Labour Day') + 1}", "rule": "work_on_weekday",
         "message": "2027-05-07 is a Friday: only weekend days are listed as working days",
         "text": "2027-05-07 work Labour Day"},
        {"field": f"line {lines.index('2027-10-07 of National Day') + 1}", "rule": "kind_unknown",
         "message": "'of' must be 'off' (weekday day off) or 'work' (weekend working day)",
         "text": "2027-10-07 of National Day"},
    ]
    assert (await client.get("/api/v1/calendar/2027")).json()["official"] is False
    with session_factory() as s:
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.entity_type == "calendar_year")) is None


async def test_a_file_for_another_year_or_not_text_is_refused(client, bureau):
    h = {**TEXT, **bureau.headers}
    r = await client.put("/api/v1/calendar/2028", content=EXAMPLE_2027, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "year_mismatch"
    r = await client.put("/api/v1/calendar/2027", json={"year": 2027}, headers=bureau.headers)
    assert r.status_code == 415
    r = await client.put("/api/v1/calendar/2027", content=b"year: 2027\n\xff\xfe", headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "utf8"
    r = await client.put("/api/v1/calendar/2027", content="#" * 70_000, headers=h)
    assert r.status_code == 413


async def test_loading_the_year_makes_a_provisional_deadline_official_and_never_shorter(
        client, bureau, temporal_env, session_factory, settings, activity_executor):
    queue = f"calendar-probe-{uuid.uuid4().hex[:8]}"
    start = sh(2026, 12, 24, 10)

    async def compute(not_before: datetime | None = None) -> Deadline:
        return await temporal_env.client.execute_workflow(
            DeadlineProbe.run, DeadlineRequest(start=start, working_days=10, not_before=not_before),
            id=f"deadline-probe-{uuid.uuid4().hex[:8]}", task_queue=queue)

    async with probe_worker(temporal_env.client, session_factory, settings, activity_executor, queue):
        provisional = await compute()
        assert provisional == Deadline(end=sh(2027, 1, 8), provisional=True)

        # The example 2027 makes 1 Jan a day off: the official period is one day longer.
        h = {**TEXT, **bureau.headers}
        assert (await client.put("/api/v1/calendar/2027", content=EXAMPLE_2027, headers=h)).status_code == 201
        official = await compute(not_before=provisional.end)
        assert official == Deadline(end=sh(2027, 1, 9), provisional=False)

        # A corrected 2027 that works Saturday 2 Jan would end the period on 8 Jan: the floor holds.
        corrected = EXAMPLE_2027.replace("2027-01-01 off New Year\n",
                                         "2027-01-01 off New Year\n2027-01-02 work New Year\n")
        r = await client.put("/api/v1/calendar/2027", params={"replace": "true"}, content=corrected, headers=h)
        assert r.status_code == 200
        assert await compute() == Deadline(end=sh(2027, 1, 8), provisional=False)
        assert await compute(not_before=official.end) == Deadline(end=sh(2027, 1, 9), provisional=False)


# --- the CLI -----------------------------------------------------------------------------------

def test_cli_loads_and_shows_a_year(tmp_path, monkeypatch, capsys, database_url, session_factory):
    from settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        good = tmp_path / "2027.txt"
        good.write_text(EXAMPLE_2027, encoding="utf-8")
        assert cli_main(["calendar", "load", str(good)]) == 0
        assert "calendar 2027: loaded (18 days off, 6 working weekend days)" in capsys.readouterr().out
        assert cli_main(["calendar", "show", "2027"]) == 0
        shown = capsys.readouterr().out
        assert "by cli" in shown and calendar_file.parse(shown) == calendar_file.parse(EXAMPLE_2027)

        changed = tmp_path / "2027-changed.txt"
        changed.write_text(EXAMPLE_2027.replace("2027-06-09 off Dragon Boat\n", ""), encoding="utf-8")
        assert cli_main(["calendar", "load", str(changed)]) == 1
        assert "--replace" in capsys.readouterr().err
        assert cli_main(["calendar", "load", str(changed), "--replace"]) == 0
        assert "replaced" in capsys.readouterr().out

        bad = tmp_path / "bad.txt"
        bad.write_text("year: 2028\n2028-01-01 off New Year\n2028-01-02 off New Year\n", encoding="utf-8")
        assert cli_main(["calendar", "load", str(bad)]) == 1
        err = capsys.readouterr().err
        assert "refused whole" in err and "line 3:" in err and "[off_on_weekend]" in err
        assert cli_main(["calendar", "show", "2028"]) == 1
        with session_factory() as s:
            assert s.scalar(select(AuditEvent.action).where(AuditEvent.entity_id == "2027")
                            .order_by(AuditEvent.id.desc()).limit(1)) == "calendar.year_replaced"
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("start", ["2026-12-04T12:00:00+08:00", "2026-12-07T00:00:00+08:00",
                                   "2026-12-05T09:30:00+08:00"])
@pytest.mark.parametrize("days", [1, 3, 5, 12])
def test_a_paused_period_resumes_with_the_working_days_it_had_left(start, days):
    """Art. 33 (a suspension pauses a case): remaining() inverts period_end(), and resuming after a pause
    ends the period as many working days after the reinstatement as were left at the pause."""
    from domain.working_days import WorkingDayCalendar

    cal = WorkingDayCalendar()
    begin = datetime.fromisoformat(start)
    end = cal.period_end(begin, days).end
    assert cal.remaining(begin, end) == days
    paused = cal.period_end(begin, 1).end + timedelta(hours=10)  # during the second working day
    left = cal.remaining(paused, end)
    assert left == max(days - 2, 0)
    resumed = paused + timedelta(days=7)
    assert cal.remaining(resumed, cal.period_end(resumed, left).end) == left
