from __future__ import annotations

from pydantic import AwareDatetime, BaseModel

SNAPSHOT_POLICY = "snapshot_policy"


class PolicySnapshotRequest(BaseModel):
    at: AwareDatetime  # workflow.now() when the case starts; returns domain.policy.PolicyParameters
