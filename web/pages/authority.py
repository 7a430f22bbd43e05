"""The bureau's and the operator's dashboard: cases by process and stage, deadlines of the next 10
working days, overdue tasks (the admin API's overdue listing, from Temporal) and the panels waiting for
this authority. The same roles as the admin API (api/routes/workflows_admin.py)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from temporalio.service import RPCError

from api.case_actions import CaseActions
from api.deps import DbSession, SettingsDep
from api.errors import Problem
from api.routes import workflows_admin
from domain.clock import now_utc
from domain.roles import Role
from store import calendar, dashboard
from store.models.identity import User
from web.auth import roles_page
from web.pages import oversight
from web.pages.common import page_router
from web.render import render

log = logging.getLogger(__name__)
router = page_router()
AuthorityUser = Annotated[User, Depends(roles_page(Role.BUREAU_ADMIN, Role.OPERATOR_ADMIN))]
HORIZON_WORKING_DAYS = 10


@router.get("/dashboard")
async def dashboard_page(request: Request, session: DbSession, user: AuthorityUser, settings: SettingsDep):
    now = now_utc()

    def reads():
        horizon = calendar.current(session).period_end(now, HORIZON_WORKING_DAYS).end
        counts: dict[str, dict[str, int]] = {}
        for case_type, stage, n in dashboard.cases_by_type_and_stage(session):
            counts.setdefault(case_type, {})[stage] = n
        result = {
            "counts": counts, "horizon": horizon,
            "deadlines": dashboard.deadlines_between(session, now, horizon),
            "tasks_due": dashboard.review_tasks_due_between(session, user.role, now, horizon),
            "overdue_reviews": dashboard.overdue_review_tasks(session, user.role, now),
            "awaiting": dashboard.reviews_awaiting_authority(session, user.role),
            # Supervision (Art. 33, 34): reports awaiting a handler or overdue, sanctions in force.
            **oversight.dashboard_sections(session, user, settings),
        }
        session.rollback()  # nothing held while Temporal is asked below
        return result

    context = await run_in_threadpool(reads)
    overdue, overdue_note = [], None
    client = getattr(request.app.state, "temporal", None)
    if client is None:
        overdue_note = "temporal_unavailable"
    else:
        try:
            page = await workflows_admin.overdue_tasks(user, CaseActions(request, client), settings, case_type=None,
                                                       as_of=None,
                                                       page_size=50, page_token=None)
            overdue = page.items
        except (RPCError, Problem) as exc:  # the page still shows what the database knows
            log.warning("overdue cases not listed: %s", exc)
            overdue_note = "temporal_unavailable"
    return render(request, "authority/dashboard.html", {**context, "overdue": overdue, "overdue_note": overdue_note,
                                                        "now": now})
