"""Routers per area, in the order they appear in the OpenAPI document."""

from api.routes import (
    accounts,
    audit,
    calendar,
    documents,
    experts,
    health,
    identity,
    issuance,
    methodologies,
    notifications,
    policy,
    projects,
    reference_lists,
    reviews,
    scenarios,
    workflows_admin,
)

ROUTERS = [
    health.router,
    identity.router,
    audit.router,
    calendar.router,
    policy.router,
    documents.router,
    notifications.router,
    experts.router,
    reviews.router,
    workflows_admin.router,
    methodologies.router,
    scenarios.router,
    reference_lists.router,
    projects.router,
    issuance.router,
    accounts.router,
]
