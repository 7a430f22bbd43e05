"""Send a human action to a case workflow as an update and turn refusals into problem+json.

Validators refuse with an ApplicationError whose type says why: forbidden → 403, not_found → 404,
conflict → 409, invalid → 422 (any letter case), plus the types a process maps itself (`statuses`).
A first detail `{"field": …, "rule": …}` names the field at fault. An update to a case whose
workflow has ended is 409: nothing awaits the action any more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import Problem, title_for

DEFAULT_STATUSES = {"forbidden": 403, "not_found": 404, "conflict": 409, "invalid": 422}


def _application_error(exc: BaseException | None) -> ApplicationError | None:
    while exc is not None and not isinstance(exc, ApplicationError):
        exc = exc.__cause__
    return exc


def refusal(exc: BaseException, statuses: Mapping[str, int] | None = None) -> Problem | None:
    """The problem+json for a workflow's refusal, or None when it is not a refusal."""
    cause = _application_error(exc)
    if cause is None or cause.type is None:
        return None
    status = (statuses or {}).get(cause.type) or DEFAULT_STATUSES.get(cause.type.lower())
    if status is None:
        return None
    detail = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
    if detail.get("field"):
        return Problem(status, title_for(status), cause.message, field=detail["field"],
                       rule=detail.get("rule") or cause.type)
    # No field named: errors[] still says the rule (every 4xx has errors[]).
    return Problem(status, title_for(status), cause.message,
                   errors=[{"field": None, "rule": cause.type, "message": cause.message}])


async def execute_update(client: Client, workflow_id: str, update: str, arg: Any, *, update_id: str,
                         result_type: type | None = None, statuses: Mapping[str, int] | None = None) -> Any:
    try:
        return await client.get_workflow_handle(workflow_id).execute_update(
            update, arg, id=update_id, result_type=result_type)
    except WorkflowUpdateFailedError as exc:
        problem = refusal(exc, statuses)
        if problem is None:
            raise
        raise problem from exc
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise Problem(409, "Conflict", f"case {workflow_id} is closed; nothing awaits this action") from exc
        raise
