"""Roles and organisation kinds of SPEC §1."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    BUREAU_ADMIN = "bureau_admin"  # 市生态环境局 (Art. 3)
    OPERATOR_ADMIN = "operator_admin"  # 运营管理机构 (Art. 4)
    EXPERT = "expert"  # 碳普惠专家委员会委员 (Art. 5)
    APPLICANT = "applicant"
    VERIFIER = "verifier"  # 审定与核查机构 (Art. 19)
    DATA_SOURCE = "data_source"
    EXCHANGE = "exchange"  # 交易机构 (Art. 26)
    INDIVIDUAL = "individual"


AUTHORITIES = frozenset({Role.BUREAU_ADMIN, Role.OPERATOR_ADMIN})


class OrganisationType(StrEnum):
    ENTERPRISE = "enterprise"
    SOCIAL_ORGANISATION = "social_organisation"
    PUBLIC_INSTITUTION = "public_institution"
    VERIFICATION_BODY = "verification_body"
    EXCHANGE = "exchange"
    GOVERNMENT = "government"


class OrganisationStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
