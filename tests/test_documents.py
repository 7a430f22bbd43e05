"""Documents: upload, content-addressed storage, type and size refusals, who may download, attaching to cases."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import func, select, update

from api.app import create_app
from domain.contracts.cases import CaseAccessGrant, CaseMirror
from domain.rules import Refusal
from domain.roles import OrganisationStatus, Role
from store import cases, documents
from store.models.audit import AuditEvent
from store.models.documents import Document
from store.models.identity import Organisation
from tests import sample_files

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def pdf(extra: bytes = b"") -> bytes:
    return sample_files.pdf(extra.hex() if extra else None)


def pdf_of_size(size: int) -> bytes:
    """A well-formed PDF of exactly `size` bytes (its title is the padding)."""
    title = "x"
    for _ in range(5):  # offsets in the file grow by a digit now and then: converge
        content = sample_files.pdf(title)
        if len(content) == size:
            return content
        title = "x" * max(1, len(title) + size - len(content))
    raise AssertionError(f"no PDF of {size} bytes")


def png() -> bytes:
    return sample_files.image("PNG")


def ooxml(main_part: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr(main_part, "<document/>" + os.urandom(8).hex())
    return buf.getvalue()


def odf(media_type: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), media_type, compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", "<office/>" + os.urandom(8).hex())
    return buf.getvalue()


def files_on_disk(settings) -> set[str]:
    root = settings.documents_dir
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


async def upload(client, actor, content: bytes, filename: str = "report.pdf", media_type: str = "application/pdf",
                 **data) -> httpx.Response:
    return await client.post("/api/v1/documents", files={"file": (filename, content, media_type)}, data=data,
                             headers=actor.headers)


def document_count(db) -> int:
    return db.scalar(select(func.count()).select_from(Document))


async def test_upload_and_download_round_trip(client, make_actor, settings, db):
    applicant = make_actor(Role.APPLICANT)
    content = pdf()
    r = await upload(client, applicant, content, filename="监测报告.pdf", kind="report")
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["sha256"] == hashlib.sha256(content).hexdigest()
    assert (doc["size"], doc["media_type"], doc["filename"]) == (len(content), "application/pdf", "监测报告.pdf")

    meta = await client.get(f"/api/v1/documents/{doc['id']}", headers=applicant.headers)
    assert meta.status_code == 200
    assert meta.json()["kind"] == "report" and meta.json()["case_id"] is None
    assert meta.json()["owner_organisation_id"] == applicant.user.organisation_id

    got = await client.get(f"/api/v1/documents/{doc['id']}/content", headers=applicant.headers)
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == doc["sha256"]
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("attachment; filename*=utf-8''")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert (settings.documents_dir / doc["sha256"][:2] / doc["sha256"]).read_bytes() == content
    upload_events = db.scalars(select(AuditEvent).where(AuditEvent.action == "document.uploaded")).all()
    assert [e.entity_id for e in upload_events] == [str(doc["id"])]


def _case_id(value):
    # Bytes are partly random: name a case by its file name and type, so every xdist worker collects the
    # same test ids (pytest numbers duplicates).
    return "content" if isinstance(value, bytes) else None


@pytest.mark.parametrize(("filename", "media_type", "content"), [
    ("plan.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     ooxml("word/document.xml")),
    ("data.xlsx", "application/octet-stream", ooxml("xl/workbook.xml")),
    ("slides.pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation",
     ooxml("ppt/presentation.xml")),
    ("text.odt", "application/vnd.oasis.opendocument.text", odf("application/vnd.oasis.opendocument.text")),
    ("sheet.ods", "application/vnd.oasis.opendocument.spreadsheet", odf("application/vnd.oasis.opendocument.spreadsheet")),
    ("old.doc", "application/msword", sample_files.ole("WordDocument")),
    ("photo.JPG", "image/jpeg", sample_files.image("JPEG")),
    ("scan.webp", "image/webp", sample_files.image("WEBP")),
    ("scan.tif", "image/tiff", sample_files.image("TIFF")),
    ("meter.png", "image/png", png()),
], ids=_case_id)
async def test_office_files_and_images_are_accepted(client, make_actor, filename, media_type, content):
    applicant = make_actor(Role.APPLICANT)
    r = await upload(client, applicant, content, filename=filename, media_type=media_type, kind="evidence")
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == filename


async def test_equal_content_is_stored_once(client, make_actor, settings, db):
    a, b = make_actor(Role.APPLICANT), make_actor(Role.APPLICANT)
    content = pdf()
    before = files_on_disk(settings)
    first = await upload(client, a, content, filename="a.pdf")
    second = await upload(client, b, content, filename="b.pdf")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert first.json()["sha256"] == second.json()["sha256"]
    assert files_on_disk(settings) - before == {f"{first.json()['sha256'][:2]}/{first.json()['sha256']}"}
    assert document_count(db) == 2


@pytest.mark.parametrize(("filename", "media_type", "content"), [
    ("report.pdf", "application/pdf", b"just some text pretending to be a PDF"),
    ("report.pdf", "application/pdf", png()),  # content is an image
    ("meter.png", "application/pdf", png()),  # declared type disagrees
    ("meter.jpg", "image/jpeg", png()),  # extension disagrees
    ("archive.docx", "application/octet-stream", ooxml("random/thing.xml")),  # a zip, not a Word file
    ("tool.exe", "application/octet-stream", b"MZ\x90\x00" + os.urandom(64)),
    ("notes.txt", "text/plain", b"hello"),
    ("noextension", "application/pdf", pdf()),
    ("empty.pdf", "application/pdf", b""),
], ids=_case_id)
async def test_wrong_type_is_refused_with_415_and_nothing_stored(client, make_actor, settings, db, filename,
                                                                  media_type, content):
    applicant = make_actor(Role.APPLICANT)
    before = files_on_disk(settings)
    r = await upload(client, applicant, content, filename=filename, media_type=media_type)
    assert r.status_code == 415, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "file" and r.json()["errors"][0]["rule"] == "media_type"
    assert document_count(db) == 0
    assert files_on_disk(settings) == before


async def test_non_multipart_body_is_refused_with_415(client, make_actor):
    applicant = make_actor(Role.APPLICANT)
    r = await client.post("/api/v1/documents", content=pdf(), headers={**applicant.headers,
                                                                       "Content-Type": "application/pdf"})
    assert r.status_code == 415 and r.json()["errors"][0]["rule"] == "multipart"


@pytest.fixture
async def small_client(temporal_env, session_factory, settings):
    """An app whose upload limit is 1000 bytes."""
    app = create_app(settings.model_copy(update={"max_upload_bytes": 1000}), session_factory=session_factory,
                     temporal_client=temporal_env.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def test_oversize_is_refused_with_413_and_nothing_stored(small_client, make_actor, settings, db):
    applicant = make_actor(Role.APPLICANT)
    exactly = await upload(small_client, applicant, pdf_of_size(1000))
    assert exactly.status_code == 201 and exactly.json()["size"] == 1000
    before = files_on_disk(settings)
    # Just over the limit: refused while copying; far over: refused from Content-Length before reading.
    for size in (1001, 200_000):
        r = await upload(small_client, applicant, pdf_of_size(size))
        assert r.status_code == 413, r.text
        assert r.json()["errors"][0] == {"field": "file", "rule": "max_size",
                                         "message": "the file is larger than the limit of 1000 bytes"}
    assert document_count(db) == 1
    assert files_on_disk(settings) == before


async def test_oversize_body_without_length_is_cut_off(small_client, make_actor, settings, db):
    applicant = make_actor(Role.APPLICANT)
    request = small_client.build_request("POST", "/api/v1/documents", files={"file": ("big.pdf", pdf(b"x" * 100_000))},
                                         headers=applicant.headers)
    body = request.read()

    sent = []

    async def chunked():  # a streamed body: no Content-Length to refuse it by
        for i in range(0, len(body), 4096):
            sent.append(i)
            yield body[i:i + 4096]

    before = files_on_disk(settings)
    headers = {**applicant.headers, "Content-Type": request.headers["content-type"]}
    r = await small_client.post("/api/v1/documents", content=chunked(), headers=headers)
    assert r.status_code == 413 and r.json()["errors"][0]["rule"] == "max_size"
    assert len(sent) * 4096 < len(body) // 2  # stopped reading long before the end
    assert document_count(db) == 0 and files_on_disk(settings) == before


async def test_upload_refusals_401_403_422(client, make_actor, make_org, session_factory):
    r = await client.post("/api/v1/documents", files={"file": ("a.pdf", pdf(), "application/pdf")})
    assert r.status_code == 401
    applicant = make_actor(Role.APPLICANT)
    r = await upload(client, applicant, pdf(), kind="selfie")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"
    r = await client.post("/api/v1/documents", data={"kind": "report"}, files={"other": ("a.pdf", pdf())},
                          headers=applicant.headers)
    assert r.status_code == 422 and r.json()["errors"][0] == {
        "field": "file", "rule": "required", "message": "a file part named 'file' is required"}
    suspended = make_actor(Role.APPLICANT, org=make_org(status=OrganisationStatus.SUSPENDED))
    r = await upload(client, suspended, pdf())
    assert r.status_code == 403


async def test_upload_with_idempotency_key_creates_once(client, make_actor, db):
    applicant = make_actor(Role.APPLICANT)
    content = pdf()
    headers = {**applicant.headers, "Idempotency-Key": "upload-1"}
    send = lambda name: client.post("/api/v1/documents", files={"file": (name, content, "application/pdf")},  # noqa: E731
                                    headers=headers)
    first, again = await send("a.pdf"), await send("a.pdf")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    assert document_count(db) == 1
    other = await send("b.pdf")
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_others_get_404_and_authorities_see_everything(client, make_actor, bureau, operator, db):
    owner = make_actor(Role.APPLICANT)
    colleague = make_actor(Role.APPLICANT, org=db.get(Organisation, owner.user.organisation_id))
    stranger = make_actor(Role.APPLICANT)
    doc_id = (await upload(client, owner, pdf())).json()["id"]
    missing = await client.get("/api/v1/documents/999999", headers=stranger.headers)
    for path in (f"/api/v1/documents/{doc_id}", f"/api/v1/documents/{doc_id}/content"):
        hidden = await client.get(path, headers=stranger.headers)
        assert hidden.status_code == 404
        assert hidden.json()["title"] == missing.json()["title"] == "Not found"
        for allowed in (colleague, bureau, operator):
            assert (await client.get(path, headers=allowed.headers)).status_code == 200


async def test_individuals_upload_and_only_they_see_it(client, make_actor, operator):
    resident, neighbour = make_actor(Role.INDIVIDUAL), make_actor(Role.INDIVIDUAL)
    r = await upload(client, resident, png(), filename="ticket.png", media_type="image/png", kind="evidence")
    assert r.status_code == 201
    path = f"/api/v1/documents/{r.json()['id']}/content"
    assert (await client.get(path, headers=resident.headers)).status_code == 200
    assert (await client.get(path, headers=neighbour.headers)).status_code == 404
    assert (await client.get(path, headers=operator.headers)).status_code == 200


def _open_case(session_factory, case_id: str, owner_org_id: int) -> None:
    with session_factory() as s, s.begin():
        cases.mirror(s, CaseMirror(case_id=case_id, case_type="methodology", stage="submitted", occurred_at=T0,
                                   owner_organisation_id=owner_org_id))


def _attach(session_factory, ids, case_id, actor):
    with session_factory() as s, s.begin():
        return [d.id for d in documents.attach(s, ids, case_id, s.get(type(actor.user), actor.id))]


def _grant(session_factory, **grant) -> None:
    with session_factory() as s, s.begin():
        cases.grant(s, CaseAccessGrant(case_id="methodology-1", granted_at=T0, **grant))


async def test_granted_expert_and_verifier_download_attached_documents(client, make_actor, session_factory, db):
    applicant = make_actor(Role.APPLICANT)
    expert, verifier = make_actor(Role.EXPERT), make_actor(Role.VERIFIER)
    doc_id = (await upload(client, applicant, pdf())).json()["id"]
    _open_case(session_factory, "methodology-1", applicant.user.organisation_id)
    path = f"/api/v1/documents/{doc_id}/content"
    assert (await client.get(path, headers=expert.headers)).status_code == 404  # before attaching
    assert _attach(session_factory, [doc_id], "methodology-1", applicant) == [doc_id]
    assert (await client.get(path, headers=expert.headers)).status_code == 404  # not yet on the panel
    _grant(session_factory, capacity="expert", user_id=expert.id)
    got = await client.get(path, headers=expert.headers)
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    meta = await client.get(f"/api/v1/documents/{doc_id}", headers=expert.headers)
    assert meta.json()["case_id"] == "methodology-1"
    # The commissioned verifier body sees it; once access is revoked the expert no longer does.
    assert (await client.get(path, headers=verifier.headers)).status_code == 404
    _grant(session_factory, capacity="verifier", organisation_id=verifier.user.organisation_id)
    assert (await client.get(path, headers=verifier.headers)).status_code == 200
    _grant(session_factory, capacity="expert", user_id=expert.id, revoke=True)
    assert (await client.get(path, headers=expert.headers)).status_code == 404
    attached = db.scalars(select(AuditEvent).where(AuditEvent.action == "document.attached")).all()
    assert [(e.entity_id, e.case_id) for e in attached] == [(str(doc_id), "methodology-1")]


async def test_attach_refusals_and_repeat(client, make_actor, session_factory, db):
    applicant, stranger = make_actor(Role.APPLICANT), make_actor(Role.APPLICANT)
    mine = (await upload(client, applicant, pdf())).json()["id"]
    other = (await upload(client, applicant, pdf())).json()["id"]
    theirs = (await upload(client, stranger, pdf())).json()["id"]

    with pytest.raises(Refusal) as refused:
        _attach(session_factory, [mine, theirs], "methodology-1", applicant)
    assert (refused.value.status, refused.value.field, refused.value.rule) == (422, "document_ids", "own_documents")
    assert str(theirs) in refused.value.message
    with pytest.raises(Refusal) as refused:
        _attach(session_factory, [mine, 999999], "methodology-1", applicant)
    assert refused.value.rule == "own_documents"
    # All or nothing: the refused calls attached nothing.
    assert db.scalar(select(func.count()).select_from(Document).where(Document.case_id.is_not(None))) == 0

    assert _attach(session_factory, [mine, mine], "methodology-1", applicant) == [mine]
    assert _attach(session_factory, [mine], "methodology-1", applicant) == [mine]  # a retried submission
    with pytest.raises(Refusal) as refused:
        _attach(session_factory, [other, mine], "methodology-2", applicant)
    assert (refused.value.field, refused.value.rule) == ("document_ids", "not_attached_elsewhere")
    assert str(mine) in refused.value.message
    assert db.get(Document, other).case_id is None
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "document.attached")) == 1


async def test_organisation_colleagues_attach_each_others_uploads(client, make_actor, session_factory, db):
    applicant = make_actor(Role.APPLICANT)
    colleague = make_actor(Role.APPLICANT, org=db.get(Organisation, applicant.user.organisation_id))
    doc_id = (await upload(client, applicant, pdf())).json()["id"]
    assert _attach(session_factory, [doc_id], "scenario-7", colleague) == [doc_id]


@pytest.mark.parametrize(("filename", "media_type", "content"), [
    ("report.pdf", "application/pdf", b"%PDF-1.7\n" + os.urandom(2048)),  # the header alone is not a PDF
    ("report.pdf", "application/pdf", sample_files.pdf()[:-200]),  # cut short
    ("meter.png", "image/png", b"\x89PNG\r\n\x1a\n" + os.urandom(64)),
    ("photo.jpg", "image/jpeg", b"\xff\xd8\xff\xe0" + os.urandom(64)),
    ("old.doc", "application/msword", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(600)),
    ("old.xls", "application/vnd.ms-excel", sample_files.ole("WordDocument")),  # a compound file, not a workbook
    ("plan.docx", "application/octet-stream", ooxml("word/document.xml")[:-30]),  # a broken package
], ids=_case_id)
async def test_only_well_formed_files_are_accepted(client, make_actor, filename, media_type, content):
    """Issue 10: type checks read the whole structure, not only the first bytes."""
    applicant = make_actor(Role.APPLICANT)
    r = await client.post("/api/v1/documents", headers=applicant.headers,
                          files={"file": (filename, content, media_type)})
    assert r.status_code == 415, r.text
    assert r.json()["errors"][0] == {"field": "file", "rule": "media_type", "message": r.json()["detail"]}


async def test_uploads_never_attached_are_purged_after_the_retention_period(client, make_actor, settings,
                                                                         session_factory, monkeypatch):
    """Issue 10: unattached uploads do not stay on disk for ever; attached ones and named evidence stay."""
    from cli.main import main as cli_main
    from settings import get_settings

    applicant = make_actor(Role.APPLICANT)
    shared = pdf(b"shared")
    stale = (await upload(client, applicant, pdf(b"stale"))).json()["id"]
    stale_twin = (await upload(client, applicant, shared)).json()["id"]
    fresh_twin = (await upload(client, applicant, shared, filename="again.pdf")).json()["id"]
    attached = (await upload(client, applicant, pdf(b"attached"))).json()["id"]
    _open_case(session_factory, "case-purge-1", applicant.user.organisation_id)
    _attach(session_factory, [attached], "case-purge-1", applicant)
    with session_factory() as s, s.begin():
        s.execute(update(Document).where(Document.id.in_([stale, stale_twin, attached]))
                  .values(created_at=datetime.now(timezone.utc) - timedelta(hours=73)))
        stale_sha = s.get(Document, stale).sha256
    assert stale_sha[2:] in {p.split("/")[-1][2:] for p in files_on_disk(settings)}

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TANPUHUI_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        assert cli_main(["documents", "purge"]) == 0
    finally:
        get_settings.cache_clear()
    with session_factory() as s:
        left = set(s.scalars(select(Document.id)))
        purged = s.scalars(select(AuditEvent.entity_id).where(AuditEvent.action == "document.purged")).all()
    assert left == {fresh_twin, attached}
    assert sorted(purged) == sorted([str(stale), str(stale_twin)])
    on_disk = {p.split("/")[-1] for p in files_on_disk(settings)}
    assert stale_sha not in on_disk  # its content went with it
    with session_factory() as s:
        assert s.get(Document, fresh_twin).sha256 in on_disk  # content another document still uses stays
    assert (await client.get(f"/api/v1/documents/{fresh_twin}/content", headers=applicant.headers)).status_code == 200
