"""The case kit's contracts: the actor of a human action, one step of a case (written in one
transaction), the case register, the case view every process answers, idempotent action ids."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from domain.contracts.audit import AuditRecord
from domain.contracts.notifications import Notification

MIRROR_CASE = "mirror_case"
GRANT_CASE_ACCESS = "grant_case_access"
RECORD_CASE_STEP = "record_case_step"
START_CASE = "start_case"

# Every case workflow's start input carries the deployment id of the database the case was created in;
# the kit sends it with every activity (header) and activities refuse a task of another deployment.
DEPLOYMENT_HEADER = "tanpuhui-deployment"


class Actor(BaseModel):
    """Who performs a human action; the workflow's checks look at role and organisation."""

    user_id: int
    role: str
    organisation_id: int | None = None


class CaseMirror(BaseModel):
    """The case register's row of a case: its current stage, owner, title and next deadline."""

    case_id: str  # business id = workflow id, e.g. methodology-42
    case_type: str
    stage: str
    occurred_at: datetime
    owner_organisation_id: int | None = None
    title: str | None = None
    deadline: datetime | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class CaseAccessGrant(BaseModel):
    """Let a user or organisation see a case and its documents (an assigned expert, a verifier)."""

    case_id: str
    capacity: str  # expert, verifier, …
    granted_at: datetime
    user_id: int | None = None
    organisation_id: int | None = None
    revoke: bool = False


class CaseStep(BaseModel):
    """One step of a case, written in one transaction: the process's own facts (by the facts writer the
    process registered for its case type), the case register, access grants, notifications and the
    audit event. `seq` numbers the case's steps: a step whose seq is not above the stored one (a retry,
    or a late write) changes nothing."""

    deployment_id: str
    seq: int = Field(ge=1)
    mirror: CaseMirror
    facts: dict[str, Any] | None = None  # the process's facts model, dumped; None: nothing of its own
    grants: list[CaseAccessGrant] = Field(default_factory=list)
    notifications: list[Notification] = Field(default_factory=list)
    audit: AuditRecord | None = None


class StartCase(BaseModel):
    """Start another case workflow on its own (not a child: it outlives the case that starts it), e.g.
    the reminders of a re-evaluation date or a label's expiry; a repeat starts nothing twice."""

    workflow: str
    workflow_id: str
    input: dict[str, Any]


# Art. 33: a sanction tells every open case of its participant (a signal every case workflow handles).
PARTICIPANT_MEASURE_SIGNAL = "participant_measure"


class ParticipantMeasure(BaseModel):
    """A measure on the participant owning a case: suspend (the case pauses: actions refused, deadlines
    stop), terminate (the case is withdrawn with the reason) or reinstate (the case resumes, its
    deadlines with the working days they had left). `sanction_case_id` names the sanction; the same
    measure told twice changes nothing."""

    sanction_case_id: str
    organisation_id: int
    measure: str  # suspend, terminate, reinstate
    reason: str
    at: datetime
    actor_user_id: int | None = None  # who imposed or lifted the sanction


class Pause(BaseModel):
    """Why a case is paused, and what its deadlines do meanwhile."""

    sanction_case_id: str
    since: datetime
    reason: str
    note: str


# Every process workflow (and the review) answers these queries.
CASE_STATE_QUERY = "case_state"
LAST_ACTION_QUERY = "last_action"


class OpenTask(BaseModel):
    task_id: str
    kind: str  # review, resubmission, verification, publicity, …
    assignee: str | None = None  # a role or "expert:<roster id>", never personal data
    due: datetime | None = None
    overdue: bool = False


class CaseView(BaseModel):
    case_id: str
    case_type: str
    stage: str
    deadline: datetime | None = None
    open_tasks: list[OpenTask] = Field(default_factory=list)
    # Art. 33: set while the participant owning the case is suspended (stage then shows "paused").
    paused: Pause | None = None
    stage_before_pause: str | None = None


class LastAction(BaseModel):
    """The last human action a case applied and what it answered: an identical retry gets this."""

    key: str
    result: Any = None


def payload_digest(payload: BaseModel) -> str:
    body = json.dumps(payload.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:20]


def action_key(update: str, payload: BaseModel) -> str:
    """Names one human action by what it asks (payload, actor included): the same request twice has the
    same key, a different payload another."""
    return f"{update}:{payload_digest(payload)}"


def action_update_id(update: str, case_id: str, seq: int | str, payload: BaseModel) -> str:
    """The update id of a human action: action, case, the case's step when it was sent, and the payload's
    digest. A retry at the same step is the same update (Temporal answers it once); a different payload
    is another update, which the workflow refuses once the first one moved the case on."""
    return f"{update}-{case_id}-{seq}-{payload_digest(payload)}"
