"""Small but well-formed files of every accepted type, for upload tests (uploads are checked for structure)."""

from __future__ import annotations

import io
import struct
import uuid

from PIL import Image
from pypdf import PdfWriter


def pdf(text: str | None = None) -> bytes:
    """A one-page PDF; `text` (default: random) goes into its metadata so each call differs."""
    writer = PdfWriter()
    writer.add_blank_page(width=72, height=72)
    writer.add_metadata({"/Title": text or uuid.uuid4().hex})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (uuid.uuid4().bytes[0], 120, 40)).save(out, format=fmt)
    return out.getvalue()


def ole(stream: str = "WordDocument") -> bytes:
    """A minimal compound file (legacy doc/xls/ppt container) holding one 4096-byte stream."""
    sector = 512
    end, free, fat_mark = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
    header = bytearray(sector)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)  # minor, major, byte order, 512 B, 64 B mini
    struct.pack_into("<I", header, 44, 1)  # one FAT sector
    struct.pack_into("<I", header, 48, 1)  # directory starts at sector 1
    struct.pack_into("<I", header, 56, 4096)  # mini stream cutoff
    struct.pack_into("<IIII", header, 60, end, 0, end, 0)  # no mini FAT, no DIFAT sectors
    struct.pack_into("<I", header, 76, 0)  # the FAT is sector 0
    for i in range(1, 109):
        struct.pack_into("<I", header, 76 + 4 * i, free)
    fat = [fat_mark, end] + [3, 4, 5, 6, 7, 8, 9, end] + [free] * (128 - 10)
    fat_sector = struct.pack("<128I", *fat)

    def entry(name: str, kind: int, start: int, size: int, child: int = free) -> bytes:
        raw = bytearray(128)
        encoded = (name + "\0").encode("utf-16-le")
        raw[0:len(encoded)] = encoded
        struct.pack_into("<HBB", raw, 64, len(encoded), kind, 1)  # name length, type, black
        struct.pack_into("<III", raw, 68, free, free, child)
        struct.pack_into("<II", raw, 116, start, size)
        return bytes(raw)

    directory = (entry("Root Entry", 5, end, 0, child=1) + entry(stream, 2, 2, 4096)
                 + bytes(128) * 2)
    data = uuid.uuid4().bytes * 256
    return bytes(header) + fat_sector + directory + data
