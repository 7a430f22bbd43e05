"""Which files the registry accepts, recognised by their content (magic bytes), not by their name alone."""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum


class DocumentKind(StrEnum):
    REPORT = "report"  # methodology text, project design, monitoring or verification report
    EVIDENCE = "evidence"  # supporting evidence: certificates, contracts, photos, meter readings
    STATEMENT = "statement"  # declarations such as the benefit-sharing statement
    OTHER = "other"


PDF = "application/pdf"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
PNG = "image/png"
JPEG = "image/jpeg"
WEBP = "image/webp"
TIFF = "image/tiff"

# File extension -> the one media type a file with that extension must contain.
MEDIA_TYPE_BY_EXTENSION: dict[str, str] = {
    "pdf": PDF,
    "doc": DOC, "xls": XLS, "ppt": PPT,
    "docx": DOCX, "xlsx": XLSX, "pptx": PPTX,
    "odt": ODT, "ods": ODS,
    "png": PNG, "jpg": JPEG, "jpeg": JPEG, "webp": WEBP, "tif": TIFF, "tiff": TIFF,
}
ALLOWED_MEDIA_TYPES = frozenset(MEDIA_TYPE_BY_EXTENSION.values())

# Declared types clients commonly send for the same content; "no opinion" types are accepted too.
_DECLARED_ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG, "application/x-pdf": PDF}
UNSPECIFIC_DECLARED_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy Office compound file (doc, xls, ppt)
COMPOUND_FILE = "application/x-ole-storage"  # what `sniff` says of any legacy Office file
ZIP_MAGIC = b"PK\x03\x04"  # OOXML and OpenDocument are zip packages

# OOXML is recognised by its main part, which names the application.
_OOXML_MAIN_PART = {"word/document.xml": DOCX, "xl/workbook.xml": XLSX, "ppt/presentation.xml": PPTX}
_ODF_TYPES = (ODT, ODS)

# Bytes a caller must read from the start of a file for `sniff`.
HEAD_BYTES = 128


def extension(filename: str) -> str:
    return filename.rsplit(".", 1)[1].lower() if "." in filename else ""


def declared_media_type(content_type: str | None) -> str:
    """The bare media type a client declared, lower-cased, aliases resolved ('' when none)."""
    bare = (content_type or "").split(";", 1)[0].strip().lower()
    return _DECLARED_ALIASES.get(bare, bare)


def is_zip(head: bytes) -> bool:
    return head.startswith(ZIP_MAGIC)


def sniff(head: bytes, zip_members: Collection[str] = ()) -> str | None:
    """The media type the content is, from its first bytes (and, for zip packages, its member names).

    OpenDocument stores an uncompressed `mimetype` member first, so its type is in the head itself.
    Legacy Office files are only recognised as a compound file: the extension decides doc/xls/ppt.
    """
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if head.startswith(OLE2_MAGIC):
        return COMPOUND_FILE
    if is_zip(head):
        if head[30:38] == b"mimetype":
            for odf in _ODF_TYPES:
                if head[38:38 + len(odf)] == odf.encode():
                    return odf
            return None
        for part, media_type in _OOXML_MAIN_PART.items():
            if part in zip_members:
                return media_type
    return None


def check(filename: str, declared: str | None, head: bytes, zip_members: Collection[str] = ()) -> str | None:
    """The accepted media type, or None when the extension, the declared type and the content disagree."""
    expected = MEDIA_TYPE_BY_EXTENSION.get(extension(filename))
    if expected is None:
        return None
    found = sniff(head, zip_members)
    if found == COMPOUND_FILE and expected in (DOC, XLS, PPT):
        found = expected
    if found != expected:
        return None
    said = declared_media_type(declared)
    if said not in UNSPECIFIC_DECLARED_TYPES and said != expected:
        return None
    return expected
