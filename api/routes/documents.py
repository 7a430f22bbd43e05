"""Upload and download of reports and evidence (issue: documents; SPEC §3 privacy)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.deps import CurrentUser, DbSession, SettingsDep, ensure_may_act
from api.errors import Problem, not_found, unprocessable
from api.idempotency import run_once
from api.schemas.documents import DocumentCreated, DocumentOut
from domain.documents import DocumentKind
from domain.rules import Kind, Refusal
from store import documents
from store.models.documents import Document

router = APIRouter(prefix="/documents", tags=["documents"])

# Room for multipart boundaries and part headers on top of the file itself.
_MULTIPART_OVERHEAD = 16 * 1024

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "PDF, doc/docx, xls/xlsx, ppt/pptx, odt/ods, png, jpeg, webp or tiff"},
                "kind": {"type": "string", "enum": [k.value for k in DocumentKind], "default": "other"},
            },
        }}},
    }
}


def _too_large(limit: int) -> Refusal:
    return Refusal(Kind.TOO_LARGE, "max_size", f"the file is larger than the limit of {limit} bytes", "file")


async def _capped(stream: AsyncIterator[bytes], cap: int, limit: int) -> AsyncIterator[bytes]:
    """The request body, cut off once it is certainly too large, so an oversize upload is never spooled whole."""
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > cap:
            raise _too_large(limit)
        yield chunk


@router.post("", status_code=201, response_model=DocumentCreated, openapi_extra=_UPLOAD_BODY,
             summary="Upload a report or evidence (multipart field `file`, optional `kind`)")
async def upload_document(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
):
    ensure_may_act(user)
    limit = settings.max_upload_bytes
    cap = limit + _MULTIPART_OVERHEAD
    declared_length = request.headers.get("content-length", "")
    if declared_length.isdigit() and int(declared_length) > cap:
        raise _too_large(limit)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise Problem(415, "Unsupported media type", "send the file as multipart/form-data",
                      field="file", rule="multipart")
    try:
        form = await MultiPartParser(request.headers, _capped(request.stream(), cap, limit),
                                     max_files=1, max_fields=2, max_part_size=1024).parse()
    except MultiPartException as exc:
        raise unprocessable("file", "multipart", exc.message)
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise unprocessable("file", "required", "a file part named 'file' is required")
        kind_value = form.get("kind") or DocumentKind.OTHER.value
        if kind_value not in {k.value for k in DocumentKind}:
            raise unprocessable("kind", "enum", f"kind must be one of {', '.join(k.value for k in DocumentKind)}")
        content = await run_in_threadpool(
            documents.store_content, file.file, documents_dir=settings.documents_dir, filename=file.filename,
            declared_type=file.content_type, max_bytes=limit)
    finally:
        await form.close()

    kind = DocumentKind(kind_value)

    def create() -> DocumentCreated:
        return DocumentCreated.model_validate(documents.create(session, content, kind=kind, user=user))

    # The content is already stored (idempotently, by address); the key de-duplicates the row.
    payload = {"sha256": content.sha256, "filename": content.filename, "kind": kind.value}
    return await run_in_threadpool(run_once, session, user=user, scope="documents", key=idempotency_key,
                                   payload=payload, create=create)


def _visible(session, user, document_id: int) -> Document:
    doc = documents.visible(session, user, document_id)
    if doc is None:
        raise not_found(f"document {document_id}")
    return doc


@router.get("/{document_id}", response_model=DocumentOut, summary="Metadata of a document")
def get_document(document_id: int, session: DbSession, user: CurrentUser):
    return _visible(session, user, document_id)


def file_response(settings, doc: Document) -> FileResponse:
    # Always an attachment and never sniffed: uploaded content must not render in the platform's origin.
    return FileResponse(documents.content_path(settings.documents_dir, doc.sha256), media_type=doc.media_type,
                        filename=doc.filename, headers={"X-Content-Type-Options": "nosniff"})


@router.get("/{document_id}/content", response_class=FileResponse, summary="Download a document's content")
def download_document(document_id: int, session: DbSession, user: CurrentUser, settings: SettingsDep):
    return file_response(settings, _visible(session, user, document_id))
