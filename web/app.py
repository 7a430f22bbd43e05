"""Puts the pages on the FastAPI app: static files, the page routers, HTML error pages.

Errors keep one rule: an /api/ path answers problem+json as before, a page answers an HTML page with
the same status and message (403/404 pages, never a stack trace), and a page for signed-in people
sends a visitor without a session to the sign-in page.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import Problem, problem_response
from domain.rules import Refusal
from web.auth import SignInRequired, sign_in_url
from web.render import render

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
_API_PATHS = ("/api/", "/docs", "/openapi.json", "/redoc")


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(_API_PATHS)


def _error_page(request: Request, status: int, detail: str | None, errors: list | None = None) -> Response:
    return render(request, "error.html", {"status": status, "title": HTTPStatus(status).phrase,
                                          "detail": detail, "errors": errors or []}, status=status)


def install(app: FastAPI) -> None:
    from web.pages import ROUTERS

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)

    api_handlers = dict(app.exception_handlers)

    def dispatch(kind, html):
        original = api_handlers.get(kind)

        async def handler(request: Request, exc):
            if is_page(request):
                return html(request, exc)
            if original is None:
                log.exception("unhandled error on %s", request.url.path, exc_info=exc)
                return problem_response(Problem(500, "Internal server error", "an unexpected error occurred"))
            return await original(request, exc)

        app.add_exception_handler(kind, handler)

    dispatch(Problem, lambda r, e: _error_page(r, e.status, e.detail or e.title, e.errors))
    dispatch(Refusal, lambda r, e: _error_page(r, e.status, e.message, [{"field": e.field, "rule": e.rule}]))
    dispatch(RequestValidationError, lambda r, e: _error_page(
        r, 422, None, [{"field": ".".join(str(x) for x in err.get("loc", ())[1:]), "rule": err.get("type"),
                        "message": err.get("msg")} for err in e.errors()]))
    dispatch(StarletteHTTPException, lambda r, e: _error_page(r, e.status_code, None))

    def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on page %s", request.url.path, exc_info=exc)
        return _error_page(request, 500, None)

    dispatch(Exception, unexpected)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired):
        return RedirectResponse(sign_in_url(exc.next_path), status_code=303)
