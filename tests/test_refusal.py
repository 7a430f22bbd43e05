"""The one refusal type (domain.rules.Refusal) and its one mapping to problem+json (api.errors)."""

from __future__ import annotations

import json

from api.errors import problem_response, refusal_problem
from domain.rules import STATUS, Kind, Refusal, Rule


def _body(refusal: Refusal) -> tuple[int, dict]:
    response = problem_response(refusal_problem(refusal))
    return response.status_code, json.loads(response.body)


def test_each_kind_answers_its_status_naming_field_and_rule():
    for kind, status in STATUS.items():
        code, body = _body(Refusal(kind, Rule.ART23_KEY_EMITTER_BOUNDARY, "refused / 拒绝", "facility_id"))
        assert code == status == body["status"]
        assert body["detail"] == "refused / 拒绝"
        assert body["errors"] == [{"field": "facility_id", "rule": "art23.key_emitter_boundary",
                                   "message": "refused / 拒绝"}]


def test_a_status_from_sql_is_its_kind():
    assert Refusal.of_status(409, "cancellation", "art29.already_decided", "x").kind is Kind.CONFLICT
    assert Refusal.of_status(415, "file", "media_type", "x").status == 415


def test_several_faults_are_refused_together_the_first_leading():
    found = [Refusal(Kind.INVALID, "range", "pass mark must be 1..100", "pass_mark"),
             Refusal(Kind.INVALID, "unique", "item code 'A' appears twice", "items.1.code")]
    code, body = _body(Refusal.all_of(found))
    assert code == 422 and body["detail"] == "pass mark must be 1..100"
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [("pass_mark", "range"), ("items.1.code", "unique")]


def test_a_refusal_of_a_whole_file_lists_its_lines_with_their_text():
    lines = [Refusal(Kind.INVALID, "off_on_weekend", "a weekend", "line 5", extra={"text": "2027-01-02 off"})]
    code, body = _body(Refusal(Kind.INVALID, "calendar_file", "refused whole: 1 error(s)", errors=lines))
    assert code == 422 and body["errors"] == [
        {"field": "line 5", "rule": "off_on_weekend", "message": "a weekend", "text": "2027-01-02 off"}]
