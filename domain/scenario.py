"""Scenario evaluation rules (SPEC §2.3, Art. 12–14): pure functions, no I/O.

An evaluation specification (评价规范) has gate items that must all pass and weighted items whose
integer weights sum to 100; each weighted item is scored 0..weight. A self-assessment passes when
every gate passes and the total reaches the spec's pass mark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from domain.clock import SHANGHAI
from domain.rules import Kind, Refusal

TOTAL_WEIGHT = 100


class ScenarioCategory(StrEnum):
    SHOP_SUPERMARKET = "shop_supermarket"
    RESTAURANT = "restaurant"
    HOTEL = "hotel"
    SCENIC_SPOT = "scenic_spot"
    PUBLIC_FACILITY = "public_facility"
    OTHER = "other"


class WuhanDistrict(StrEnum):
    """Wuhan's thirteen administrative districts and its three functional zones (功能区)."""

    JIANG_AN = "jiang_an"  # 江岸区
    JIANG_HAN = "jiang_han"  # 江汉区
    QIAO_KOU = "qiao_kou"  # 硚口区
    HAN_YANG = "han_yang"  # 汉阳区
    WU_CHANG = "wu_chang"  # 武昌区
    QING_SHAN = "qing_shan"  # 青山区
    HONG_SHAN = "hong_shan"  # 洪山区
    DONG_XI_HU = "dong_xi_hu"  # 东西湖区
    HAN_NAN = "han_nan"  # 汉南区
    CAI_DIAN = "cai_dian"  # 蔡甸区
    JIANG_XIA = "jiang_xia"  # 江夏区
    HUANG_PI = "huang_pi"  # 黄陂区
    XIN_ZHOU = "xin_zhou"  # 新洲区
    EAST_LAKE_HIGH_TECH = "east_lake_high_tech"  # 东湖新技术开发区
    ECONOMIC_DEVELOPMENT = "economic_development"  # 武汉经济技术开发区
    EAST_LAKE_SCENIC = "east_lake_scenic"  # 东湖生态旅游风景区


class ItemKind(StrEnum):
    GATE = "gate"  # must pass
    WEIGHTED = "weighted"  # scored 0..weight


@dataclass(frozen=True)
class SpecItem:
    code: str
    kind: ItemKind
    weight: int | None = None


def _invalid(field: str, rule: str, message: str) -> Refusal:
    """One broken rule: `field` is a dotted path into the request, `rule` a stable code."""
    return Refusal(Kind.INVALID, rule, message, field)


def validate_spec(items: list[SpecItem], pass_mark: int) -> list[Refusal]:
    found: list[Refusal] = []
    if not 1 <= pass_mark <= TOTAL_WEIGHT:
        found.append(_invalid("pass_mark", "range", f"pass mark must be 1..{TOTAL_WEIGHT}"))
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.code in seen:
            found.append(_invalid(f"items.{i}.code", "unique", f"item code '{item.code}' appears twice"))
        seen.add(item.code)
        if item.kind == ItemKind.GATE and item.weight is not None:
            found.append(_invalid(f"items.{i}.weight", "gate_has_no_weight", "a gate item passes or fails; it has no weight"))
        if item.kind == ItemKind.WEIGHTED and (item.weight is None or item.weight < 1):
            found.append(_invalid(f"items.{i}.weight", "positive", "a weighted item needs a weight of at least 1"))
    weighted = [it for it in items if it.kind == ItemKind.WEIGHTED]
    if not weighted:
        found.append(_invalid("items", "weighted_required", "a specification needs at least one weighted item"))
    total = sum(it.weight or 0 for it in weighted)
    if weighted and total != TOTAL_WEIGHT:
        found.append(_invalid("items", "weights_sum_to_100", f"weights sum to {total}, not {TOTAL_WEIGHT}"))
    return found


@dataclass(frozen=True)
class ItemAnswer:
    code: str
    passed: bool | None = None  # gate items
    score: int | None = None  # weighted items


@dataclass(frozen=True)
class SelfScore:
    total: int
    pass_mark: int
    failing_gates: list[str]
    # Weighted items that lost points, named when the total falls short of the pass mark.
    short_items: list[str] = field(default_factory=list)

    @property
    def passes(self) -> bool:
        return not self.failing_gates and self.total >= self.pass_mark

    def refusals(self) -> list[Refusal]:
        """Why an application with this self-assessment is refused (empty when it passes)."""
        found = [_invalid(f"items.{code}", "gate_failed", f"gate item '{code}' does not pass")
                 for code in self.failing_gates]
        if self.total < self.pass_mark:
            found.append(_invalid("total_score", "below_pass_mark",
                                   f"self-score {self.total} is below the pass mark {self.pass_mark}; "
                                   f"items short of full marks: {', '.join(self.short_items) or 'none'}"))
        return found


def check_answers(items: list[SpecItem], answers: list[ItemAnswer]) -> list[Refusal]:
    """Every item answered exactly once, in the form its kind needs, within its range."""
    found: list[Refusal] = []
    by_code = {it.code: it for it in items}
    seen: set[str] = set()
    for i, a in enumerate(answers):
        item = by_code.get(a.code)
        if item is None:
            found.append(_invalid(f"items.{i}.code", "unknown_item", f"'{a.code}' is not an item of this specification"))
            continue
        if a.code in seen:
            found.append(_invalid(f"items.{i}.code", "unique", f"item '{a.code}' answered twice"))
        seen.add(a.code)
        if item.kind == ItemKind.GATE:
            if a.passed is None or a.score is not None:
                found.append(_invalid(f"items.{i}.passed", "gate_needs_pass", f"gate item '{a.code}' takes passed true/false, no score"))
        else:
            if a.score is None or a.passed is not None:
                found.append(_invalid(f"items.{i}.score", "weighted_needs_score", f"weighted item '{a.code}' takes a score, not passed"))
            elif not 0 <= a.score <= (item.weight or 0):
                found.append(_invalid(f"items.{i}.score", "range", f"score of '{a.code}' must be 0..{item.weight}"))
    for code in by_code:
        if code not in seen:
            found.append(_invalid("items", "missing_item", f"item '{code}' is not answered"))
    return found


def score(items: list[SpecItem], answers: list[ItemAnswer], pass_mark: int) -> SelfScore:
    """Score answers that passed `check_answers`."""
    kinds = {it.code: it for it in items}
    total = 0
    failing: list[str] = []
    short: list[str] = []
    for a in answers:
        item = kinds[a.code]
        if item.kind == ItemKind.GATE:
            if not a.passed:
                failing.append(a.code)
        else:
            total += a.score or 0
            if (a.score or 0) < (item.weight or 0):
                short.append(a.code)
    return SelfScore(total=total, pass_mark=pass_mark, failing_gates=failing, short_items=short)


def publication_refusals(panel_vote: str | None, mean_score_hundredths: int | None, pass_mark: int) -> list[str]:
    """Art. 14: only a scenario that passed the panel's evaluation may be published."""
    reasons = []
    if panel_vote != "approve":
        reasons.append(f"the panel's outcome is '{panel_vote}', not approve")
    if mean_score_hundredths is None or mean_score_hundredths < pass_mark * 100:
        shown = "none" if mean_score_hundredths is None else f"{mean_score_hundredths // 100}.{mean_score_hundredths % 100:02d}"
        reasons.append(f"the panel's mean score {shown} is below the pass mark {pass_mark}")
    return reasons


def label_code(year: int, seq: int) -> str:
    return f"WH-S-{year}-{seq:04d}"


def label_year(published_at: datetime) -> int:
    """The label's year is the publication's calendar year in Wuhan, not in UTC."""
    return published_at.astimezone(SHANGHAI).year


def add_years(d: datetime, years: int) -> datetime:
    """Same local date `years` later; 29 February falls back to 28 February."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def label_valid_until(published_at: datetime, years: int) -> datetime:
    """Valid for `years` from the publication instant, counted on the Asia/Shanghai calendar."""
    return add_years(published_at.astimezone(SHANGHAI), years)


def expiry_reminder_at(valid_until: datetime, reminder_days: int) -> datetime:
    return valid_until - timedelta(days=reminder_days)

