"""Documents on the pages: view in the browser (PDF and images only) or download. Who may read one is
the documents API's rule (store.documents.may_download); a published methodology's documents are
public like the register (api.routes.methodologies.public_document_row)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import FileResponse

from api.deps import DbSession, SettingsDep
from api.errors import Problem, not_found
from api.routes.methodologies import public_document_row
from store import documents
from store.models.documents import Document
from web.auth import PageUser
from web.pages.common import page_router

router = page_router()
# Shown inline: the browser's own PDF and image viewers run none of the file's content in this origin.
INLINE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/webp"})


def _readable(session, user, document_id: int) -> Document:
    if user is not None:
        doc = documents.visible(session, user, document_id)
        if doc is not None:
            return doc
    try:
        return public_document_row(session, document_id)
    except Problem:
        raise not_found(f"document {document_id}") from None


def _file(settings, doc: Document, disposition: str) -> FileResponse:
    return FileResponse(documents.content_path(settings.documents_dir, doc.sha256), media_type=doc.media_type,
                        filename=doc.filename, content_disposition_type=disposition,
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})


@router.get("/documents/{document_id}/view")
def view(document_id: int, session: DbSession, user: PageUser, settings: SettingsDep):
    doc = _readable(session, user, document_id)
    return _file(settings, doc, "inline" if doc.media_type in INLINE_TYPES else "attachment")


@router.get("/documents/{document_id}/download")
def download(document_id: int, session: DbSession, user: PageUser, settings: SettingsDep):
    return _file(settings, _readable(session, user, document_id), "attachment")
