"""GET /admin/cases/{case} reads each search attribute on its own (issue 10): a CaseDeadline that was unset
(stored as null) made the SDK's eager decoding fail with a 500."""

from __future__ import annotations

import uuid

from temporalio.api.common.v1 import Payload, SearchAttributes, WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import StartWorkflowExecutionRequest


async def test_a_case_whose_deadline_was_unset_is_described(client, bureau, temporal_env):
    c = temporal_env.client
    case_id = f"methodology-unset-{uuid.uuid4().hex[:6]}"
    # As a case leaves it after unsetting its deadline: the attribute is there, with a null value.
    await c.workflow_service.start_workflow_execution(StartWorkflowExecutionRequest(
        namespace=c.namespace, workflow_id=case_id, workflow_type=WorkflowType(name="MethodologyCase"),
        task_queue=TaskQueue(name=f"nobody-{uuid.uuid4().hex[:6]}"), request_id=uuid.uuid4().hex,
        search_attributes=SearchAttributes(indexed_fields={
            "CaseType": Payload(metadata={"encoding": b"json/plain", "type": b"Keyword"}, data=b'"methodology"'),
            "CaseStage": Payload(metadata={"encoding": b"json/plain", "type": b"Keyword"}, data=b'"panel_review"'),
            "CaseDeadline": Payload(metadata={"encoding": b"json/plain", "type": b"Datetime"}, data=b"null")})))
    try:
        r = await client.get(f"/api/v1/admin/cases/{case_id}", headers=bureau.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["case_type"], body["stage"], body["deadline"]) == ("methodology", "panel_review", None)
        assert body["status"] == "running" and body["state_available"] is False
    finally:
        await c.get_workflow_handle(case_id).terminate()
