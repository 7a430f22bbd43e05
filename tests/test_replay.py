"""Recorded histories replay against the current workflow code: a change that would break running
cases (a non-deterministic edit without `workflow.patched()`) fails here.

Refresh the recordings after an intended, patched change: run the process tests with
`TANPUHUI_RECORD_HISTORIES=/some/dir` (tests/temporal_hygiene.py writes every case's history there
before ending it) and copy a few full ones into tests/histories/ as `{WorkflowType}--{case}.json`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.registry import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_every_process_has_a_recorded_history():
    recorded = {p.name.split("--")[0] for p in HISTORIES}
    assert {"PanelReview", "MethodologyCase", "ScenarioEvaluation", "IssuanceCase", "CancellationCase"} <= recorded


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem.split("--")[1], path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
