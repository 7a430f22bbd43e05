"""Send a human action to a case workflow as an update and turn refusals into problem+json.

Validators refuse with an ApplicationError whose type says why: forbidden → 403, not_found → 404,
conflict → 409, invalid → 422. A case whose workflow does not exist is 404.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import Problem

_STATUS = {"forbidden": (403, "Forbidden"), "not_found": (404, "Not found"), "conflict": (409, "Conflict"),
           "invalid": (422, "Unprocessable request")}


def _refusal(exc: BaseException) -> Problem | None:
    cause = exc
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    if isinstance(cause, ApplicationError) and cause.type in _STATUS:
        status, title = _STATUS[cause.type]
        return Problem(status, title, cause.message)
    return None


async def execute_update(client: Client, workflow_id: str, update: str, arg: Any, *, update_id: str,
                         result_type: type | None = None) -> Any:
    handle: WorkflowHandle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.execute_update(update, arg, id=update_id, result_type=result_type)
    except WorkflowUpdateFailedError as exc:
        problem = _refusal(exc)
        if problem is None:
            raise
        raise problem from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Problem(404, "Not found", f"case {workflow_id} is not running") from exc
        raise


async def query(client: Client, workflow_id: str, name: str, result_type: type) -> Any:
    try:
        return await client.get_workflow_handle(workflow_id).query(name, result_type=result_type)
    except (RPCError, WorkflowQueryFailedError) as exc:
        raise Problem(503, "Service unavailable", f"the state of case {workflow_id} cannot be read now") from exc
