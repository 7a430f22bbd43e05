"""Refusals: the kinds of refusal and the stable rule codes every case workflow refuses with.

A refusal has a kind (who the answer is for: 403 forbidden, 404 not_found, 409 conflict, 422 invalid;
413/415 for an uploaded file) and a rule code. A code names the article where the rule comes from one (`art21.…`); the others are
the platform's own (who may act, at which stage, what a field must hold). The API shows the code as
`rule` beside the `field` at fault.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID = "invalid"
    TOO_LARGE = "too_large"  # an uploaded file over the limit
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"  # an uploaded file of a type not accepted


STATUS: dict[Kind, int] = {Kind.FORBIDDEN: 403, Kind.NOT_FOUND: 404, Kind.CONFLICT: 409, Kind.INVALID: 422,
                           Kind.TOO_LARGE: 413, Kind.UNSUPPORTED_MEDIA_TYPE: 415}
KIND_OF_STATUS: dict[int, Kind] = {status: kind for kind, status in STATUS.items()}


class Rule(StrEnum):
    # --- the platform's own rules -----------------------------------------------------------------
    ACTOR = "actor"  # only this role / organisation / assignee may do this
    STAGE = "stage"  # the case is not at a stage where this can happen
    ALREADY_DONE = "already_done"  # this (or another answer to it) happened already
    DIFFERENT_ACTION = "different_action"  # another payload under the same step: the first one stands
    REQUIRED = "required"  # a field the action needs is empty
    UNCHANGED = "unchanged"  # a field that must not change on resubmission
    STALE = "stale"  # the action answers an earlier submission or round
    NOT_PART_OF_CASE = "not_part_of_case"  # e.g. an objection of another case
    PANEL_SIZE = "panel_size"
    UNIQUE = "unique"
    NOT_ON_PANEL = "not_on_panel"
    SCORES = "scores"
    WRONG_DEPLOYMENT = "wrong_deployment"  # a worker of another database picked up this case's task
    # --- rules that come from an article of the measures --------------------------------------------
    # Art. 20: objections are filed during publicity, answered by the developer, ruled on by the bureau.
    ART20_PUBLICITY_OVER = "art20.publicity_over"
    ART20_ANSWER_PERIOD = "art20.answer_period"
    # Art. 21: the verified quantity is what the expert evaluation and the bureau approve.
    ART21_WITHIN_CLAIM = "art21.within_claim"
    ART21_PANEL_APPROVAL = "art21.panel_approval"
    # Art. 21: what the bureau published is then registered and issued, nothing else.
    ART21_PUBLISHED_IS_FINAL = "art21.published_is_final"
    # Art. 24: reductions of one facility and period are claimed once.
    ART24_DOUBLE_CLAIM = "art24.double_claim"
    # Art. 24: a project's monitoring periods do not overlap (its own earlier, still-standing periods).
    ART24_OVERLAPPING_PERIOD = "art24.overlapping_period"
    # Art. 24: a facility registered in another scheme for an overlapping period may not register here.
    ART24_OTHER_SCHEME_OVERLAP = "art24.other_scheme_overlap"
    # Art. 23: a key emitting unit's facilities inside its compliance boundary are not projects here.
    ART23_KEY_EMITTER_BOUNDARY = "art23.key_emitter_boundary"
    # Art. 11: a methodology (or a revised version, with Art. 7) is published after the expert review.
    ART11_PANEL_APPROVAL = "art11.panel_approval"
    # Art. 14: a scenario is published only when its evaluation passed.
    ART14_EVALUATION_PASSED = "art14.evaluation_passed"
    # Art. 29: the operator confirms or rejects an application to cancel once; the holder may withdraw it
    # before that.
    ART29_ALREADY_DECIDED = "art29.already_decided"
    # Art. 29: a cancelled (retired) unit never moves again. Raised by the ledger's SQL (ledger_move).
    ART29_UNITS_RETIRED = "art29.units_retired"
    # Art. 33: a frozen account, frozen units, or a suspended or terminated participant can neither trade nor
    # cancel. Raised by the ledger's SQL (ledger_check_may_move, ledger_move) and store/ledger.py.
    ART33_ACCOUNT_FROZEN = "art33.account_frozen"
    ART33_UNITS_FROZEN = "art33.units_frozen"
    # Also: while the participant owning a case is suspended, nothing is done on the case (it is paused).
    ART33_PARTICIPANT_SUSPENDED = "art33.participant_suspended"
    ART33_PARTICIPANT_TERMINATED = "art33.participant_terminated"
    # Art. 33: one measure in force per participant; a termination is final, only a suspension is lifted.
    ART33_MEASURE_IN_FORCE = "art33.measure_in_force"
    ART33_TERMINATION_FINAL = "art33.termination_final"
    ART33_ALREADY_LIFTED = "art33.already_lifted"
    # Art. 34: the report's handler is a bureau or operator user, never one of the reported organisation.
    ART34_HANDLER = "art34.handler"
    # Art. 34: the handler acknowledges, then concludes, in that order, once.
    ART34_STAGE = "art34.stage"
    # Art. 17: a published scenario offsets its own emissions of each year by cancelling reductions.
    ART17_REPORTED = "art17.already_reported"  # the year's emissions are reported once
    ART17_DOCUMENT = "art17.report_document"  # a report carries its document (the scenario's own upload)
    ART17_EXTENSION_LATER = "art17.extension_later"  # an extension moves a date later, never earlier
    ART17_CLOSED = "art17.obligation_closed"  # the year's obligation is settled (met, late or unmet)
    ART17_YEAR = "art17.current_year"  # actions address the year the obligation runs for
    # Art. 22: only an organisation the operator approved as a data source pushes behaviour data, and only
    # for the behaviour types it was approved for.
    ART22_SOURCE_NOT_APPROVED = "art22.source_not_approved"
    # Art. 33: the operator may suspend a source (or the organisation is suspended/terminated): its pushes
    # and codes are refused.
    ART33_SOURCE_SUSPENDED = "art33.source_suspended"
    ART33_ORGANISATION_SUSPENDED = "art33.organisation_suspended"
    # Art. 15: pushed data must not leak users' privacy: a subject reference that looks like an ID-card
    # number, a phone number or an e-mail address is refused (the record ends `invalid`, never stored).
    ART15_IDENTIFYING_SUBJECT_REF = "art15.identifying_subject_ref"
    # Art. 22: the resident's consent is a binding code issued by the source for its own user, used once.
    ART22_BINDING_CODE = "art22.binding_code"
    ART22_ALREADY_BOUND = "art22.already_bound"


class Refusal(Exception):
    """The one business refusal of the platform (domain, store, activities, workflows' validators): its kind
    (the HTTP status), the rule code, a message and the field at fault. A refusal of a whole input that
    lists several faults (a specification, a calendar file) carries them in `errors`, each a Refusal; `extra`
    adds facts to the error entry the API shows (e.g. the offending line of a file)."""

    def __init__(self, kind: Kind | str, rule: Rule | str, message: str, field: str | None = None, *,
                 errors: Sequence[Refusal] = (), extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = Kind(kind)
        self.rule = str(rule)
        self.message = message
        self.field = field
        self.errors = list(errors)
        self.extra = dict(extra or {})

    @classmethod
    def of_status(cls, status: int, field: str | None, rule: str, message: str) -> Refusal:
        """A refusal whose HTTP status is known (e.g. the ledger's SQL functions refuse with one)."""
        return cls(KIND_OF_STATUS.get(status, Kind.INVALID), rule, message, field)

    @classmethod
    def all_of(cls, found: Sequence[Refusal]) -> Refusal:
        """Several faults found at once, refused together: the first one leads, the others follow it."""
        return cls(found[0].kind, found[0].rule, found[0].message, found[0].field, errors=found[1:])

    @property
    def status(self) -> int:
        return STATUS[self.kind]
