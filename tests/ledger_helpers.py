"""Test helpers for the ledger: units issued straight through the store (the issuance process is
tested elsewhere), a model of who holds what, and the invariants every ledger test checks."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select, text

from domain import serials
from store import ledger
from store.models.ledger import SerialSeries, UnitBlock
from tests.issuance_helpers import T0, make_project

LEDGER_TABLES = ("certificates", "certificate_counters", "ledger_movements", "unit_blocks", "trades",
                 "cancellations", "issuances", "serial_series")


def issue_units(session_factory, project, organisation_id: int, tonnes: int, *, key: str, vintage: int = 2025,
                at=T0) -> str:
    """Issue `tonnes` into the organisation's account; returns the series prefix."""
    with session_factory() as s, s.begin():
        ledger.issue(s, ledger.IssueOrder(
            issuance_key=key, organisation_id=organisation_id, project_id=project.id, vintage=vintage,
            methodology=serials.methodology_segment(project.methodology_code, project.methodology_version),
            verified_grams=tonnes * serials.GRAMS_PER_TONNE, issued_at=at))
    return serials.series_prefix(vintage, project.id, serials.methodology_segment(
        project.methodology_code, project.methodology_version))


def later(minutes: int):
    return T0 + timedelta(minutes=minutes)


def check_invariants(session) -> None:
    """Per series the blocks exactly cover what was issued, none overlap, every serial is in exactly
    one block; and the movements replay to the blocks and accounts as they are."""
    issued = dict(session.execute(select(SerialSeries.prefix, SerialSeries.next_number)).all())
    blocks = session.execute(select(UnitBlock.serial_prefix, UnitBlock.serial_start, UnitBlock.serial_end)
                             .order_by(UnitBlock.serial_prefix, UnitBlock.serial_start)).all()
    by_series: dict[str, list[tuple[int, int]]] = {}
    for prefix, start, end in blocks:
        by_series.setdefault(prefix, []).append((start, end))
    assert set(by_series) <= set(issued)
    for prefix, following in issued.items():
        ranges = by_series.get(prefix, [])
        expected = 1
        for start, end in ranges:
            assert start == expected, f"{prefix}: gap or overlap at {expected} (block starts {start})"
            expected = end + 1
        assert expected == following, f"{prefix}: blocks end at {expected - 1}, issued up to {following - 1}"
    derived = ledger.replay_movements(session)
    current = ledger.current_ledger(session)
    assert derived.series == current.series
    assert derived.frozen_accounts == current.frozen_accounts


def totals_by_state(session) -> Counter:
    rows = session.execute(text("SELECT state, sum(serial_end - serial_start + 1) FROM unit_blocks GROUP BY state"))
    return Counter({state: int(n) for state, n in rows})


__all__ = ["LEDGER_TABLES", "T0", "check_invariants", "issue_units", "later", "make_project", "totals_by_state"]
