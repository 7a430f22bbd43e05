"""Errors as RFC 9457 problem+json: every 4xx names the field and the rule it broke."""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.rules import Refusal

log = logging.getLogger("api.errors")


def request_id(request: Request) -> str:
    """The id api.observability gave the request (made here if the error came before it ran)."""
    state = request.scope.setdefault("state", {})
    if "request_id" not in state:
        state["request_id"] = uuid.uuid4().hex
    return state["request_id"]

PROBLEM = "application/problem+json"

# One title per status, whoever refuses (a route, a workflow's validator, FastAPI's validation).
TITLES = {
    400: "Bad request", 401: "Unauthorised", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
    409: "Conflict", 413: "Content too large", 415: "Unsupported media type", 422: "Unprocessable request",
    429: "Too many requests", 500: "Internal server error", 503: "Service unavailable", 504: "Gateway timeout",
}


def title_for(status: int) -> str:
    if status in TITLES:
        return TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Problem(Exception):
    """A refusal with a status, a short title, and optionally the field and rule at fault."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        field: str | None = None,
        rule: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = list(errors or [])
        if field is not None:
            self.errors.insert(0, {"field": field, "rule": rule or "invalid", "message": detail or title})
        self.headers = headers


def unprocessable(field: str, rule: str, message: str) -> Problem:
    return Problem(422, title_for(422), message, field=field, rule=rule)


def not_found(what: str) -> Problem:
    return Problem(404, "Not found", f"{what} does not exist or is not visible to you")


def conflict(detail: str, *, rule: str = "conflict", field: str | None = None) -> Problem:
    return Problem(409, "Conflict", detail, field=field, rule=rule if field else None)


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail)


def refused(status: int, message: str, field: str | None, rule: str,
            errors: list[dict[str, Any]] | None = None) -> Problem:
    """The one mapping of a business refusal (a domain Refusal, a workflow's refusal) to problem+json: its
    status, errors[0] naming the field at fault (or none) and the rule, then any further faults."""
    if field is None and not errors:
        errors = [{"field": None, "rule": rule, "message": message}]  # every 4xx has errors[]
    return Problem(status, title_for(status), message, field=field, rule=rule, errors=errors)


def refusal_problem(refusal: Refusal) -> Problem:
    """A domain Refusal as problem+json, with the further faults of a refusal of a whole input."""
    return refused(refusal.status, refusal.message, refusal.field, refusal.rule,
                   [{"field": e.field, "rule": e.rule, "message": e.message, **e.extra} for e in refusal.errors])


def problem_response(p: Problem) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": p.title, "status": p.status}
    if p.detail:
        body["detail"] = p.detail
    if p.errors:
        body["errors"] = p.errors
    return JSONResponse(body, status_code=p.status, media_type=PROBLEM, headers=p.headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(x) for x in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:] or parts
    return ".".join(parts)


def _other_methods(request: Request, exc: RequestValidationError) -> set[str]:
    """When only path parameters failed: the methods of routes whose literal path (no parameters) is this one."""
    if not exc.errors() or any(tuple(e.get("loc", ()))[:1] != ("path",) for e in exc.errors()):
        return set()
    allowed: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.path_format == request.url.path and "{" not in (route.path_format or ""):
            allowed |= set(route.methods or ())
    return allowed


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(Refusal)
    async def _refusal(_: Request, exc: Refusal) -> JSONResponse:
        return problem_response(refusal_problem(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        allowed = _other_methods(request, exc)
        if allowed:
            # e.g. PUT /calendar/years: not a malformed {year}, but a method /calendar/years does not take.
            return problem_response(Problem(405, title_for(405), f"{request.method} is not allowed here",
                                            headers={"Allow": ", ".join(sorted(allowed))}))
        errors = [
            {"field": _field(e.get("loc", ())), "rule": e.get("type", "invalid"), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        return problem_response(
            Problem(422, "Unprocessable request", f"{first['field']}: {first['message']}", errors=errors)
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = title_for(exc.status_code)
        detail = str(exc.detail) if exc.detail and str(exc.detail) != HTTPStatus(exc.status_code).phrase else None
        return problem_response(Problem(exc.status_code, title, detail, headers=getattr(exc, "headers", None)))

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot store (api.guards refuses the known kinds first, naming the field).
        log.warning("value refused by the database (request %s): %s", request_id(request), exc.orig)
        return problem_response(Problem(422, title_for(422), "a value is out of range or too long to store",
                                        errors=[{"field": None, "rule": "storable", "message": "out of range"}]))

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        # The database is down, restarting, or every connection is busy: worth a retry, not a 500.
        log.warning("database unavailable (request %s): %s", request_id(request), type(exc).__name__)
        return problem_response(Problem(503, title_for(503), "the database is unavailable or busy; retry shortly",
                                        headers={"Retry-After": "5"}))

    # Installed on Starlette's outermost middleware: also errors raised outside any route (middleware).
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = request_id(request)
        log.error("unhandled error (request %s)", rid, exc_info=exc)
        return problem_response(Problem(500, title_for(500), f"an internal error occurred; quote request {rid}",
                                        headers={"X-Request-ID": rid}))
