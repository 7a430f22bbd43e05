"""Disclosure and statistics (Art. 30, 31): public, no login, paged with a total, CSV for every list
(`?format=csv`), answered through the public-read cache (api/public.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from api.deps import DbSession
from api.public import LIST_RESPONSES, MAX_AGE_SECONDS, Column, Format, public_answer
from api.schemas.disclosure import (
    CancellationRow,
    CommitteeMember,
    IssuanceRow,
    MethodologyRow,
    NeutralityRow,
    NoticeRow,
    Page,
    ProjectRow,
    ScenarioRow,
    Statistics,
    TransferMonth,
)
from domain import neutrality as neutrality_rules
from domain.scenario import WuhanDistrict
from store import calendar as calendar_store
from store import disclosure
from domain.clock import now_utc

router = APIRouter(prefix="/disclosure", tags=["disclosure"])

Limit = Annotated[int, Query(ge=1, le=1000, description="rows per page (a CSV download has every row)")]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Year = Annotated[int | None, Query(ge=2000, le=2100)]


def _limit(fmt: str, limit: int) -> int | None:
    return disclosure.ALL if fmt == "csv" else limit


# Headers of the CSV downloads: 中文 / English, one per column.
COMMITTEE: list[Column] = [("name", "姓名 / name"), ("affiliation", "单位 / affiliation"),
                           ("expertise", "专业领域 / fields"), ("active", "在任 / active")]
METHODOLOGIES: list[Column] = [
    ("code", "编号 / code"), ("scope", "适用范围 / scope"), ("domain", "领域 / domain"), ("status", "状态 / status"),
    ("current_version", "现行版本 / current version"), ("title", "名称 / title"),
    ("published_at", "发布时间 / published at"), ("reevaluation_due", "重新评估期限 / re-evaluation due"),
    ("retired_at", "废止时间 / retired at")]
SCENARIOS: list[Column] = [
    ("label_code", "场景标识 / label"), ("scenario_name", "场景名称 / scenario"),
    ("organisation_name", "运营单位 / operator"), ("category", "类别 / category"), ("district", "区 / district"),
    ("valid_from", "有效期起 / valid from"), ("valid_until", "有效期至 / valid until"),
    ("label_status", "标识状态 / label status"), ("neutrality_year", "碳中和年度 / neutrality year"),
    ("emissions_tco2e", "排放量(吨) / emissions tCO2e"), ("cancelled_tonnes", "已注销(吨) / cancelled t"),
    ("neutrality_status", "碳中和履约 / neutrality compliance")]
PROJECTS: list[Column] = [
    ("id", "项目编号 / project id"), ("name", "项目名称 / project"), ("developer_name", "项目业主 / developer"),
    ("district", "区 / district"), ("methodology_code", "方法学 / methodology"),
    ("methodology_version", "方法学版本 / methodology version"), ("start_date", "开始日期 / start date"),
    ("registered_at", "登记时间 / registered at")]
NOTICES: list[Column] = [
    ("id", "公示编号 / notice"), ("project_name", "项目名称 / project"), ("district", "区 / district"),
    ("developer_name", "项目业主 / developer"), ("round_no", "轮次 / round"),
    ("verified_tco2e", "核证减排量(吨) / verified tCO2e"), ("starts_at", "公示开始 / starts at"),
    ("ends_at", "公示结束 / ends at"), ("open", "公示中 / open"),
    ("remaining_working_days", "剩余工作日 / working days left"), ("outcome", "结果 / outcome")]
ISSUANCES: list[Column] = [
    ("case_id", "签发编号 / case"), ("project_name", "项目名称 / project"), ("developer_name", "项目业主 / developer"),
    ("district", "区 / district"), ("methodology_code", "方法学 / methodology"), ("vintage", "年份 / vintage"),
    ("tonnes", "签发量(吨) / tonnes issued"), ("issued_at", "签发时间 / issued at")]
TRANSFERS: list[Column] = [("month", "月份 / month"), ("trades", "交易笔数 / trades"),
                           ("tonnes", "交易量(吨) / tonnes")]
CANCELLATIONS: list[Column] = [
    ("certificate_number", "注销证明编号 / certificate"), ("issued_at", "注销时间 / issued at"),
    ("quantity", "注销量(吨) / tonnes"), ("purpose", "用途 / purpose"), ("purpose_text", "说明 / purpose text"),
    ("beneficiary", "受益方 / beneficiary"), ("neutrality_year", "碳中和年度 / neutrality year"),
    ("serial_ranges", "序列号 / serial ranges")]
NEUTRALITY: list[Column] = [
    ("year", "年度 / year"), ("scenario_name", "场景名称 / scenario"), ("organisation_name", "运营单位 / operator"),
    ("emissions_tco2e", "排放量(吨) / emissions tCO2e"), ("cancelled_tonnes", "已注销(吨) / cancelled t"),
    ("report_due", "报告期限 / report due"), ("due", "履约期限 / due"), ("status", "履约状态 / status"),
    ("extended", "已延期 / extended")]
STAT_HEADERS = {"year": "年度 / year", "district": "区 / district", "methodology": "方法学 / methodology"}
STAT_VALUES: list[Column] = [("issued_tonnes", "签发量(吨) / issued t"), ("retired_tonnes", "注销量(吨) / retired t"),
                             ("issuances", "签发次数 / issuances"), ("projects", "项目数 / projects")]


@router.get("/committee", response_model=Page[CommitteeMember], responses=LIST_RESPONSES,
            summary="The expert committee: names, affiliation and fields, no contact data (public)")
def committee(request: Request, session: DbSession, fmt: Format = "json", active: bool | None = None,
              limit: Limit = 100, offset: Offset = 0):
    return public_answer(request, session, ("experts", "organisations"), lambda: disclosure.committee(
        session, active=active, limit=_limit(fmt, limit), offset=offset), fmt=fmt, columns=COMMITTEE,
        filename="committee")


@router.get("/methodologies", response_model=Page[MethodologyRow], responses=LIST_RESPONSES,
            summary="Published methodologies and their current version (public)")
def methodologies(request: Request, session: DbSession, fmt: Format = "json", include_retired: bool = False,
                  limit: Limit = 100, offset: Offset = 0):
    return public_answer(request, session, ("methodologies", "methodology_versions"), lambda: disclosure.methodologies(
        session, include_retired=include_retired, limit=_limit(fmt, limit), offset=offset), fmt=fmt,
        columns=METHODOLOGIES, filename="methodologies")


@router.get("/scenarios", response_model=Page[ScenarioRow], responses=LIST_RESPONSES,
            summary="Labelled scenarios with their label and annual neutrality compliance (public, Art. 17)")
def scenarios(request: Request, session: DbSession, fmt: Format = "json", year: Year = None,
              district: WuhanDistrict | None = None, limit: Limit = 100, offset: Offset = 0):
    year = year or neutrality_rules.year_of(now_utc()) - 1  # the last year whose neutrality is due (Wuhan's year)
    return public_answer(
        request, session, ("scenario_labels", "scenarios", "organisations", "neutrality_obligations"),
        lambda: disclosure.scenarios(session, year=year, district=district.value if district else None,
                                     limit=_limit(fmt, limit), offset=offset),
        fmt=fmt, columns=SCENARIOS, filename="scenarios")


@router.get("/projects", response_model=Page[ProjectRow], responses=LIST_RESPONSES,
            summary="Registered projects (public)")
def projects(request: Request, session: DbSession, fmt: Format = "json", district: WuhanDistrict | None = None,
             limit: Limit = 100, offset: Offset = 0):
    return public_answer(request, session, ("projects", "organisations"), lambda: disclosure.projects(
        session, district=district.value if district else None, limit=_limit(fmt, limit), offset=offset),
        fmt=fmt, columns=PROJECTS, filename="projects")


@router.get("/publicity-notices", response_model=Page[NoticeRow], responses=LIST_RESPONSES,
            summary="Publicity notices with their remaining working time (public, Art. 20)")
def notices(request: Request, session: DbSession, fmt: Format = "json",
            status: Literal["open", "closed"] | None = None, limit: Limit = 100, offset: Offset = 0):
    def build():
        return disclosure.notices(session, calendar_store.current(session), now_utc(), status=status,
                                  limit=_limit(fmt, limit), offset=offset)

    # The remaining time moves with the clock: cached per MAX_AGE_SECONDS window as well.
    return public_answer(request, session, ("publicity_notices", "calendar_years"), build, fmt=fmt,
                         columns=NOTICES, filename="publicity-notices", clock_seconds=MAX_AGE_SECONDS)


@router.get("/issuances", response_model=Page[IssuanceRow], responses=LIST_RESPONSES,
            summary="Issuances of project reductions (public)")
def issuances(request: Request, session: DbSession, fmt: Format = "json", year: Year = None,
              limit: Limit = 100, offset: Offset = 0):
    return public_answer(request, session, ("ledger", "projects", "organisations"), lambda: disclosure.issuances(
        session, year=year, limit=_limit(fmt, limit), offset=offset), fmt=fmt, columns=ISSUANCES,
        filename="issuances")


@router.get("/transfers", response_model=Page[TransferMonth], responses=LIST_RESPONSES,
            summary="Transfers in aggregate per month: trades and tonnes, never who traded (public)")
def transfers(request: Request, session: DbSession, fmt: Format = "json", limit: Limit = 100, offset: Offset = 0):
    return public_answer(request, session, ("ledger",), lambda: disclosure.transfers(
        session, limit=_limit(fmt, limit), offset=offset), fmt=fmt, columns=TRANSFERS, filename="transfers")


@router.get("/cancellations", response_model=Page[CancellationRow], responses=LIST_RESPONSES,
            summary="Cancellations and their certificates (public)")
def cancellations(request: Request, session: DbSession, fmt: Format = "json", year: Year = None,
                  limit: Limit = 100, offset: Offset = 0):
    return public_answer(request, session, ("ledger",), lambda: disclosure.cancellations(
        session, year=year, limit=_limit(fmt, limit), offset=offset), fmt=fmt, columns=CANCELLATIONS,
        filename="cancellations")


@router.get("/statistics", response_model=Statistics, responses=LIST_RESPONSES,
            summary="Tonnes issued and retired by year, district and methodology (public, Art. 31)")
def statistics(request: Request, session: DbSession, fmt: Format = "json",
               by: Annotated[list[Literal["year", "district", "methodology"]] | None, Query(
                   description="dimensions kept (default all three)")] = None, year: Year = None):
    dims = tuple(d for d in disclosure.GROUPS if d in (by or disclosure.GROUPS))
    columns = [(d, STAT_HEADERS[d]) for d in dims] + STAT_VALUES
    return public_answer(
        request, session, ("ledger", "projects"),
        lambda: {"unit": "tCO2e", "by": list(dims), "rows": disclosure.statistics(session, by=dims, year=year)},
        fmt=fmt, columns=columns, filename="statistics")


@router.get("/neutrality", response_model=Page[NeutralityRow], responses=LIST_RESPONSES,
            summary="Scenarios' annual neutrality per year: met, late, unmet (public, Art. 17)")
def neutrality(request: Request, session: DbSession, fmt: Format = "json", year: Year = None,
               limit: Limit = 100, offset: Offset = 0):
    return public_answer(request, session, ("neutrality_obligations", "scenarios", "organisations"),
                         lambda: disclosure.neutrality(session, year=year, limit=_limit(fmt, limit), offset=offset),
                         fmt=fmt, columns=NEUTRALITY, filename="neutrality")
