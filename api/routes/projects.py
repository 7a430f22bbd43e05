"""Projects (Art. 18): registration under a published, current `project` methodology with the
eligibility checks of Art. 23 and 24; the public project list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import Applicant, DbSession
from api.errors import not_found, unprocessable
from api.idempotency import run_once
from api.public import ONE_RESPONSES, public_answer
from api.schemas.issuance import ProjectCreate, ProjectOut
from domain.clock import now_utc
from domain.rules import Refusal
from store import audit, methodology
from store.issuance import OtherRegistration, ProjectDraft, register_project
from store.models.issuance import Project

router = APIRouter(tags=["projects"])


def _version_id(session, body: ProjectCreate) -> int:
    """The methodology version the project names: by code and version number, or by id."""
    if body.methodology_code is not None or body.methodology_version is not None:
        if body.methodology_code is None or body.methodology_version is None:
            missing = "methodology_code" if body.methodology_code is None else "methodology_version"
            raise unprocessable(missing, "required", "name the methodology by its code and its version number")
        version = methodology.version(session, body.methodology_code, body.methodology_version)
        if version is None:
            raise unprocessable("methodology_code", "published",
                                f"{body.methodology_code} v{body.methodology_version} is not a published methodology")
        if body.methodology_version_id is not None and body.methodology_version_id != version.id:
            raise unprocessable("methodology_version_id", "matches_code",
                                "methodology_version_id names another version than methodology_code and version")
        return version.id
    if body.methodology_version_id is None:
        raise unprocessable("methodology_code", "required",
                            "name the methodology by methodology_code and methodology_version")
    return body.methodology_version_id


@router.post("/projects", status_code=201, response_model=ProjectOut,
             summary="Register a project (refused with 422 when ineligible: methodology, Art. 23, Art. 24)")
def create_project(
    body: ProjectCreate,
    session: DbSession,
    actor: Applicant,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
):
    assert actor.organisation_id is not None  # applicants always belong to an organisation

    def create():
        draft = ProjectDraft(
            organisation_id=actor.organisation_id, methodology_version_id=_version_id(session, body),
            name=body.name, district=body.district, site_address=body.site_address, facility_id=body.facility_id,
            start_date=body.start_date, description=body.description,
            other_registrations=tuple(OtherRegistration(**r.model_dump()) for r in body.other_registrations))
        at = now_utc()
        try:
            project = register_project(session, draft, user_id=actor.id, at=at)
        except Refusal as refusal:
            if refusal.field == "methodology_version_id" and body.methodology_code is not None:
                refusal.field = "methodology_code"  # the caller named the version by its code
            raise
        audit.record(session, action="project.registered", entity_type="project", entity_id=project.id,
                     occurred_at=at, actor_user_id=actor.id, actor_role=actor.role,
                     details={"methodology_version_id": project.methodology_version_id,
                              "facility_id": project.facility_id, "start_date": project.start_date.isoformat()})
        return ProjectOut.model_validate(project)

    return run_once(session, user=actor, scope="projects", key=idempotency_key,
                    payload=body.model_dump(mode="json"), create=create)


PUBLIC_TABLES = ("projects",)


@router.get("/projects", response_model=list[ProjectOut], summary="Public list of registered projects",
            responses=ONE_RESPONSES)
def list_projects(request: Request, session: DbSession, organisation_id: int | None = None):
    return public_answer(request, session, PUBLIC_TABLES, lambda: projects_of(session, organisation_id))


def projects_of(session: Session, organisation_id: int | None = None) -> list[ProjectOut]:
    """Registered projects, of one organisation if given (also the web page's)."""
    query = select(Project).order_by(Project.id)
    if organisation_id is not None:
        query = query.where(Project.organisation_id == organisation_id)
    return [ProjectOut.model_validate(p) for p in session.scalars(query)]


@router.get("/projects/{project_id}", response_model=ProjectOut, summary="One registered project (public)",
            responses=ONE_RESPONSES)
def get_project(project_id: int, request: Request, session: DbSession):
    def build() -> ProjectOut:
        project = session.get(Project, project_id)
        if project is None:
            raise not_found(f"project {project_id}")
        return ProjectOut.model_validate(project)

    return public_answer(request, session, PUBLIC_TABLES, build)
