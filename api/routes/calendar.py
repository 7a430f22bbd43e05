"""Working-day calendar (SPEC §3): public reading and deadline answers; authorities load a new year."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from api.schemas.types import IsoAwareDatetime

from api.case_actions import CaseActions
from api.deps import Authority, DbSession
from api.errors import Problem, conflict, unprocessable
from api.public import ONE_RESPONSES, public_answer
from api.temporal import announce_calendar_loaded
from api.schemas.calendar import CalendarDayOut, CalendarYearLoaded, CalendarYearOut, CalendarYearSummary, DeadlineOut
from domain import calendar_file
from domain.calendar_file import MAX_YEAR, MIN_YEAR
from domain.clock import now_utc
from store import calendar
from store.issuance import provisional_publicity_case_ids
from store.models.calendar import DAY_OFF, WORKING_DAY, CalendarYear

router = APIRouter(prefix="/calendar", tags=["calendar"])

MAX_FILE_BYTES = 64 * 1024  # one year is a few dozen lines
MAX_PERIOD_WORKING_DAYS = 1000
YearPath = Annotated[int, Path(ge=MIN_YEAR, le=MAX_YEAR, description="calendar year")]


def _year_out(row: CalendarYear | None, year: int) -> dict:
    if row is None:
        return {"year": year, "official": False}
    return {
        "year": row.year, "official": True, "notice": row.notice, "loaded_at": row.loaded_at,
        "loaded_by": row.loaded_by,
        "days_off": [CalendarDayOut(date=d.day, holiday=d.holiday) for d in row.days if d.kind == DAY_OFF],
        "working_weekends": [CalendarDayOut(date=d.day, holiday=d.holiday) for d in row.days
                             if d.kind == WORKING_DAY],
    }


# What a calendar answer is made of (migration 0017 counts writes to both): public reads, cached
# (api/public.py) and served by the fast path while neither changes.
CALENDAR_TABLES = ("calendar_years", "calendar_days")


@router.get("/years", response_model=list[CalendarYearSummary], summary="Years with an official calendar",
            responses=ONE_RESPONSES)
def list_years(request: Request, session: DbSession):
    return public_answer(request, session, CALENDAR_TABLES, lambda: [
        CalendarYearSummary(year=y.year, notice=y.notice, loaded_at=y.loaded_at, loaded_by=y.loaded_by,
                            days_off=sum(d.kind == DAY_OFF for d in y.days),
                            working_weekends=sum(d.kind == WORKING_DAY for d in y.days))
        for y in calendar.years(session)
    ])


@router.get("/deadline", response_model=DeadlineOut,
            summary="End of the N-th full working day after an instant (Asia/Shanghai)")
def deadline(
    session: DbSession,
    start: Annotated[IsoAwareDatetime, Query(description="ISO 8601 instant with offset, e.g. 2026-02-13T10:00:00+08:00")],
    working_days: Annotated[int, Query(ge=0, le=MAX_PERIOD_WORKING_DAYS)],
):
    result = calendar.current(session).period_end(start, working_days)
    return DeadlineOut(start=start, working_days=working_days, end=result.end, provisional=result.provisional)


@router.get("/{year}", response_model=CalendarYearOut, summary="One year: days off, working weekends, official or not",
            responses=ONE_RESPONSES)
def show_year(year: YearPath, request: Request, session: DbSession):
    return public_answer(request, session, CALENDAR_TABLES,
                         lambda: CalendarYearOut.model_validate(_year_out(calendar.get_year(session, year), year)))


async def calendar_file_text(request: Request) -> str:
    """The request body as UTF-8 text/plain, read up to MAX_FILE_BYTES."""
    media_type = request.headers.get("content-type", "text/plain").split(";")[0].strip().lower()
    if media_type != "text/plain":
        raise Problem(415, "Unsupported media type", "send the calendar file as text/plain",
                      field="Content-Type", rule="text_plain")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FILE_BYTES:
            raise Problem(413, "Content too large", f"a calendar file is at most {MAX_FILE_BYTES} bytes",
                          field="body", rule="max_size")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise unprocessable("body", "utf8", "the calendar file must be UTF-8 text") from None


@router.put(
    "/{year}", response_model=CalendarYearLoaded, status_code=201,
    summary="Load a year's official calendar (text/plain file; replace=true to change a loaded year)",
    responses={200: {"description": "replaced, or the same content again (nothing changed)"},
               409: {"description": "the year is loaded with other days and replace is not set"},
               422: {"description": "the file is refused whole; errors name each line and rule"}},
    openapi_extra={"requestBody": {"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def load_year(
    year: YearPath,
    session: DbSession,
    actor: Authority,
    text: Annotated[str, Depends(calendar_file_text)],
    response: Response,
    request: Request,
    replace: bool = False,
):
    parsed = calendar_file.parse(text, expected_year=year)  # a refused file: 422 listing every error
    try:
        result = calendar.load_year(session, parsed, replace=replace, now=now_utc(),
                                    loaded_by=f"user {actor.id} ({actor.role})",
                                    actor_user_id=actor.id, actor_role=actor.role)
    except calendar.YearAlreadyLoaded as exc:
        raise conflict(str(exc), field="replace", rule="year_already_loaded") from None
    session.commit()
    out = _year_out(result.row, year)
    recomputing: list[str] = []
    temporal = getattr(request.app.state, "temporal", None)
    if result.outcome != "unchanged" and temporal is not None:
        case_ids = provisional_publicity_case_ids(session)
        actions = CaseActions(request, temporal)  # gives the connection back before signalling the cases
        try:
            recomputing = anyio.from_thread.run(actions.wait, announce_calendar_loaded(temporal, case_ids))
        except Problem:
            pass  # the year is loaded; cases also recheck when a provisional end is reached
    if result.outcome != "loaded":
        response.status_code = 200
    return {**out, "outcome": result.outcome, "recomputing_cases": recomputing}
