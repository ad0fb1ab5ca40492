"""Generators for test files: Chinese PDFs (reportlab's built-in CID font, no font files needed),
encrypted, scanned-looking, corrupt and truncated PDFs, and text in legacy encodings."""
from __future__ import annotations

import io
import textwrap

from pypdf import PdfReader, PdfWriter


def cjk_pdf(pages: list[str], width: int = 34) -> bytes:
    """A text PDF with one entry of `pages` per page, wrapped at `width` characters a line."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    for text in pages:
        c.setFont("STSong-Light", 12)
        y = 800
        for para in text.split("\n"):
            for line in textwrap.wrap(para, width) or [""]:
                c.drawString(50, y, line)
                y -= 16
                if y < 40:
                    break
        c.showPage()
    c.save()
    return buf.getvalue()


def scanned_pdf(n_pages: int = 2) -> bytes:
    """Pages with drawings but no text layer, as a scan without OCR looks to a text extractor."""
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    for i in range(n_pages):
        c.rect(50, 50 + i * 10, 400, 600, fill=1)
        c.showPage()
    c.save()
    return buf.getvalue()


def encrypted_pdf(source: bytes, user_password: str) -> bytes:
    reader = PdfReader(io.BytesIO(source))
    writer = PdfWriter()
    for page in reader.pages:
        writer.add_page(page)
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def truncated(data: bytes, keep: float = 0.4) -> bytes:
    return data[: int(len(data) * keep)]


CORRUPT_PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\n" + bytes(range(256)) * 20


def _pdf_with(objects: list[bytes]) -> bytes:
    """A minimal PDF with a correct xref table around the given object bodies."""
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


def deeply_nested_pdf(depth: int = 20000) -> bytes:
    """A page dictionary holding arrays nested `depth` deep: recursion bait for parsers."""
    content = b"BT /F1 12 Tf 72 712 Td (Hello) Tj ET"
    nested = b"[" * depth + b"]" * depth
    return _pdf_with([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                      b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Foo " + nested + b" >>",
                      b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"])


def blank_pages_pdf(n: int = 5000) -> bytes:
    """Thousands of empty pages: must fail fast ("no text layer"), not hang."""
    writer = PdfWriter()
    for _ in range(n):
        writer.add_blank_page(612, 792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
