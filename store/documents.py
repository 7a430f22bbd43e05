"""Documents: content-addressed storage on disk, metadata rows, attachment to cases, who may download."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from domain import documents as rules
from domain.clock import now_utc
from domain.rules import Kind, Refusal
from domain.roles import AUTHORITIES, Role
from store import audit, cases
from store.models.documents import Document
from store.models.identity import User

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredContent:
    sha256: str
    size: int
    media_type: str
    filename: str


def content_path(documents_dir: Path, sha256: str) -> Path:
    # Two-level fan-out keeps directories small.
    return documents_dir / sha256[:2] / sha256


def clean_filename(filename: str | None) -> str:
    """The name without any client path, at most 255 characters (keeping the extension)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip().replace("\x00", "")
    if len(name) > 255:
        ext = rules.extension(name)
        name = name[: 254 - len(ext)] + "." + ext if ext else name[:255]
    return name


def store_content(
    stream: BinaryIO, *, documents_dir: Path, filename: str | None, declared_type: str | None, max_bytes: int
) -> StoredContent:
    """Copy the stream to disk under its SHA-256, or refuse it (413 too large, 415 wrong type).

    The bytes go to a temporary file beside the store and are renamed into place only once they are
    complete and accepted, so a refusal or a crash never leaves a partial file at a content address.
    Equal content is kept once.
    """
    name = clean_filename(filename)
    if not name:
        raise Refusal(Kind.INVALID, "filename_required", "the uploaded file needs a filename with an extension", "file")
    tmp_dir = documents_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise Refusal(Kind.TOO_LARGE, "max_size",
                                  f"the file is larger than the limit of {max_bytes} bytes", "file")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        media_type = _accepted_type(tmp, name, declared_type)
        sha = digest.hexdigest()
        final = content_path(documents_dir, sha)
        if final.exists():
            tmp.unlink()
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)  # atomic; a concurrent upload of the same bytes writes the same file
        return StoredContent(sha256=sha, size=size, media_type=media_type, filename=name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _accepted_type(path: Path, filename: str, declared_type: str | None) -> str:
    with path.open("rb") as f:
        head = f.read(rules.HEAD_BYTES)
    members: list[str] = []
    if rules.is_zip(head):
        try:
            with zipfile.ZipFile(path) as z:
                members = z.namelist()
        except (zipfile.BadZipFile, EOFError, ValueError):  # not a readable package: no members to judge by
            members = []
    media_type = rules.check(filename, declared_type, head, members)
    if media_type is None or not _well_formed(path, media_type):
        allowed = ", ".join(sorted(rules.MEDIA_TYPE_BY_EXTENSION))
        raise Refusal(Kind.UNSUPPORTED_MEDIA_TYPE, "media_type",
                      "the file must be a PDF, office file or image whose content, extension and declared "
                      f"type agree (allowed extensions: {allowed})", "file")
    return media_type


# Legacy Office files: the stream each application's compound file must hold.
_OLE_STREAMS = {rules.DOC: ("WordDocument",), rules.XLS: ("Workbook", "Book"), rules.PPT: ("PowerPoint Document",)}
_IMAGES = {rules.PNG: "PNG", rules.JPEG: "JPEG", rules.WEBP: "WEBP", rules.TIFF: "TIFF"}
_MAX_UNPACKED = 512 * 1024 * 1024  # a zip package that claims more than this is refused unread (zip bombs)


def _well_formed(path: Path, media_type: str) -> bool:
    """Whether the whole file has the structure of its type, not only the right first bytes: a `%PDF-` header
    followed by random bytes is not a PDF."""
    try:
        if media_type == rules.PDF:
            from pypdf import PdfReader

            logging.getLogger("pypdf").setLevel(logging.ERROR)  # its repair notes are not ours to log
            return len(PdfReader(path).pages) >= 1
        if media_type in _IMAGES:
            from PIL import Image

            with Image.open(path, formats=[_IMAGES[media_type]]) as image:
                image.verify()
            return True
        if media_type in _OLE_STREAMS:
            import olefile

            with olefile.OleFileIO(str(path)) as ole:
                return any(ole.exists(stream) for stream in _OLE_STREAMS[media_type])
        with zipfile.ZipFile(path) as z:  # OOXML and OpenDocument packages
            if sum(info.file_size for info in z.infolist()) > _MAX_UNPACKED:
                return False
            return z.testzip() is None
    except Exception:  # noqa: BLE001 (any parser error means: not a well-formed file of this type)
        return False


def create(session: Session, content: StoredContent, *, kind: rules.DocumentKind, user: User) -> Document:
    doc = Document(sha256=content.sha256, size=content.size, media_type=content.media_type,
                   filename=content.filename, kind=kind.value, uploaded_by_user_id=user.id,
                   owner_organisation_id=user.organisation_id)
    session.add(doc)
    session.flush()
    audit.record(session, action="document.uploaded", entity_type="document", entity_id=doc.id,
                 occurred_at=now_utc(), actor_user_id=user.id, actor_role=user.role,
                 details={"sha256": doc.sha256, "size": doc.size, "media_type": doc.media_type, "kind": doc.kind})
    return doc


def _owns(user: User, doc: Document) -> bool:
    if doc.owner_organisation_id is not None:
        return doc.owner_organisation_id == user.organisation_id
    return doc.uploaded_by_user_id == user.id


def may_download(session: Session, user: User, doc: Document) -> bool:
    """Authorities; the uploader's organisation (or the individual uploader); anyone who may see its case."""
    if Role(user.role) in AUTHORITIES or _owns(user, doc):
        return True
    return doc.case_id is not None and cases.may_see(session, user, doc.case_id)


def visible(session: Session, user: User, document_id: int) -> Document | None:
    """The document if the user may see it; None alike for missing and hidden ones (no existence leak)."""
    doc = session.get(Document, document_id)
    return doc if doc is not None and may_download(session, user, doc) else None


def attach(session: Session, document_ids: Iterable[int], case_id: str, user: User) -> list[Document]:
    """Attach the caller's own unattached documents to a case, all or none; attaching again is harmless.

    Called by process APIs when an applicant submits; the rows are locked so two submissions cannot
    both take the same document.
    """
    ids = sorted(set(document_ids))
    if not ids:
        return []
    docs = {d.id: d for d in session.scalars(
        select(Document).where(Document.id.in_(ids)).order_by(Document.id).with_for_update())}
    not_own = [i for i in ids if i not in docs or not _owns(user, docs[i])]
    if not_own:
        raise Refusal(Kind.INVALID, "own_documents",
                      f"documents {not_own} do not exist or were not uploaded by your organisation", "document_ids")
    elsewhere = [i for i in ids if docs[i].case_id not in (None, case_id)]
    if elsewhere:
        raise Refusal(Kind.INVALID, "not_attached_elsewhere",
                      f"documents {elsewhere} are already attached to another case", "document_ids")
    when = now_utc()
    for i in ids:
        doc = docs[i]
        if doc.case_id is None:
            doc.case_id = case_id
            doc.attached_at = when
            audit.record(session, action="document.attached", entity_type="document", entity_id=doc.id,
                         case_id=case_id, occurred_at=when, actor_user_id=user.id, actor_role=user.role)
    session.flush()
    return [docs[i] for i in ids]


_REFERENCED_UNATTACHED = text("""
    SELECT d.id FROM documents d
    WHERE d.case_id IS NULL AND d.created_at < :cutoff
      AND NOT EXISTS (SELECT 1 FROM scenario_self_assessment_items i
                      WHERE i.evidence_document_ids @> to_jsonb(d.id))
      AND NOT EXISTS (SELECT 1 FROM methodology_cases c WHERE c.document_ids @> to_jsonb(d.id))
      AND NOT EXISTS (SELECT 1 FROM methodology_versions v WHERE v.document_ids @> to_jsonb(d.id))
    ORDER BY d.id
    FOR UPDATE OF d SKIP LOCKED
""")


def purge_unattached(session: Session, documents_dir: Path, *, older_than: datetime, now: datetime) -> list[int]:
    """Delete uploads never attached to a case (nor named as a self-assessment's evidence) that are older than
    `older_than`, and their content once no document uses it; returns the ids removed. Rows being attached
    right now are locked by `attach` and skipped."""
    ids = list(session.scalars(_REFERENCED_UNATTACHED, {"cutoff": older_than}))
    if not ids:
        return []
    docs = session.scalars(select(Document).where(Document.id.in_(ids))).all()
    shas = {d.sha256 for d in docs}
    for doc in docs:
        audit.record(session, action="document.purged", entity_type="document", entity_id=doc.id, occurred_at=now,
                     actor_user_id=None, actor_role="system",
                     details={"sha256": doc.sha256, "reason": "never attached to a case"})
        session.delete(doc)
    session.flush()
    still_used = set(session.scalars(select(Document.sha256).where(Document.sha256.in_(shas))))
    session.commit()
    for sha in shas - still_used:  # after the commit: a rolled-back purge never loses content
        content_path(documents_dir, sha).unlink(missing_ok=True)
    return ids
