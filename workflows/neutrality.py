"""Scenario annual neutrality (Art. 17), on the case kit: `neutrality-{scenario_id}`, one run per year.

awaiting_report (reminder, then overdue at the report day) → awaiting_offset (confirmed cancellations
counted when the API signals and weekly; reminder, then unmet-for-now at the due day) → met | late |
unmet (at the end of the next year). Then continue-as-new for the next year while the label holds.
The operator may extend either day with a reason (an audited step). Started by the scenario case when
it publishes the label (workflows/scenario.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import neutrality as rules
    from domain.contracts.cases import OpenTask
    from domain.contracts.neutrality import (
        CASE_TYPE,
        COUNT_NEUTRALITY_CANCELLATIONS,
        FINAL_STAGES,
        SCENARIO_LABELLED_UNTIL,
        NEUTRALITY_STATE_QUERY,
        NEUTRALITY_WORKFLOW,
        SIGNAL_CANCELLATIONS,
        UPDATE_EXTEND,
        UPDATE_REPORT,
        CountRequest,
        EmissionsReport,
        Extension,
        LabelledUntil,
        NeutralityFacts,
        NeutralityStart,
        NeutralityState,
        Stage,
    )
    from domain.contracts.policy import SNAPSHOT_POLICY, PolicySnapshotRequest
    from domain.policy import PolicyParameters
    from domain.roles import Role
    from domain.rules import Kind, Rule
    from workflows.kit import CaseWorkflow, Tell, action, refuse, stage_in

OPERATOR, BUREAU, APPLICANT = Role.OPERATOR_ADMIN.value, Role.BUREAU_ADMIN.value, Role.APPLICANT.value


@workflow.defn(name=NEUTRALITY_WORKFLOW)
class ScenarioNeutrality(CaseWorkflow):
    CASE_TYPE = CASE_TYPE
    ENTITY_TYPE = "neutrality_obligation"
    AUDIT_PREFIX = "neutrality"

    @workflow.init
    def __init__(self, start: NeutralityStart) -> None:
        self.start = start
        self.s = NeutralityState(case_id=start.case_id, scenario_id=start.scenario_id,
                                 organisation_id=start.organisation_id, year=start.year, stage=Stage.AWAITING_REPORT)
        self.open_case(start.case_id, start.deployment_id, Stage.AWAITING_REPORT)
        self.seq = start.seq  # the steps of earlier years keep their numbers (audit and notification keys)

    stage = stage_in("s")

    @workflow.run
    async def run(self, start: NeutralityStart) -> NeutralityState:
        policy = await self.act(SNAPSHOT_POLICY, PolicySnapshotRequest(at=workflow.now()), PolicyParameters)
        self.s.report_due = rules.due_day(start.year, policy.neutrality_report_due)
        self.s.due = rules.due_day(start.year, policy.neutrality_due)
        await self.begin("obligation_opened", None, self._dates(), policy=policy, tell=[self._tell_scenario(
            "obligation_opened", f"{start.year} 年度碳中和：{self.s.report_due} 前报告排放量，{self.s.due} 前完成注销 / "
            f"annual neutrality {start.year}: report by {self.s.report_due}, offset by {self.s.due}")])
        await self.follow(FINAL_STAGES, {Stage.AWAITING_REPORT: self._wait, Stage.AWAITING_OFFSET: self._wait})
        await self.close()
        following = start.year + 1
        # Art. 17 binds a scenario while it is labelled: a label granted again on re-evaluation (Art. 16)
        # carries the obligation on, so the scenario's labels are asked, not only the first one's end.
        latest = await self.act(SCENARIO_LABELLED_UNTIL, CountRequest(scenario_id=start.scenario_id, year=following),
                                LabelledUntil)
        if rules.labelled_in(max(filter(None, (latest.valid_until, start.label_valid_until))), following):
            workflow.continue_as_new(start.model_copy(update={"year": following, "seq": self.seq}))
        return self.s

    # --- the year's timeline ----------------------------------------------------------------------

    def _timeline(self) -> list[tuple[datetime, Callable[[], Awaitable[None]]]]:
        """What is still to happen this year, earliest first. A reminder whose day has already passed
        (a scenario published late in the year, an extension) is not sent."""
        assert self.s.report_due is not None and self.s.due is not None
        days = timedelta(days=self.policy.neutrality_reminder_days)
        report_at, due_at = rules.end_of(self.s.report_due), rules.end_of(self.s.due)
        events: list[tuple[datetime, Callable[[], Awaitable[None]]]] = []
        now = workflow.now()
        if self.stage == Stage.AWAITING_REPORT:
            if not self.s.report_reminded and not self.s.report_overdue and now < report_at - days:
                events.append((report_at - days, self._remind_report))
            if not self.s.report_overdue:
                events.append((report_at, self._report_overdue))
        if not self.s.offset_overdue:
            if not self.s.offset_reminded and now < due_at - days:
                events.append((due_at - days, self._remind_offset))
            events.append((due_at, self._offset_overdue))
        events.append((rules.close_of(self.s.year, self.s.due), self._settle_unmet))
        return sorted(events, key=lambda e: e[0])

    async def _wait(self) -> None:
        if self.stage == Stage.AWAITING_OFFSET:
            await self._count()
            if self.stage in FINAL_STAGES:
                return
        due, apply = self._timeline()[0]
        until = min(due, workflow.now() + rules.POLL) if self.stage == Stage.AWAITING_OFFSET else due
        stage, version = self.stage, self._version
        await self.next_change(until)
        if workflow.now() < due or self._version != version:
            return  # an action, a signal or the weekly count: the loop looks again
        async with self._lock:
            if self.stage == stage:
                await apply()

    async def _count(self) -> None:
        """Confirmed cancellations for this scenario and year (the ledger is the truth)."""
        tonnes = await self.act(COUNT_NEUTRALITY_CANCELLATIONS,
                                CountRequest(scenario_id=self.s.scenario_id, year=self.s.year), int)
        async with self._lock:
            if self.stage != Stage.AWAITING_OFFSET or self.s.emissions_tco2e is None:
                return
            if tonnes >= self.s.emissions_tco2e:
                assert self.s.due is not None
                now = workflow.now()
                late = self.s.reported_late or now > rules.end_of(self.s.due)
                self.s.cancelled_tonnes, self.s.met_at = tonnes, now
                self.s.status = "late" if late else "met"
                await self.step(Stage.LATE if late else Stage.MET, "met_late" if late else "met", None,
                                {"cancelled_tonnes": tonnes, "emissions_tco2e": self.s.emissions_tco2e},
                                tell=[self._tell_scenario("met", f"{self.s.year} 年度碳中和已完成 / annual neutrality "
                                                                 f"{self.s.year} met" + ("（逾期 / late）" if late else ""),
                                                          roles=[OPERATOR])])
            elif tonnes != self.s.cancelled_tonnes:
                self.s.cancelled_tonnes = tonnes
                await self.step(self.stage, "cancellations_counted", None, {"cancelled_tonnes": tonnes})

    async def _remind_report(self) -> None:
        self.s.report_reminded = True
        await self.step(self.stage, "report_reminder_sent", None, self._dates(), tell=[self._tell_scenario(
            "report_reminder", f"请于 {self.s.report_due} 前报告 {self.s.year} 年排放量 / report the {self.s.year} "
            f"emissions by {self.s.report_due}")])

    async def _report_overdue(self) -> None:
        self.s.report_overdue = True
        await self.step(self.stage, "report_overdue", None, self._dates(), tell=[self._tell_scenario(
            "report_overdue", f"{self.s.year} 年排放量报告已逾期 / emissions report {self.s.year} overdue",
            roles=[OPERATOR, BUREAU])])

    async def _remind_offset(self) -> None:
        self.s.offset_reminded = True
        await self.step(self.stage, "offset_reminder_sent", None, self._dates(), tell=[self._tell_scenario(
            "offset_reminder", f"请于 {self.s.due} 前注销减排量完成 {self.s.year} 年度碳中和 / cancel reductions for "
            f"annual neutrality {self.s.year} by {self.s.due}")])

    async def _offset_overdue(self) -> None:
        self.s.offset_overdue, self.s.status = True, "unmet"
        await self.step(self.stage, "offset_overdue", None, {**self._dates(), "cancelled_tonnes": self.s.cancelled_tonnes},
                        tell=[self._tell_scenario("offset_overdue", f"{self.s.year} 年度碳中和未按期完成 / annual "
                                                  f"neutrality {self.s.year} overdue", roles=[OPERATOR, BUREAU])])

    async def _settle_unmet(self) -> None:
        self.s.status = "unmet"
        await self.step(Stage.UNMET, "unmet", None, {**self._dates(), "cancelled_tonnes": self.s.cancelled_tonnes},
                        tell=[self._tell_scenario("unmet", f"{self.s.year} 年度碳中和未完成 / annual neutrality "
                                                  f"{self.s.year} unmet", roles=[OPERATOR, BUREAU])])

    # --- the scenario reports its emissions ----------------------------------------------------------

    def _check_year(self, year: int) -> None:
        if year != self.s.year:
            raise refuse(Kind.CONFLICT, Rule.ART17_YEAR, f"the obligation now runs for {self.s.year}, not {year}",
                         field="year")
        if self.stage in FINAL_STAGES:
            raise refuse(Kind.CONFLICT, Rule.ART17_CLOSED, f"annual neutrality {year} is settled ({self.s.status})")

    def _check_report(self, r: EmissionsReport) -> None:
        if r.actor.role != APPLICANT or r.actor.organisation_id != self.s.organisation_id:
            raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only the scenario's own organisation reports its emissions")
        self._check_year(r.year)
        if self.stage != Stage.AWAITING_REPORT:
            raise refuse(Kind.CONFLICT, Rule.ART17_REPORTED, f"the {r.year} emissions are already reported",
                         field="emissions_tco2e")

    @action(UPDATE_REPORT, check=_check_report)
    async def report(self, r: EmissionsReport) -> NeutralityState:
        assert self.s.report_due is not None
        now = workflow.now()
        self.s.emissions_tco2e, self.s.document_id, self.s.reported_at = r.emissions_tco2e, r.document_id, now
        self.s.reported_late = now > rules.end_of(self.s.report_due)  # Art. 17: by the report day
        await self.step(Stage.AWAITING_OFFSET, "emissions_reported", r.actor,
                        {"emissions_tco2e": r.emissions_tco2e, "document_id": r.document_id,
                         "late": self.s.reported_late},
                        tell=[Tell("emissions_reported", f"{self.case_id}: {self.s.year} 年排放量 {r.emissions_tco2e} 吨 / "
                                   f"emissions {r.emissions_tco2e} t reported", roles=[OPERATOR])])
        return self.s

    # --- the operator extends --------------------------------------------------------------------

    def _check_extension(self, x: Extension) -> None:
        if x.actor.role != OPERATOR:
            raise refuse(Kind.FORBIDDEN, Rule.ACTOR, "only the operator grants an extension")
        self._check_year(x.year)
        if not x.reason.strip():
            raise refuse(Kind.INVALID, Rule.REQUIRED, "an extension needs a reason / 延期须说明理由", field="reason")
        if x.report_due is None and x.due is None:
            raise refuse(Kind.INVALID, Rule.REQUIRED, "name the new report_due or due", field="due")
        assert self.s.report_due is not None and self.s.due is not None
        if x.report_due is not None:
            if self.stage != Stage.AWAITING_REPORT:
                raise refuse(Kind.CONFLICT, Rule.ART17_REPORTED, "the emissions are already reported",
                             field="report_due")
            if x.report_due <= self.s.report_due:
                raise refuse(Kind.INVALID, Rule.ART17_EXTENSION_LATER,
                             f"the new report day must come after {self.s.report_due}", field="report_due")
        if x.due is not None and x.due <= self.s.due:
            raise refuse(Kind.INVALID, Rule.ART17_EXTENSION_LATER, f"the new due day must come after {self.s.due}",
                         field="due")
        if (x.report_due or self.s.report_due) >= (x.due or self.s.due):
            raise refuse(Kind.INVALID, Rule.ART17_EXTENSION_LATER, "the report day must come before the due day",
                         field="report_due")

    @action(UPDATE_EXTEND, check=_check_extension)
    async def extend(self, x: Extension) -> NeutralityState:
        if x.report_due is not None:
            self.s.report_due, self.s.report_reminded, self.s.report_overdue = x.report_due, False, False
        if x.due is not None:
            self.s.due, self.s.offset_reminded, self.s.offset_overdue = x.due, False, False
            self.s.status = "open"
        self.s.extension_reason = x.reason
        await self.step(self.stage, "extension_granted", x.actor, {"reason": x.reason, **self._dates()},
                        tell=[self._tell_scenario("extension_granted", f"{self.s.year} 年度碳中和期限已延长 / "
                                                  f"annual neutrality {self.s.year} extended: {x.reason}")])
        return self.s

    @workflow.signal(name=SIGNAL_CANCELLATIONS)
    def cancellations_changed(self) -> None:
        self.changed()

    # --- the kit's hooks ------------------------------------------------------------------------

    def deadline(self) -> datetime | None:
        if self.stage == Stage.AWAITING_REPORT and self.s.report_due is not None:
            return rules.end_of(self.s.report_due)
        if self.stage == Stage.AWAITING_OFFSET and self.s.due is not None:
            return rules.end_of(self.s.due)
        return None

    def open_tasks(self) -> list[OpenTask]:
        """The scenario's task of the stage, overdue in the admin view once its day has passed."""
        kind = {Stage.AWAITING_REPORT: "neutrality_report", Stage.AWAITING_OFFSET: "neutrality_offset"}.get(self.stage)
        due = self.deadline()
        if kind is None or due is None:
            return []
        return [OpenTask(task_id=f"{self.case_id}-{self.s.year}-{kind}", kind=kind, assignee=APPLICANT, due=due,
                         overdue=workflow.now() > due)]

    def mirror(self) -> dict[str, Any]:
        return {"owner_organisation_id": self.s.organisation_id,
                "title": f"年度碳中和 / annual neutrality {self.s.year} ({self.start.label_code})",
                "details": {"scenario_id": self.s.scenario_id, "year": self.s.year, "status": self.s.status}}

    def facts(self) -> NeutralityFacts:
        return self.s

    # --- helpers --------------------------------------------------------------------------------

    def _dates(self) -> dict[str, Any]:
        return {"year": self.s.year, "report_due": str(self.s.report_due), "due": str(self.s.due)}

    def _tell_scenario(self, kind: str, text: str, roles: list[str] | None = None) -> Tell:
        return Tell(kind, f"{self.case_id}: {text}", organisations=[self.s.organisation_id], roles=roles or [])

    @workflow.query(name=NEUTRALITY_STATE_QUERY)
    def state(self) -> NeutralityState:
        return self.s


WORKFLOWS: list[type] = [ScenarioNeutrality]
