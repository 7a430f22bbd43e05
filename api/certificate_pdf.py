"""The cancellation certificate (注销证明) as a one-page PDF, rendered from its stored facts.

Chinese text uses reportlab's built-in Adobe CID font STSong-Light (UniGB-UCS2-H): nothing to ship or
download, and text extraction gives the characters back. The page carries the verification URL both
as text and as a QR code, so anyone can check it against the public register.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from domain.clock import SHANGHAI

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
SEAL_LINES = ("武汉市碳普惠登记平台（运营管理机构）注销确认专用", "Wuhan Carbon-Inclusion Registry (operator): cancellation confirmed")


def _wrap(text: str, width: float, size: float) -> list[str]:
    """Break a line to fit `width` (character by character: Chinese has no spaces to break at)."""
    lines, current = [], ""
    for ch in text:
        if pdfmetrics.stringWidth(current + ch, FONT, size) > width and current:
            lines.append(current)
            current = ""
        current += ch
    return [*lines, current] if current else lines


def render_certificate(cert: dict[str, Any]) -> bytes:
    """`cert` is the public certificate answer (api.routes.ledger.certificate_out)."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1)  # invariant: the same certificate gives the same bytes
    c.setTitle(f"碳普惠减排量注销证明 {cert['number']}")
    c.setAuthor("武汉市碳普惠登记平台")
    width, height = A4
    left, right = 25 * mm, width - 25 * mm
    c.setLineWidth(1.5)
    c.rect(15 * mm, 15 * mm, width - 30 * mm, height - 30 * mm)
    c.setFont(FONT, 22)
    c.drawCentredString(width / 2, height - 40 * mm, "碳普惠减排量注销证明")
    c.setFont(FONT, 12)
    c.drawCentredString(width / 2, height - 48 * mm, "Certificate of Cancellation of Carbon-Inclusion Reductions")
    c.drawCentredString(width / 2, height - 56 * mm, f"证书编号 No. {cert['number']}")

    issued: datetime = cert["issued_at"]
    local = issued.astimezone(SHANGHAI)
    fields = [
        ("受益方 Beneficiary", cert["beneficiary"]),
        ("注销用途 Purpose", cert["purpose"] + (f"：{cert['purpose_text']}" if cert.get("purpose_text") else "")),
        ("注销数量 Quantity", f"{cert['quantity']} 吨二氧化碳当量 (tCO2e)"),
        ("注销日期 Date", f"{local.year}年{local.month}月{local.day}日 ({local.date().isoformat()})"),
        ("序列号 Serial numbers", "；".join(cert["serial_ranges"])),
    ]
    y = height - 75 * mm
    label_w = 45 * mm
    for label, value in fields:
        c.setFont(FONT, 11)
        c.drawString(left, y, label)
        for line in _wrap(value, right - left - label_w, 11) or [""]:
            c.drawString(left + label_w, y, line)
            y -= 7 * mm
        y -= 3 * mm

    c.setFont(FONT, 10)
    y -= 4 * mm
    for line in _wrap("上述碳普惠减排量已由运营管理机构依据《武汉市碳普惠体系管理办法（试行）》第二十九条予以注销确认，"
                      "自注销之日起不得再交易、转让或重复使用。 The reductions above are cancelled and retired for ever "
                      "(Art. 29); they can never be traded or used again.", right - left, 10):
        c.drawString(left, y, line)
        y -= 6 * mm

    # Verification: URL and QR code of the public answer.
    qr = QrCodeWidget(cert["verification_url"])
    x0, y0, x1, y1 = qr.getBounds()
    size = 38 * mm
    d = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    d.add(qr)
    renderPDF.draw(d, c, right - size, 30 * mm)
    c.setFont(FONT, 9)
    c.drawString(left, 52 * mm, "查验 Verify:")
    for i, line in enumerate(_wrap(cert["verification_url"], right - left - size - 5 * mm, 9)):
        c.drawString(left, 46 * mm - i * 5 * mm, line)
    c.setFont(FONT, 11)
    for i, line in enumerate(SEAL_LINES):
        c.drawString(left, 32 * mm - i * 6 * mm, line)
    c.showPage()
    c.save()
    return buf.getvalue()
