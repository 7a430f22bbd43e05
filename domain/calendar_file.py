"""The text file format an admin loads one official year from (docs/working-day-calendar.md). Pure.

    # comments and blank lines are ignored
    year: 2027
    notice: 国务院办公厅关于2027年部分节假日安排的通知   (optional, at most once)
    2027-01-01 off New Year
    2027-02-07 work Spring Festival

`off` marks a weekday day off, `work` a weekend working day (调休); the holiday name is required.
A file with any error is refused whole: every error is reported with its line number, text and rule.
"""

from __future__ import annotations

import re
from datetime import date

from domain.rules import Kind, Refusal
from domain.working_days import OfficialYear, is_weekend

MIN_YEAR, MAX_YEAR = 2000, 2100
_HEADER = re.compile(r"^(year|notice)\s*:\s*(.*)$", re.IGNORECASE)
_DAY_LINE = re.compile(r"^(\S+)\s+(\S+)(?:\s+(.+))?$")
_KINDS = {"off", "work"}


def parse(text: str, *, expected_year: int | None = None) -> OfficialYear:
    """Parse one year's file; raise a Refusal of the whole file listing every error found (each names its
    line, or the file as a whole, as its field, with the line's text)."""
    errors: list[Refusal] = []
    year: int | None = None
    notice: str | None = None
    days_off: dict[date, str] = {}
    working: dict[date, str] = {}
    seen: dict[date, int] = {}
    header_seen = False  # a bad year header is reported once, not again on every day line
    day_lines = 0

    def err(n: int | None, line: str, rule: str, message: str) -> None:
        errors.append(Refusal(Kind.INVALID, rule, message, "file" if n is None else f"line {n}",
                              extra={"text": line}))

    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header:
            key, value = header.group(1).lower(), header.group(2).strip()
            if key == "year":
                if header_seen:
                    err(n, raw, "duplicate_header", "the year header appears more than once")
                elif not (value.isdigit() and MIN_YEAR <= int(value) <= MAX_YEAR):
                    err(n, raw, "year_invalid", f"year must be a number from {MIN_YEAR} to {MAX_YEAR}")
                elif expected_year is not None and int(value) != expected_year:
                    err(n, raw, "year_mismatch", f"the file is for {value} but is loaded as {expected_year}")
                elif seen:
                    err(n, raw, "header_after_days", "the year header must come before the day lines")
                else:
                    year = int(value)
                header_seen = True
            elif notice is not None:
                err(n, raw, "duplicate_header", "the notice header appears more than once")
            elif not value:
                err(n, raw, "notice_empty", "the notice header needs a text")
            else:
                notice = value
            continue
        day_lines += 1
        m = _DAY_LINE.match(line)
        if not m:
            err(n, raw, "syntax", "expected 'YYYY-MM-DD off|work Holiday name'")
            continue
        date_text, kind, name = m.group(1), m.group(2).lower(), (m.group(3) or "").strip()
        try:
            day = date.fromisoformat(date_text)
            if len(date_text) != 10:
                raise ValueError
        except ValueError:
            err(n, raw, "date_invalid", f"'{date_text}' is not a date written YYYY-MM-DD")
            continue
        if kind not in _KINDS:
            err(n, raw, "kind_unknown", f"'{m.group(2)}' must be 'off' (weekday day off) or 'work' (weekend working day)")
            continue
        if not name:
            err(n, raw, "holiday_missing", "name the holiday the day belongs to")
            continue
        if not header_seen:
            err(n, raw, "year_header_missing", "a 'year: YYYY' header must come before the day lines")
        elif year is not None and day.year != year:
            err(n, raw, "date_outside_year", f"{day} is not in {year}")
        if day in seen:
            err(n, raw, "duplicate_date", f"{day} is already listed on line {seen[day]}")
            continue
        seen[day] = n
        if kind == "off" and is_weekend(day):
            err(n, raw, "off_on_weekend", f"{day} is a {day:%A}: only weekdays are listed as days off")
        elif kind == "work" and not is_weekend(day):
            err(n, raw, "work_on_weekday", f"{day} is a {day:%A}: only weekend days are listed as working days")
        else:
            (days_off if kind == "off" else working)[day] = name
    if not header_seen and not day_lines:
        err(None, "", "year_header_missing", "the file has no 'year: YYYY' header")
    if not day_lines and year is not None:
        err(None, "", "no_days", "the file lists no days off and no working weekends")
    if errors:
        raise Refusal(Kind.INVALID, "calendar_file", f"the calendar file is refused whole: {len(errors)} error(s)",
                      errors=errors)
    assert year is not None
    return OfficialYear(year=year, days_off=days_off, working_weekends=working, notice=notice)


def render(y: OfficialYear) -> str:
    """The file for a year (what `tanpuhui calendar show` prints; parse(render(y)) == y)."""
    lines = [f"year: {y.year}"]
    if y.notice:
        lines.append(f"notice: {y.notice}")
    entries = [(d, "off", h) for d, h in y.days_off.items()] + [(d, "work", h) for d, h in y.working_weekends.items()]
    lines += [f"{d.isoformat()} {kind} {h}" for d, kind, h in sorted(entries)]
    return "\n".join(lines) + "\n"
