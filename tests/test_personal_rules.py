"""The pure rules of personal reductions (domain/personal.py): identifying subject references, grams by
floor on the day's running total, quantities in thousandths, month bounds of the partitions."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from domain import personal as p


@pytest.mark.parametrize("value", ["42010119900101123X", "420101199001011234", "420101900101123",
                                   "13812345678", "+8613812345678", "86-13812345678", "id:13812345678",
                                   "zhang.san@example.cn"])
def test_identifying_values_are_refused(value):
    assert p.looks_identifying(value)
    assert p.check_subject_ref(value)[0] == "art15.identifying_subject_ref"


@pytest.mark.parametrize("value", ["u-1234567", "a1b2c3d4e5f6", "138123456", "metro-card-0001"])
def test_pseudonyms_pass(value):
    assert not p.looks_identifying(value) and p.check_subject_ref(value) is None


def test_grams_floor_on_the_running_total_not_per_record():
    f = 3  # 0.0003 g per step
    total, before = 0, 0
    for _ in range(200):
        after = before + 150_000  # 150 steps, in thousandths
        total += p.grams(before, after, f)
        before = after
    assert total == 9 == 30_000 * 3 // 10_000  # per record: 150 × 0.0003 = 0.045 → 0 each time


@pytest.mark.parametrize("q, milli", [(1, 1000), (1.5, 1500), ("2.125", 2125), ("3", 3000), (0.001, 1)])
def test_quantities_in_thousandths(q, milli):
    assert p._quantity_milli(q) == milli


@pytest.mark.parametrize("q", [0, -1, True, 1.0001, "1.2345", "x", None, 10**10])
def test_bad_quantities(q):
    assert p._quantity_milli(q) is None


def test_months_are_shanghai_months():
    start, end = p.month_bounds(date(2026, 12, 1))
    assert start == datetime(2026, 11, 30, 16, tzinfo=timezone.utc)
    assert end == datetime(2026, 12, 31, 16, tzinfo=timezone.utc)
    assert p.local_day(datetime(2026, 11, 30, 17, tzinfo=timezone.utc)) == date(2026, 12, 1)


def test_a_batch_is_validated_in_one_pass():
    now = datetime(2026, 12, 2, 10, tzinfo=timezone.utc)
    good = {"source_event_id": "e1", "subject_ref": "u-1", "behaviour": "metro_km", "quantity": 2, "unit": "km",
            "occurred_at": "2026-12-02T09:00:00+08:00"}
    out = p.prepare_batch([good, {**good, "subject_ref": "13812345678"}, {**good, "unit": "m"}, "x",
                           {**good, "occurred_at": "2026-01-01T00:00:00Z"}],
                          batch_id=7, source_id=3, received_at=now, key=b"k" * 32, units={"metro_km": "km"})
    assert out.invalid == 4 and len(out.rows) == 5
    assert "13812345678" not in "".join(out.rows) and "u-1" not in "".join(out.rows)
    assert out.rows[0].startswith("7\t1\t2026-12-02T09:00:00+08:00\t3\te1\t\\\\x")
