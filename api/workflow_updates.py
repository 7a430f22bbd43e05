"""Send a human action to a case workflow as an update and turn refusals into problem+json.

Validators refuse with an ApplicationError whose type says why: forbidden → 403, not_found → 404,
conflict → 409, invalid → 422 (any letter case), plus the types a process maps itself (`statuses`).
A first detail `{"field": …, "rule": …}` names the field at fault. An update to a case whose
workflow has ended is 409: nothing awaits the action any more, unless it repeats the case's last
action, which answers as it did the first time (`execute_action`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import Problem, refused, title_for
from domain.contracts.cases import LAST_ACTION_QUERY, LastAction, action_key, action_update_id

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
    return refused(status, cause.message, detail.get("field") or None, detail.get("rule") or cause.type)


class CaseClosed(Problem):
    """409: the case's workflow has ended."""


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
            raise CaseClosed(409, title_for(409), f"case {workflow_id} is closed; nothing awaits this action") from exc
        raise


async def execute_action(client: Client, case_id: str, update: str, arg: BaseModel, *, seq: int | str,
                         result_type: type | None = None, statuses: Mapping[str, int] | None = None) -> Any:
    """A human action on a case built on the kit: the update id is the kit's (action, case, the step
    `seq` the caller read, payload digest). An identical retry answers the first result, also once the
    case has ended; another payload under the same step is refused by the workflow (409)."""
    try:
        return await execute_update(client, case_id, update, arg, update_id=action_update_id(update, case_id, seq, arg),
                                    result_type=result_type, statuses=statuses)
    except CaseClosed:
        try:
            last = await client.get_workflow_handle(case_id).query(LAST_ACTION_QUERY, result_type=LastAction | None)
        except (RPCError, WorkflowQueryFailedError):
            last = None
        if last is None or last.key != action_key(update, arg):
            raise
        return result_type.model_validate(last.result) if isinstance(result_type, type) and issubclass(
            result_type, BaseModel) else last.result
