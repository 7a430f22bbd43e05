from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

SNAPSHOT_POLICY = "snapshot_policy"


class PolicySnapshotRequest(BaseModel):
    at: datetime  # workflow.now() when the case starts; returns domain.policy.PolicyParameters
