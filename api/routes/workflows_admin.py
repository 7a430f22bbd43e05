"""Admin view of workflows (SPEC §4), for the bureau and the operator: cases as Temporal sees them.

- Listing uses Temporal visibility with the typed search attributes every case upserts
  (workflows/search_attributes.py). Filters are validated first (identifiers match a strict pattern,
  times are timezone-aware) and only then written into the visibility query, so no caller text reaches
  it unchecked. Pages follow Temporal's own page token (base64url here).
- Describing a case combines its visibility record, its `case_state` query (domain/contracts/cases.py:
  stage, open tasks, deadlines) and the newest events of its history.
- Overdue tasks: visibility first narrows to running cases whose CaseDeadline (the next deadline the
  case waits on) has passed — one indexed query instead of querying every running case — and then each
  case of the page is asked for its case_state to name the tasks that are overdue. A case that cannot
  answer (no worker polling) is still listed, with its deadline, and state_available false.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from temporalio.api.common.v1 import WorkflowExecution as ExecutionRef
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryReverseRequest,
    ListWorkflowExecutionsRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from api.case_actions import Actions, CaseActions
from api.deps import Authority, SettingsDep
from api.schemas.types import IsoDatetime
from api.errors import not_found, unprocessable
from api.schemas.workflows_admin import (
    CaseDetail,
    CasePage,
    CaseSummary,
    HistoryEvent,
    OverdueCase,
    OverduePage,
)
from domain.contracts.cases import CASE_STATE_QUERY, CaseView, OpenTask
from settings import Settings
from workflows.search_attributes import CASE_DEADLINE, CASE_NUMBER, CASE_STAGE, CASE_TYPE

router = APIRouter(prefix="/admin", tags=["admin: workflows"])

# Case types and stages are lower-case identifiers (methodology, panel_review, publicity…).
IDENTIFIER = r"^[a-z][a-z0-9_.-]{0,63}$"
CASE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"
QUERY_TIMEOUT = timedelta(seconds=5)

Status = Literal["running", "closed", "all"]
CaseTypeFilter = Annotated[str | None, Query(pattern=IDENTIFIER, description="e.g. methodology")]
PageSize = Annotated[int, Query(ge=1, le=200)]
PageToken = Annotated[str | None, Query(max_length=4096, description="next_page_token of the previous page")]


def _literal(value: str) -> str:
    # Values are pattern-checked already; escaping still keeps a quote from ever ending the literal.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _instant(field: str, value: datetime) -> str:
    if value.tzinfo is None:
        raise unprocessable(field, "timezone_required", f"{field} needs a timezone, e.g. 2026-05-01T00:00:00+08:00")
    return _literal(value.astimezone(timezone.utc).isoformat())


def visibility_query(
    *,
    case_type: str | None = None,
    stage: str | None = None,
    deadline_before: datetime | None = None,
    deadline_after: datetime | None = None,
    status: Status = "running",
) -> str:
    """The visibility list filter for validated parameters (cases only: CaseType is set)."""
    clauses = [f"{CASE_TYPE.name} = {_literal(case_type)}" if case_type else f"{CASE_TYPE.name} IS NOT NULL"]
    if stage:
        clauses.append(f"{CASE_STAGE.name} = {_literal(stage)}")
    if deadline_before is not None:
        clauses.append(f"{CASE_DEADLINE.name} < {_instant('deadline_before', deadline_before)}")
    if deadline_after is not None:
        clauses.append(f"{CASE_DEADLINE.name} >= {_instant('deadline_after', deadline_after)}")
    if status == "running":
        clauses.append('ExecutionStatus = "Running"')
    elif status == "closed":
        clauses.append('ExecutionStatus != "Running"')
    return " AND ".join(clauses)


def _mac(secret: str, query: str, raw: bytes) -> bytes:
    return hmac.new(secret.encode(), query.encode() + b"\0" + raw, hashlib.sha256).digest()[:16]


def _decode_token(secret: str, query: str, token: str | None) -> bytes | None:
    """Temporal's token, if this API issued it for this very listing; never pass foreign bytes on."""
    if not token:
        return None
    try:
        data = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        data = b""
    mac, raw = data[:16], data[16:]
    if not raw or not hmac.compare_digest(mac, _mac(secret, query, raw)):
        raise unprocessable("page_token", "invalid", "page_token was not issued by this API for these filters")
    return raw


def _encode_token(secret: str, query: str, raw: bytes | None) -> str | None:
    if not raw:
        return None
    return base64.urlsafe_b64encode(_mac(secret, query, raw) + raw).decode("ascii").rstrip("=")


async def _page(client: Client, settings: Settings, query: str, page_size: int, page_token: str | None):
    # Raw visibility records: the SDK decodes every search attribute eagerly and fails on one it cannot read
    # (a CaseDeadline that was unset reads as null); _summary reads them one by one, tolerantly.
    secret = settings.secret_key.get_secret_value()
    resp = await client.workflow_service.list_workflow_executions(ListWorkflowExecutionsRequest(
        namespace=client.namespace, page_size=page_size, query=query,
        next_page_token=_decode_token(secret, query, page_token) or b""))
    return list(resp.executions), _encode_token(secret, query, resp.next_page_token)


def _attribute(info: WorkflowExecutionInfo, key: SearchAttributeKey) -> Any:
    """One case search attribute, or None when it is absent, unset (null) or unreadable."""
    payload = info.search_attributes.indexed_fields.get(key.name)
    try:
        value = json.loads(payload.data) if payload is not None else None
    except ValueError:
        return None
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    if not isinstance(value, str):
        return None
    if key.indexed_value_type == SearchAttributeIndexedValueType.DATETIME:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value


def _time(info: WorkflowExecutionInfo, name: str) -> datetime | None:
    return getattr(info, name).ToDatetime(tzinfo=timezone.utc) if info.HasField(name) else None


def _summary(info: WorkflowExecutionInfo) -> CaseSummary:
    try:
        status = WorkflowExecutionStatus(info.status).name.lower()
    except ValueError:
        status = "unknown"
    return CaseSummary(
        case_id=info.execution.workflow_id,
        case_type=_attribute(info, CASE_TYPE),
        stage=_attribute(info, CASE_STAGE),
        case_number=_attribute(info, CASE_NUMBER),
        deadline=_attribute(info, CASE_DEADLINE),
        status=status,
        workflow_type=info.type.name,
        started_at=_time(info, "start_time"),
        closed_at=_time(info, "close_time"),
    )


def _with_overdue(tasks: list[OpenTask], now: datetime) -> list[OpenTask]:
    # The workflow's own flag counts, and so does a due time that has passed since its last task.
    return [t.model_copy(update={"overdue": t.overdue or (t.due is not None and t.due <= now)}) for t in tasks]


async def _case_state(actions: CaseActions, case_id: str) -> tuple[CaseView | None, str | None]:
    # Within the request's own bounded wait: a case that cannot answer is listed without its state.
    timeout = min(QUERY_TIMEOUT, timedelta(seconds=actions.wait_seconds * 0.8))
    try:
        view = await actions.client.get_workflow_handle(case_id).query(
            CASE_STATE_QUERY, result_type=CaseView, rpc_timeout=timeout)
        return view, None
    except WorkflowQueryFailedError as exc:
        return None, f"the case did not answer its state query: {exc}"
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None, "the case no longer exists"
        return None, "the case did not answer its state query in time (is a worker running?)"


async def _recent_history(client: Client, case_id: str, run_id: str | None, limit: int) -> list[HistoryEvent]:
    try:
        resp = await client.workflow_service.get_workflow_execution_history_reverse(
            GetWorkflowExecutionHistoryReverseRequest(
                namespace=client.namespace, execution=ExecutionRef(workflow_id=case_id, run_id=run_id or ""),
                maximum_page_size=limit))
    except RPCError as exc:
        if exc.status == RPCStatusCode.UNIMPLEMENTED:  # e.g. the time-skipping test server: no history then
            return []
        raise
    return [
        HistoryEvent(
            event_id=e.event_id,
            event_type="".join(w.capitalize() for w in EventType.Name(e.event_type).removeprefix("EVENT_TYPE_").split("_")),
            time=e.event_time.ToDatetime(tzinfo=timezone.utc),
        )
        for e in resp.history.events[:limit]
    ]


@router.get("/cases", response_model=CasePage, summary="List cases by type, stage and deadline")
async def list_cases(
    _: Authority,
    actions: Actions,
    settings: SettingsDep,
    case_type: CaseTypeFilter = None,
    stage: Annotated[str | None, Query(pattern=IDENTIFIER, description="e.g. panel_review")] = None,
    deadline_before: Annotated[IsoDatetime | None, Query(description="CaseDeadline earlier than this")] = None,
    deadline_after: Annotated[IsoDatetime | None, Query(description="CaseDeadline at or after this")] = None,
    status: Status = "running",
    page_size: PageSize = 50,
    page_token: PageToken = None,
) -> CasePage:
    query = visibility_query(case_type=case_type, stage=stage, deadline_before=deadline_before,
                             deadline_after=deadline_after, status=status)
    executions, token = await actions.wait(_page(actions.client, settings, query, page_size, page_token))
    return CasePage(items=[_summary(e) for e in executions], next_page_token=token)


@router.get("/cases/{case_id}", response_model=CaseDetail,
            summary="One case: stage, open tasks and deadlines, overdue items, recent history")
async def describe_case(
    _: Authority,
    actions: Actions,
    case_id: Annotated[str, Path(pattern=CASE_ID)],
    history_limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> CaseDetail:
    client = actions.client
    try:
        described = await actions.wait(client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(namespace=client.namespace,
                                             execution=ExecutionRef(workflow_id=case_id))))
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise not_found(f"case {case_id}")
        raise
    info = described.workflow_execution_info
    summary = _summary(info)
    view, note = None, "the case is closed; it has no open tasks"
    if info.status == WorkflowExecutionStatus.RUNNING:
        view, note = await actions.wait(_case_state(actions, case_id))
    tasks = _with_overdue(view.open_tasks, datetime.now(timezone.utc)) if view else []
    if view:
        # The case's own answer is current; its visibility record may lag behind.
        summary = summary.model_copy(update={"case_type": view.case_type, "stage": view.stage,
                                             "deadline": view.deadline})
    history = await actions.wait(_recent_history(client, case_id, info.execution.run_id, history_limit))
    return CaseDetail(**summary.model_dump(), state_available=view is not None, state_note=note,
                      open_tasks=tasks, overdue_tasks=[t for t in tasks if t.overdue],
                      paused=view.paused if view else None, history=history)


@router.get("/overdue-tasks", response_model=OverduePage,
            summary="Running cases past their deadline, with the tasks that are overdue")
async def overdue_tasks(
    _: Authority,
    actions: Actions,
    settings: SettingsDep,
    case_type: CaseTypeFilter = None,
    as_of: Annotated[IsoDatetime | None, Query(
        description="Overdue as of this instant (default now); pass the as_of of the first page with page_token"
    )] = None,
    page_size: PageSize = 50,
    page_token: PageToken = None,
) -> OverduePage:
    if as_of is not None:
        _instant("as_of", as_of)
    now = as_of or datetime.now(timezone.utc)
    query = visibility_query(case_type=case_type, deadline_before=now, status="running")
    executions, token = await actions.wait(_page(actions.client, settings, query, page_size, page_token))
    states = await actions.wait(asyncio.gather(*(_case_state(actions, e.execution.workflow_id)
                                                 for e in executions)))
    items = []
    for execution, (view, _note) in zip(executions, states):
        summary = _summary(execution)
        tasks = _with_overdue(view.open_tasks, now) if view else []
        items.append(OverdueCase(
            case_id=summary.case_id, case_type=summary.case_type,
            stage=view.stage if view else summary.stage, deadline=view.deadline if view else summary.deadline,
            state_available=view is not None, overdue_tasks=[t for t in tasks if t.overdue]))
    return OverduePage(as_of=now, items=items, next_page_token=token)

