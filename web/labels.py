"""Names shown for stored codes (stages, case types, roles, votes): English message ids, translated on
the page. A code without a label is shown as it is."""

from __future__ import annotations

from web.i18n import N_

STAGES = {
    # methodology (SPEC §2.2)
    "completeness_check": N_("Completeness check"),
    "returned": N_("Returned for amendment"),
    "panel_review": N_("Expert panel review"),
    "revision": N_("Revision"),
    "publication_decision": N_("Publication decision"),
    "published": N_("Published"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
    # scenario (SPEC §2.3)
    "checking": N_("Self-assessment check"),
    "in_review": N_("In expert review"),
    "awaiting_decision": N_("Awaiting decision"),
    "refused": N_("Refused"),
    "expired": N_("Expired"),
    # issuance (SPEC §2.4)
    "awaiting_verifier": N_("Awaiting the verifier"),
    "verifier_declined": N_("Verifier declined"),
    "verification": N_("Verification"),
    "correction": N_("Correction"),
    "publicity": N_("Publicity"),
    "awaiting_application": N_("Awaiting the registration application"),
    "evaluation": N_("Expert evaluation"),
    "decision": N_("Bureau decision"),
    "issued": N_("Issued"),
    # panel review and its tasks (SPEC §2.1)
    "awaiting_panel": N_("Awaiting the panel"),
    "awaiting_replacement": N_("Awaiting a replacement expert"),
    "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
    "open": N_("Open"),
    "decided": N_("Decided"),
    "recused": N_("Recused"),
    "replaced": N_("Replaced"),
    # re-evaluation of a published methodology (Art. 11)
    "confirmed": N_("Confirmed"),
    "revised": N_("Revised: new version published"),
    "retired": N_("Retired"),
}

CASE_TYPES = {
    "methodology": N_("Methodology"),
    "methodology_reevaluation": N_("Methodology re-evaluation"),
    "scenario": N_("Scenario"),
    "issuance": N_("Reduction issuance"),
    "review": N_("Panel review"),
    "cancellation": N_("Cancellation"),
}

ROLES = {
    "bureau_admin": N_("Ecology and environment bureau"),
    "operator_admin": N_("Platform operator"),
    "expert": N_("Expert committee member"),
    "applicant": N_("Applicant"),
    "verifier": N_("Verifier"),
    "individual": N_("Resident"),
    "data_source": N_("Data source"),
    "exchange": N_("Exchange"),
}

VOTES = {"approve": N_("Approve"), "revise": N_("Revise"), "reject": N_("Reject")}

# Who the case waits for at each stage, told to the applicant on its own case list.
WAITING_FOR = {
    "completeness_check": N_("The bureau checks the submission is complete."),
    "returned": N_("You amend and resubmit."),
    "panel_review": N_("The expert panel reviews."),
    "revision": N_("You revise and resubmit before the deadline."),
    "publication_decision": N_("The bureau decides on publication."),
    "checking": N_("The operator checks the self-assessment."),
    "in_review": N_("The expert panel reviews."),
    "awaiting_decision": N_("The operator decides."),
    "awaiting_verifier": N_("The commissioned verifier accepts or declines."),
    "verifier_declined": N_("You commission another verifier."),
    "verification": N_("The verifier verifies the report."),
    "correction": N_("You amend the accounting report."),
    "publicity": N_("The public may object until the publicity ends."),
    "awaiting_application": N_("You submit the registration application."),
    "evaluation": N_("The expert panel evaluates."),
    "decision": N_("The bureau decides."),
    "published": N_("The operator issues the reductions."),
}


def _pick(table: dict[str, str], code: str | None) -> str:
    return table.get(code or "", code or "—")


def stage(code: str | None) -> str:
    return _pick(STAGES, code)


def case_type(code: str | None) -> str:
    return _pick(CASE_TYPES, code)


def role(code: str | None) -> str:
    return _pick(ROLES, code)


def vote(code: str | None) -> str:
    return _pick(VOTES, code)


def waiting_for(code: str | None) -> str:
    return WAITING_FOR.get(code or "", "")


# The ledger (SPEC §2.6): unit states, cancellation statuses and purposes (Art. 29).
LEDGER = {
    "held": N_("Held"),
    "reserved": N_("Reserved for cancellation"),
    "frozen": N_("Frozen"),
    "retired": N_("Retired by cancellation"),
    "confirmed": N_("Confirmed"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
    "event": N_("Offsetting an event"),
    "annual_neutrality": N_("Annual neutrality of a scenario"),
    "donation": N_("Donation to public welfare"),
    "other": N_("Other"),
}


def ledger(code: str | None) -> str:
    return _pick(LEDGER, code)


# Scenario categories and Wuhan's districts (SPEC §2.3; domain.scenario).
CATEGORIES = {
    "shop_supermarket": N_("Shop or supermarket"),
    "restaurant": N_("Restaurant"),
    "hotel": N_("Hotel"),
    "scenic_spot": N_("Scenic spot"),
    "public_facility": N_("Public facility"),
    "other": N_("Other"),
}

DISTRICTS = {
    "jiang_an": N_("Jiang'an District"),
    "jiang_han": N_("Jianghan District"),
    "qiao_kou": N_("Qiaokou District"),
    "han_yang": N_("Hanyang District"),
    "wu_chang": N_("Wuchang District"),
    "qing_shan": N_("Qingshan District"),
    "hong_shan": N_("Hongshan District"),
    "dong_xi_hu": N_("Dongxihu District"),
    "han_nan": N_("Hannan District"),
    "cai_dian": N_("Caidian District"),
    "jiang_xia": N_("Jiangxia District"),
    "huang_pi": N_("Huangpi District"),
    "xin_zhou": N_("Xinzhou District"),
    "east_lake_high_tech": N_("East Lake High-tech Development Zone"),
    "economic_development": N_("Wuhan Economic and Technological Development Zone"),
    "east_lake_scenic": N_("East Lake Scenic Area"),
}


def category(code: str | None) -> str:
    return _pick(CATEGORIES, code)


def district(code: str | None) -> str:
    return _pick(DISTRICTS, code)


# Supervision (SPEC §2.7, Art. 33, 34), annual neutrality (Art. 17) and personal accounts (Art. 22).
SUPERVISION = {
    "awaiting_assignment": N_("Awaiting a handler"),
    "awaiting_acknowledgement": N_("Awaiting acknowledgement"),
    "investigating": N_("Being investigated"),
    "concluded": N_("Concluded"),
    "suspend": N_("Suspension"),
    "terminate": N_("Termination"),
    "imposing": N_("Being imposed"),
    "in_force": N_("In force"),
    "terminated": N_("Terminated"),
    "lifting": N_("Being lifted"),
    "lifted": N_("Lifted"),
    "open": N_("Open"),
    "met": N_("Met"),
    "late": N_("Met late"),
    "unmet": N_("Not met"),
}


def supervision(code: str | None) -> str:
    return _pick(SUPERVISION, code)
