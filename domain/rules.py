"""Refusals: the kinds of refusal and the stable rule codes every case workflow refuses with.

A refusal has a kind (who the answer is for: 403 forbidden, 404 not_found, 409 conflict, 422 invalid)
and a rule code. A code names the article where the rule comes from one (`art21.…`); the others are
the platform's own (who may act, at which stage, what a field must hold). The API shows the code as
`rule` beside the `field` at fault.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID = "invalid"


STATUS: dict[Kind, int] = {Kind.FORBIDDEN: 403, Kind.NOT_FOUND: 404, Kind.CONFLICT: 409, Kind.INVALID: 422}


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
    # Art. 11: a methodology (or a revised version, with Art. 7) is published after the expert review.
    ART11_PANEL_APPROVAL = "art11.panel_approval"
    # Art. 14: a scenario is published only when its evaluation passed.
    ART14_EVALUATION_PASSED = "art14.evaluation_passed"
    # Art. 29: the operator confirms or rejects an application to cancel once; the holder may withdraw it
    # before that.
    ART29_ALREADY_DECIDED = "art29.already_decided"
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
    """A business refusal raised below the workflows (domain rules) with its kind and rule code."""

    def __init__(self, kind: Kind, rule: Rule | str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.kind = Kind(kind)
        self.rule = str(rule)
        self.message = message
        self.field = field

    @property
    def status(self) -> int:
        return STATUS[self.kind]
