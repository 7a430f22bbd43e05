"""Workflow tasks and activities in separate worker processes (deployment), or in one (`tanpuhui dev`)."""

from __future__ import annotations

import asyncio
import uuid

from domain.contracts.cases import CASE_STATE_QUERY, CaseView
from domain.contracts.review import REVIEW_WORKFLOW, review_workflow_id
from domain.roles import OrganisationType
from store.models.review import Review
from tests.review_helpers import deployment, parent_case, request
from tests.temporal_hygiene import end_running_cases
from worker import WorkerRole, build_worker


async def _mirrored(session_factory, review_id: str) -> Review:
    for _ in range(400):
        with session_factory() as s:
            row = s.get(Review, review_id)
        if row is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"review {review_id} was never mirrored")


async def test_a_workflow_worker_and_an_activity_worker_run_a_case_together(
        temporal_env, session_factory, settings, activity_executor, make_org):
    org = make_org(OrganisationType.ENTERPRISE)
    queue = f"roles-{uuid.uuid4().hex[:8]}"
    workflows = build_worker(temporal_env.client, session_factory, settings, role=WorkerRole.WORKFLOWS,
                             task_queue=queue, workflow_failure_exception_types=[Exception])
    activities = build_worker(temporal_env.client, session_factory, settings, role=WorkerRole.ACTIVITIES,
                              task_queue=queue, executor=activity_executor)
    case_id = parent_case(session_factory, org.id)
    async with workflows, activities:
        handle = await temporal_env.client.start_workflow(
            REVIEW_WORKFLOW, request(case_id, applicant_org=org.id, deployment_id=deployment(session_factory)),
            id=review_workflow_id(case_id, 1),
            task_queue=queue)
        # The review's first step writes its mirror row: an activity, run by the activity worker.
        row = await _mirrored(session_factory, handle.id)
        assert row.stage == "awaiting_panel"
        # Its state is answered by the workflow worker.
        view = await handle.query(CASE_STATE_QUERY, result_type=CaseView)
        assert view.stage == "awaiting_panel" and view.open_tasks[0].kind == "panel_formation"
        await end_running_cases(temporal_env.client, session_factory,
                                getattr(temporal_env, "started_workflows", None))


async def test_each_role_registers_only_its_own_kind(temporal_env, session_factory, settings, activity_executor):
    workflows = build_worker(temporal_env.client, session_factory, settings, role=WorkerRole.WORKFLOWS,
                             task_queue="roles-registration-1")
    activities = build_worker(temporal_env.client, session_factory, settings, role=WorkerRole.ACTIVITIES,
                              task_queue="roles-registration-2", executor=activity_executor)
    both = build_worker(temporal_env.client, session_factory, settings, task_queue="roles-registration-3",
                        executor=activity_executor)
    assert workflows.config()["activities"] == [] and workflows.config()["workflows"]
    assert activities.config()["workflows"] == [] and activities.config()["activities"]
    assert both.config()["workflows"] and both.config()["activities"]
