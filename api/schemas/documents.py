from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from domain.documents import DocumentKind


class DocumentCreated(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    sha256: str
    size: int
    media_type: str
    filename: str


class DocumentOut(DocumentCreated):
    kind: DocumentKind
    case_id: str | None
    uploaded_by_user_id: int
    owner_organisation_id: int | None
    attached_at: datetime | None
    created_at: datetime
