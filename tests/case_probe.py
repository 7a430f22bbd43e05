"""A stand-in case workflow for tests of the admin view: it upserts the typed search attributes and
answers `case_state` like every process workflow must, without depending on any real process."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.contracts.cases import CASE_STATE_QUERY, CaseView
    from workflows.search_attributes import CASE_DEADLINE, CASE_NUMBER, CASE_STAGE, CASE_TYPE


@workflow.defn(name="CaseProbe")
class CaseProbe:
    def __init__(self) -> None:
        self.view: CaseView | None = None
        self.finished = False

    @workflow.run
    async def run(self, view: CaseView) -> None:
        self.view = view
        updates = [CASE_TYPE.value_set(view.case_type), CASE_STAGE.value_set(view.stage),
                   CASE_NUMBER.value_set(view.case_id)]
        if view.deadline is not None:
            updates.append(CASE_DEADLINE.value_set(view.deadline))
        workflow.upsert_search_attributes(updates)
        await workflow.wait_condition(lambda: self.finished)

    @workflow.query(name=CASE_STATE_QUERY)
    def case_state(self) -> CaseView:
        assert self.view is not None
        return self.view

    @workflow.signal
    def finish(self) -> None:
        self.finished = True
