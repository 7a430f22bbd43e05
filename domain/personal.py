"""Rules of personal reductions (SPEC §2.5, Art. 15, 22): what a pushed behaviour record must hold, how
a subject reference is kept (a keyed hash, never as given), the outcomes and the conversion to grams.

Validation is done for a whole batch in one pass (`prepare_batch`), producing the rows that the API
writes with one COPY; everything after (dedupe, factors, caps, credit) is set-based SQL in store/personal.py.

Grams: per account, behaviour and Asia/Shanghai day, the credited quantity so far (thousandths of the unit,
after the cap) times the factor (ten-thousandths of a gram per unit), divided by 10^7 and rounded DOWN to
whole grams (floor); a record is credited the increase of that floor. The fraction is kept nowhere, no
resident is credited a gram the factor does not give in full, and many small records (steps) lose nothing
to rounding per record.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from domain.clock import SHANGHAI
MAX_RECORDS = 10_000  # per push (more: 413)
MAX_BYTES = 5 * 1024 * 1024  # per push (more: 413)
MAX_AGE = timedelta(days=90)  # older records are refused; dedupe keys older than this may be purged
MAX_AHEAD = timedelta(minutes=5)  # clock skew allowed for a record "from the future"
QUANTITY_SCALE = 1000  # quantities are kept in thousandths of their unit
MAX_QUANTITY_MILLI = 10**12
GRAM_DIVISOR = QUANTITY_SCALE * 10_000  # thousandths × ten-thousandths of a gram → grams
BINDING_CODE_TTL = timedelta(hours=24)


class Outcome(StrEnum):
    CREDITED = "credited"
    CAPPED = "capped"
    DUPLICATE = "duplicate"
    UNKNOWN_BEHAVIOUR = "unknown_behaviour"
    NOT_APPROVED = "behaviour_not_approved_for_source"
    UNBOUND = "unbound_subject"  # waiting for the resident to bind (then credited/capped, or expired)
    INVALID = "invalid"
    EXPIRED = "expired"


# Art. 15: values that identify a person are refused as subject references: a mainland resident ID-card
# number (18 characters, or the old 15 digits), a mainland mobile number (with or without +86), an e-mail.
IDENTIFYING = re.compile(
    r"(?<!\d)(?:\d{17}[\dXx]|\d{15})(?![\dXx])"
    r"|(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)"
    r"|[^@\s]+@[^@\s]+\.[^@\s]+")
_EVENT_ID = re.compile(r"[A-Za-z0-9._:/\-]{1,100}")
_CODE = re.compile(r"[a-z0-9_]{1,60}")
_SUBJECT = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces (COPY-safe except backslash)


def looks_identifying(value: str) -> bool:
    return IDENTIFYING.search(value) is not None


def subject_hash(key: bytes, subject_ref: str) -> bytes:
    """The keyed hash under which a subject reference is kept (16 bytes of HMAC-SHA256)."""
    return hmac.new(key, subject_ref.encode(), hashlib.sha256).digest()[:16]


def check_subject_ref(value: object) -> tuple[str, str] | None:
    """(rule, message) when a subject reference is refused, else None."""
    if not isinstance(value, str) or not _SUBJECT.fullmatch(value) or "\\" in value:
        return "format", "subject_ref: 1–128 printable characters without spaces / 格式不符"
    if looks_identifying(value):
        return ("art15.identifying_subject_ref",
                "subject_ref looks like an ID-card number, phone number or e-mail / 疑似身份证号、手机号或邮箱")
    return None


def local_day(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def month_start(day: date) -> date:
    return day.replace(day=1)


def grams(before_milli: int, after_milli: int, factor_e4: int) -> int:
    """Whole grams a record adds to its day's total (see the module's docstring)."""
    return after_milli * factor_e4 // GRAM_DIVISOR - before_milli * factor_e4 // GRAM_DIVISOR


@dataclass
class PreparedBatch:
    rows: list[str]  # COPY text lines of behaviour_records
    invalid: int = 0
    months: set[date] = field(default_factory=set)  # Asia/Shanghai months of the records' times


def _quantity_milli(q: object) -> int | None:
    if isinstance(q, bool):
        return None
    if isinstance(q, int):
        m = q * QUANTITY_SCALE
    elif isinstance(q, float):
        m = round(q * QUANTITY_SCALE)
        if abs(m - q * QUANTITY_SCALE) > 1e-6 * max(1.0, abs(q)):
            return None
    elif isinstance(q, str) and re.fullmatch(r"\d{1,12}(\.\d{1,3})?", q):
        whole, _, frac = q.partition(".")
        m = int(whole) * QUANTITY_SCALE + int((frac + "000")[:3])
    else:
        return None
    return m if 0 < m <= MAX_QUANTITY_MILLI else None


def prepare_batch(records: Iterable[object], *, batch_id: int, source_id: int, received_at: datetime, key: bytes,
                  units: dict[str, str]) -> PreparedBatch:
    """Validate a batch's records in one pass and render them as COPY rows (text format).

    `units` maps the behaviour codes of the personal methodologies to their unit, to refuse a record whose
    unit is another (unknown codes are left to the accounting, which says `unknown_behaviour`)."""
    out = PreparedBatch(rows=[])
    rows = out.rows
    oldest, newest = received_at - MAX_AGE, received_at + MAX_AHEAD
    received_text = received_at.isoformat()
    prefix = f"{batch_id}\t"
    src = f"\t{source_id}\t"
    fromiso = datetime.fromisoformat
    ident = IDENTIFYING.search
    subj_ok, eid_ok, code_ok = _SUBJECT.fullmatch, _EVENT_ID.fullmatch, _CODE.fullmatch
    digest = hmac.digest
    months = out.months
    for line_no, rec in enumerate(records, 1):
        reason = None
        eid = code = None
        if not isinstance(rec, dict):
            rows.append(f"{prefix}{line_no}\t{received_text}{src}\\N\t\\N\t\\N\t\\N\tinvalid\trecord: not an object\n")
            out.invalid += 1
            continue
        e, code_v, subject, q, when = (rec.get("source_event_id"), rec.get("behaviour"), rec.get("subject_ref"),
                                       rec.get("quantity"), rec.get("occurred_at"))
        if isinstance(e, str) and eid_ok(e):
            eid = e
        else:
            reason = "source_event_id: required, 1–100 of A-Z a-z 0-9 . _ : / -"
        if isinstance(code_v, str) and code_ok(code_v):
            code = code_v
        elif reason is None:
            reason = "behaviour: required, a behaviour code (e.g. metro_km)"
        occurred = None
        if isinstance(when, str):
            try:
                occurred = fromiso(when)
            except ValueError:
                occurred = None
            if occurred is not None and occurred.tzinfo is None:
                occurred = None
        if reason is None:
            if occurred is None:
                reason = "occurred_at: an ISO 8601 instant with its offset"
            elif occurred < oldest:
                reason = "occurred_at: older than 90 days"
            elif occurred > newest:
                reason = "occurred_at: in the future"
        milli = _quantity_milli(q)
        if reason is None and milli is None:
            reason = "quantity: a number > 0 with at most 3 decimals"
        if reason is None:
            unit = rec.get("unit")
            known = units.get(code)  # type: ignore[arg-type]
            if known is not None and unit != known:
                reason = f"unit: '{known}' expected"
        if reason is None:
            if not isinstance(subject, str) or not subj_ok(subject) or "\\" in subject:
                reason = "subject_ref: format"
            elif ident(subject):
                # Art. 15: never stored, not even hashed.
                reason = "subject_ref: art15.identifying_subject_ref"
        if reason is not None or occurred is None or not (oldest <= occurred <= newest):
            rows.append(f"{prefix}{line_no}\t{received_text}{src}{eid or chr(92) + 'N'}\t\\N\t{code or chr(92) + 'N'}"
                        f"\t\\N\tinvalid\t{reason}\n")
            out.invalid += 1
            continue
        h = digest(key, subject.encode(), "sha256")[:16].hex()  # type: ignore[union-attr]
        months.add(occurred.astimezone(SHANGHAI).date().replace(day=1))
        rows.append(f"{prefix}{line_no}\t{occurred.isoformat()}{src}{eid}\t\\\\x{h}\t{code}\t{milli}\t\\N\t\\N\n")
    months.add(local_day(received_at).replace(day=1))
    return out


def next_month(first: date) -> date:
    return date(first.year + (first.month == 12), first.month % 12 + 1, 1)


def month_bounds(first: date) -> tuple[datetime, datetime]:
    """The instants bounding an Asia/Shanghai month (a partition's range)."""
    start = datetime(first.year, first.month, 1, tzinfo=SHANGHAI)
    nxt = next_month(first)
    return start.astimezone(timezone.utc), datetime(nxt.year, nxt.month, 1, tzinfo=SHANGHAI).astimezone(timezone.utc)
