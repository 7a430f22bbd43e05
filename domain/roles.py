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


# Government organisations are the authorities' own: an applicant or data source there would file cases
# that its own organisation reviews.
_MEMBER_ORGS = frozenset({OrganisationType.ENTERPRISE, OrganisationType.SOCIAL_ORGANISATION,
                          OrganisationType.PUBLIC_INSTITUTION})

# Which organisation type a role's user must belong to; None: no organisation at all (a resident).
ROLE_ORGANISATION_TYPES: dict[Role, frozenset[OrganisationType] | None] = {
    Role.BUREAU_ADMIN: frozenset({OrganisationType.GOVERNMENT}),
    Role.OPERATOR_ADMIN: frozenset({OrganisationType.GOVERNMENT, OrganisationType.PUBLIC_INSTITUTION}),
    Role.VERIFIER: frozenset({OrganisationType.VERIFICATION_BODY}),
    Role.EXCHANGE: frozenset({OrganisationType.EXCHANGE}),
    Role.APPLICANT: _MEMBER_ORGS,
    Role.DATA_SOURCE: _MEMBER_ORGS,
    Role.EXPERT: frozenset(OrganisationType),  # an affiliation, used for conflict-of-interest checks
    Role.INDIVIDUAL: None,
}
_ORGANISATION_OPTIONAL = frozenset({Role.EXPERT})


def role_organisation_error(role: Role, org_type: OrganisationType | None) -> tuple[str, str] | None:
    """(rule, message) when a user of `role` may not belong to an organisation of `org_type`."""
    allowed = ROLE_ORGANISATION_TYPES[role]
    if org_type is None:
        if allowed is not None and role not in _ORGANISATION_OPTIONAL:
            return "required", f"role '{role.value}' needs an organisation"
        return None
    if allowed is None:
        return "role_without_organisation", f"a user with role '{role.value}' belongs to no organisation"
    if org_type not in allowed:
        return "role_organisation_type", f"role '{role.value}' cannot belong to a {org_type.value} organisation"
    return None


def may_manage_user(actor: Role, target: Role) -> bool:
    """Whether a user of role `actor` may create a user of role `target`, and so issue or revoke its tokens
    and deactivate it: the authorities administer users, and only the bureau its own administrators.
    (Everyone manages their own tokens; that is not this rule.)"""
    return actor in AUTHORITIES and (target != Role.BUREAU_ADMIN or actor == Role.BUREAU_ADMIN)
