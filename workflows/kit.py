"""The case kit: what every case workflow is made of (see docs/new-process.md).

- `CaseWorkflow`, the base class: the case's id, deployment, stage, policy snapshot and lock;
  `step()` records one step (the process's facts, the case register, grants, notifications, the audit
  event) in one transaction through `record_case_step`, numbered by the case's `seq`;
  `act()` runs any other activity with the one set of options; `next_change()` is what a main loop
  waits on: something changed or a deadline passed; `case_state` and `last_action` queries.
- `action(name, check)`, the one idiom of a human action: an update whose validator runs `check`
  before anything is written, whose handler runs one at a time under the case's lock, runs `check`
  again and applies. An identical retry of the last applied action (same payload, same actor) gets
  its first answer; another payload is refused by `check` once the first moved the case on.
- `refuse(kind, rule, message, field)`: the one refusal (api/workflow_updates.py maps it).
- `participant_measure` (Art. 33), the signal every case handles: a sanction suspends the participant
  owning the case (the case pauses: its actions are refused, its timers wait, its deadlines stop and
  later resume with the working days they had left), terminates it (the case is withdrawn: the
  `on_terminated` hook) or reinstates it.
- `DeploymentInterceptor`: sends the case's deployment id with every activity, so a worker of another
  database refuses the task (activities/deployment.py).

Sandbox-safe: imports only temporalio and domain.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.worker import (
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

with workflow.unsafe.imports_passed_through():
    from domain.contracts.audit import AuditRecord
    from domain.contracts.calendar import RESUME_DEADLINE, Resumed, ResumeRequest
    from domain.contracts.cases import (
        CASE_STATE_QUERY,
        DEPLOYMENT_HEADER,
        LAST_ACTION_QUERY,
        PARTICIPANT_MEASURE_SIGNAL,
        RECORD_CASE_STEP,
        START_CASE,
        Actor,
        CaseAccessGrant,
        CaseMirror,
        CaseStep,
        CaseView,
        LastAction,
        OpenTask,
        ParticipantMeasure,
        Pause,
        StartCase,
        action_key,
    )
    from domain.contracts.notifications import Notification
    from domain.contracts.policy import SNAPSHOT_POLICY, PolicySnapshotRequest
    from domain.contracts.review import (
        REVIEW_WORKFLOW,
        ReviewCriterion,
        ReviewOutcome,
        ReviewRequest,
        review_workflow_id,
    )
    from domain.policy import PolicyParameters
    from domain.rules import Kind, Rule
    from workflows import search_attributes as sa

if TYPE_CHECKING:
    from pydantic import BaseModel

# One set of activity options for every activity of every case: writes are idempotent, so retrying
# until they succeed is safe; a business refusal is non-retryable and ends the retries at once.
ACTIVITY: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=30),
                            "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30))}
# A stray worker (another database) refused one of our activities: try again later, on another worker.
_STRAY_RETRY = (timedelta(seconds=10), timedelta(minutes=5))

R = TypeVar("R")
A = TypeVar("A")


def refuse(kind: Kind | str, rule: Rule | str, message: str, field: str | None = None) -> ApplicationError:
    """The refusal of a human action (or of an activity's business rule): the API answers it as
    problem+json with the status of `kind` and, when a field is named, `errors[0] = {field, rule}`."""
    return ApplicationError(message, {"field": field, "rule": str(rule)}, type=str(Kind(kind)), non_retryable=True)


@dataclass
class Tell:
    """A notification of a step (the kit adds its key and time; `case_id` defaults to the case's)."""

    kind: str
    subject: str
    body: str = ""
    organisations: list[int] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    users: list[int] = field(default_factory=list)
    case_id: str | None = None


@dataclass
class Grant:
    """Access to a case (default: this one) for a user or organisation, granted or revoked, in a step."""

    capacity: str
    user_id: int | None = None
    organisation_id: int | None = None
    revoke: bool = False
    case_id: str | None = None


def action(name: str, check: Callable[[Any, A], Any]):
    """Declare a human action: `@action(UPDATE_X, check=_check_x)` on `async def x(self, arg) -> R`.

    The update's validator and its handler both run `check` (the handler again, under the case's lock,
    after the case has started: another action may have moved it on meanwhile)."""

    def wrap(apply: Callable[[Any, A], Awaitable[R]]):
        @functools.wraps(apply)
        async def handler(self: CaseWorkflow, arg: A) -> R:
            return await self._perform(name, arg, check, apply)

        @functools.wraps(apply)
        def validator(self: CaseWorkflow, arg: A) -> None:
            # Before the case's first step (its policy snapshot) only the handler can check, once it has.
            if self._started and not self._is_retry(name, arg):
                self._refuse_if_paused()
                check(self, arg)

        update = workflow.update(name=name)(handler)
        update.validator(validator)
        return update

    return wrap


def stage_in(attribute: str) -> Any:
    """For a case whose stage lives in its state model (returned by its queries): `stage = stage_in("s")`
    makes `self.stage` read and write `self.s.stage`."""
    return property(lambda self: getattr(self, attribute).stage,
                    lambda self, stage: setattr(getattr(self, attribute), "stage", stage))


def _snapshot(result: Any) -> Any:
    # A pydantic model (every contract) copies itself; anything else is copied whole.
    return result.model_copy(deep=True) if hasattr(result, "model_copy") else copy.deepcopy(result)


class CaseWorkflow:
    """Base class of every case workflow (and the review). A process sets the class attributes, calls
    `open_case()` in its `@workflow.init`, `begin()` first in its `@workflow.run`, `close()` last, and
    implements the hooks `mirror()`, `facts()`, `deadline()` and (when TASKS is not enough)
    `open_tasks()`."""

    CASE_TYPE: ClassVar[str]  # the case register's type and the CaseType search attribute
    ENTITY_TYPE: ClassVar[str]  # the audit trail's entity type
    AUDIT_PREFIX: ClassVar[str]  # audit actions and notification kinds are f"{AUDIT_PREFIX}.{action}"
    # The open task of each stage: stage → (task kind, assignee role); see open_tasks().
    TASKS: ClassVar[dict[str, tuple[str, str]]] = {}

    case_id: str
    deployment_id: str
    stage: Any  # the process's Stage (a StrEnum)
    policy: PolicyParameters

    def open_case(self, case_id: str, deployment_id: str, stage: Any) -> None:
        self.case_id = case_id
        self.deployment_id = deployment_id  # read by DeploymentInterceptor
        self.stage = stage
        self.seq = 0  # the last step recorded
        self._version = 0  # moves on every change a main loop may be waiting for
        self._lock = asyncio.Lock()
        self._started = False
        self._last: LastAction | None = None
        self._panel_child: workflow.ChildWorkflowHandle | None = None
        # Art. 33 (participant_measure): the pause in force, the measures told already, the final stages
        # (from follow()), and each deadline the case computed → where a reinstatement moved it.
        self._pause: Pause | None = None
        self._stage_before_pause: str | None = None
        self._measures: set[str] = set()
        self._final: Container[Any] = ()
        self._watched: set[datetime] = set()
        self._shift: dict[datetime, datetime] = {}

    # --- hooks ---------------------------------------------------------------------------------

    def mirror(self) -> dict[str, Any]:
        """The case register's owner_organisation_id, title and details of the case now."""
        return {}

    def facts(self) -> BaseModel | None:
        """The process's own facts, written with every step by the facts writer of CASE_TYPE."""
        return None

    def deadline(self) -> datetime | None:
        """The next deadline the case waits on (register, search attribute, case view)."""
        return None

    async def on_terminated(self, m: ParticipantMeasure) -> None:
        """Art. 33: the participant owning the case is terminated: the case is withdrawn with the reason.
        By default it enters the process's `withdrawn` stage (if it has one); a process with something to
        undo (units reserved…) overrides this, under the case's lock."""
        try:
            withdrawn = type(self.stage)("withdrawn")
        except ValueError:
            withdrawn = self.stage
        await self.step(withdrawn, "withdrawn_by_sanction", None,
                        {"sanction": m.sanction_case_id, "reason": m.reason},
                        tell=[Tell("withdrawn_by_sanction",
                                   f"{self.case_id}: 参与主体被终止，案件撤回 / participant terminated, case withdrawn",
                                   body=m.reason, organisations=[m.organisation_id])])

    def audit_case_id(self) -> str:
        """The case the audit events of this workflow belong to (a lifecycle workflow: its case's)."""
        return self.case_id

    def open_tasks(self) -> list[OpenTask]:
        """Who must act next: by default the stage's task in TASKS, due at the case's deadline."""
        task = self.TASKS.get(str(self.stage))
        if task is None:
            return []
        due = self.current_deadline()
        return [OpenTask(task_id=f"{self.case_id}-{task[0]}", kind=task[0], assignee=task[1], due=due,
                         overdue=due is not None and workflow.now() > due)]

    # --- activities and steps ------------------------------------------------------------------

    async def act(self, name: str, arg: Any, result_type: type | None = None) -> Any:
        """Run an activity with the kit's options. A task refused by a worker of another deployment
        is sent again later (it is logged loudly there and here), so a stray worker never ends a case."""
        wait, most = _STRAY_RETRY
        while True:
            try:
                return await workflow.execute_activity(name, arg, result_type=result_type, **ACTIVITY)
            except ActivityError as err:
                cause = err.cause
                if not (isinstance(cause, ApplicationError) and cause.type == Rule.WRONG_DEPLOYMENT):
                    raise
                workflow.logger.error("case %s: %s; trying again in %s", self.case_id, cause.message, wait)
                await workflow.sleep(wait)
                wait = min(wait * 2, most)

    async def begin(self, action: str, actor: Actor | None = None, details: dict[str, Any] | None = None, *,
                    policy: PolicyParameters | None = None, tell: Iterable[Tell] = (),
                    grants: Iterable[Grant] = ()) -> None:
        """The case's first step: snapshot the policy (SPEC §3; a child is given its parent's) while the
        opening step is recorded (it needs no policy); human actions wait until both are done."""
        async with self._lock:
            if policy is not None:
                self.policy = policy
                await self.step(self.stage, action, actor, details, tell=tell, grants=grants)
            else:
                self.policy, _ = await asyncio.gather(
                    self.act(SNAPSHOT_POLICY, PolicySnapshotRequest(at=workflow.now()), PolicyParameters),
                    self.step(self.stage, action, actor, details, tell=tell, grants=grants))
            self._started = True

    async def step(self, stage: Any, action: str, actor: Actor | None = None, details: dict[str, Any] | None = None,
                   *, facts: BaseModel | None = None, tell: Iterable[Tell] = (), grants: Iterable[Grant] = ()) -> None:
        """Enter `stage` (or stay) and record the step in one transaction: `facts` (default: the facts()
        hook), the register, `grants`, notifications (`tell`) and the audit event `action`. Steps of a
        case are recorded one after the other (under its lock), so a step's seq is above every step
        stored before it."""
        self.stage = stage
        self.seq += 1
        self.changed()
        now = workflow.now()
        key = f"{self.case_id}:{self.seq}"  # the one dedupe-key format: audit events and notifications
        deadline = self.current_deadline()
        shown = "paused" if self._pause is not None else str(stage)
        facts = facts if facts is not None else self.facts()
        await self.act(RECORD_CASE_STEP, CaseStep(
            deployment_id=self.deployment_id, seq=self.seq,
            mirror=CaseMirror(case_id=self.case_id, case_type=self.CASE_TYPE, stage=shown, occurred_at=now,
                              deadline=deadline, **self.mirror()),
            facts=facts.model_dump(mode="json") if facts is not None else None,
            grants=[CaseAccessGrant(case_id=g.case_id or self.case_id, capacity=g.capacity, granted_at=now,
                                    user_id=g.user_id, organisation_id=g.organisation_id, revoke=g.revoke)
                    for g in grants],
            notifications=[Notification(
                dedupe_key=f"{key}:{t.kind}#{n}", occurred_at=now, kind=f"{self.AUDIT_PREFIX}.{t.kind}",
                subject=t.subject, body=t.body, case_id=t.case_id or self.case_id,
                recipient_organisation_ids=t.organisations, recipient_roles=t.roles, recipient_user_ids=t.users)
                for n, t in enumerate(tell)],
            audit=AuditRecord(
                dedupe_key=f"{key}:{action}", occurred_at=now, action=f"{self.AUDIT_PREFIX}.{action}",
                entity_type=self.ENTITY_TYPE, entity_id=self.case_id, case_id=self.audit_case_id(),
                workflow_id=workflow.info().workflow_id, actor_user_id=actor.user_id if actor else None,
                actor_role=actor.role if actor else "system", details={"stage": str(stage), **(details or {})})))
        self._search_attributes(shown, deadline)

    def _search_attributes(self, stage: str, deadline: datetime | None) -> None:
        # Only what changed: every upsert is a history command and a visibility write.
        current = workflow.info().typed_search_attributes
        wanted: list[tuple[SearchAttributeKey, Any]] = [
            (sa.CASE_TYPE, self.CASE_TYPE), (sa.CASE_NUMBER, self.case_id), (sa.CASE_STAGE, stage),
            (sa.CASE_DEADLINE, deadline)]
        updates = [key.value_set(value) if value is not None else key.value_unset()
                   for key, value in wanted if current.get(key) != value]
        if updates:
            workflow.upsert_search_attributes(updates)

    async def start_case(self, workflow_name: str, start: BaseModel, workflow_id: str) -> None:
        """Start another case workflow that lives on its own (e.g. a lifecycle after this case ends)."""
        await self.act(START_CASE, StartCase(workflow=workflow_name, workflow_id=workflow_id,
                                             input=start.model_dump(mode="json")))

    # --- waiting -------------------------------------------------------------------------------

    def changed(self) -> None:
        """Something a main loop may wait on changed (a step does this itself; signals call it)."""
        self._version += 1

    async def next_change(self, until: datetime | None = None) -> None:
        """Wait until something changes or `until` passes (None: no deadline)."""
        seen = self._version
        timeout = None
        if until is not None:
            timeout = until - workflow.now()
            if timeout <= timedelta(0):
                return
        try:
            await workflow.wait_condition(lambda: self._version != seen, timeout=timeout)
        except asyncio.TimeoutError:
            pass

    async def follow(self, terminal: Container[Any], waits: Mapping[Any, Callable[[], Awaitable[None]]]) -> None:
        """The main loop: until the case reaches a terminal stage (the process's TERMINAL_STAGES), run what
        its stage waits on (a timer, a review round), or else wait for the next change."""
        self._final = terminal
        while self.stage not in terminal:
            wait = waits.get(self.stage)
            await (wait() if wait is not None else self.next_change())

    async def when_due(self, due: datetime, apply: Callable[[], Awaitable[None]]) -> None:
        """Wait for a change or `due`; once due, apply() under the case's lock if the case is still at
        the stage it was at (a human action may have moved it on meanwhile). While the case is paused
        (Art. 33) no deadline falls due; after a reinstatement `due` stands for where it was moved."""
        if self._pause is not None:
            await self.next_change()
            return
        if due > workflow.now():
            self._watched.add(due)
        due = self._shifted(due)
        stage = self.stage
        await self.next_change(due)
        if workflow.now() < due:
            return  # something changed: the main loop looks again
        async with self._lock:
            if self.stage == stage:
                await apply()

    async def close(self) -> None:
        """Last in `run`: let running handlers answer before the workflow completes."""
        await workflow.wait_condition(workflow.all_handlers_finished)

    # --- a review round (the PanelReview child) ---------------------------------------------------

    async def start_review(self, round_no: int, *, authority_role: str, subject: str,
                           applicant_organisation_id: int | None, verifier_organisation_id: int | None = None,
                           criteria: Iterable[ReviewCriterion] = ()) -> str:
        """Start the panel review of a round as a child (id: review_workflow_id); returns its id. Start
        it before recording the step that enters the review stage: the answer then names a review that
        exists."""
        review_id = review_workflow_id(self.case_id, round_no)
        self._panel_child = await workflow.start_child_workflow(
            REVIEW_WORKFLOW,
            ReviewRequest(case_id=self.case_id, deployment_id=self.deployment_id, case_type=self.CASE_TYPE,
                          round_no=round_no, authority_role=authority_role, subject=subject,
                          applicant_organisation_id=applicant_organisation_id,
                          verifier_organisation_id=verifier_organisation_id, policy=self.policy,
                          criteria=list(criteria)),
            id=review_id, result_type=ReviewOutcome)
        return review_id

    async def after_review(self, apply: Callable[[ReviewOutcome], Awaitable[None]]) -> None:
        """Wait for the running review round, then apply its outcome under the case's lock. When the
        case left the stage meanwhile (e.g. withdrawn), the review is cancelled instead, so its experts'
        tasks close with it."""
        review, stage = self._panel_child, self.stage
        await workflow.wait_condition(lambda: review.done() or self.stage != stage)
        self._panel_child = None
        if not review.done():
            review.cancel()
            with contextlib.suppress(ChildWorkflowError, asyncio.CancelledError):
                await review
            return
        outcome: ReviewOutcome = review.result()
        async with self._lock:
            if self.stage == stage:
                await apply(outcome)

    # --- Art. 33: a measure on the participant owning the case -------------------------------------

    def _shifted(self, due: datetime) -> datetime:
        return self._shift.get(due, due)

    def current_deadline(self) -> datetime | None:
        """deadline() as it stands after any reinstatement moved it (register, search attribute, view)."""
        due = self.deadline()
        return self._shifted(due) if due is not None else None

    def _refuse_if_paused(self) -> None:
        if self._pause is not None:
            # Art. 33: the participant owning this case is suspended; nothing moves until reinstatement.
            raise refuse(Kind.CONFLICT, Rule.ART33_PARTICIPANT_SUSPENDED,
                         f"{self.case_id} 已暂停 / paused: the participant is suspended by "
                         f"{self._pause.sanction_case_id} ({self._pause.reason})", field="case")

    async def _resume_deadlines(self, paused_at: datetime, now: datetime) -> dict[str, Any]:
        """Every deadline that had not passed when the case paused runs again from `now` with the
        working days it had left then."""
        dues = set(self._watched)
        if self.deadline() is not None:
            dues.add(self.deadline())  # type: ignore[arg-type]
        moved: dict[str, Any] = {}
        for original in sorted(dues):
            current = self._shifted(original)
            if current <= paused_at:
                self._watched.discard(original)
                continue
            r: Resumed = await self.act(RESUME_DEADLINE, ResumeRequest(due=current, paused_at=paused_at,
                                                                        resumed_at=now), Resumed)
            self._shift[original] = r.end
            moved[current.isoformat()] = {"due": r.end.isoformat(), "remaining_working_days": r.remaining_working_days}
        return moved

    @workflow.signal(name=PARTICIPANT_MEASURE_SIGNAL)
    async def participant_measure(self, m: ParticipantMeasure) -> None:
        """Art. 33: a sanction's measure on the participant owning this case (told again: nothing new)."""
        key = f"{m.sanction_case_id}:{m.measure}"
        if key in self._measures:
            return
        self._measures.add(key)
        await workflow.wait_condition(lambda: self._started)
        async with self._lock:
            if self.stage in self._final:
                return
            now = workflow.now()
            details = {"sanction": m.sanction_case_id, "rule": str(Rule.ART33_PARTICIPANT_SUSPENDED)}
            if m.measure == "suspend" and self._pause is None:
                due = self.current_deadline()
                note = "无期限 / no deadline runs"
                if due is not None and due > now:
                    left: Resumed = await self.act(RESUME_DEADLINE, ResumeRequest(due=due, paused_at=now,
                                                                                   resumed_at=now), Resumed)
                    note = (f"期限暂停计算，恢复后剩余 {left.remaining_working_days} 个工作日 / deadline {due.isoformat()} "
                            f"stopped: it resumes with {left.remaining_working_days} working days left on reinstatement")
                    details["working_days_left"] = left.remaining_working_days
                self._stage_before_pause = str(self.stage)
                self._pause = Pause(sanction_case_id=m.sanction_case_id, since=now, reason=m.reason, note=note)
                await self.step(self.stage, "paused", None, details)
            elif m.measure == "reinstate" and self._pause is not None:
                moved = await self._resume_deadlines(self._pause.since, now)
                self._pause, self._stage_before_pause = None, None
                await self.step(self.stage, "resumed", None, {**details, "deadlines": moved})
            elif m.measure == "terminate":
                self._pause, self._stage_before_pause = None, None
                await self.on_terminated(m)
            self.changed()

    # --- human actions -------------------------------------------------------------------------

    def _is_retry(self, name: str, arg: Any) -> bool:
        return self._last is not None and self._last.key == action_key(name, arg)

    async def _perform(self, name: str, arg: Any, check: Callable[[Any, Any], Any],
                       apply: Callable[[Any, Any], Awaitable[Any]]) -> Any:
        await workflow.wait_condition(lambda: self._started)
        async with self._lock:
            if self._is_retry(name, arg):
                return _snapshot(self._last.result)  # type: ignore[union-attr]
            self._refuse_if_paused()
            check(self, arg)
            result = await apply(self, arg)
            self._last = LastAction(key=action_key(name, arg), result=_snapshot(result))
            return result

    @workflow.query(name=LAST_ACTION_QUERY)
    def last_action(self) -> LastAction | None:
        return self._last

    @workflow.query(name=CASE_STATE_QUERY)
    def case_state(self) -> CaseView:
        paused = self._pause is not None
        return CaseView(case_id=self.case_id, case_type=self.CASE_TYPE,
                        stage="paused" if paused else str(self.stage),
                        deadline=self.current_deadline(), open_tasks=[] if paused else self.open_tasks(),
                        paused=self._pause, stage_before_pause=self._stage_before_pause)


# --- the deployment id travels with every activity -------------------------------------------------

class DeploymentInterceptor(Interceptor):
    """Worker interceptor (workflow side): adds the case's deployment id to every activity it starts."""

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _Inbound


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


class _Outbound(WorkflowOutboundInterceptor):
    def _with_deployment(self, headers):
        deployment = getattr(workflow.instance(), "deployment_id", None)
        if deployment is None:
            return headers
        return {**headers, DEPLOYMENT_HEADER: workflow.payload_converter().to_payloads([deployment])[0]}

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle:
        input.headers = self._with_deployment(input.headers)
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle:
        input.headers = self._with_deployment(input.headers)
        return super().start_local_activity(input)
