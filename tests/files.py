"""Generators for test files: Chinese PDFs (reportlab's built-in CID font, no font files needed),
encrypted, scanned-looking, corrupt and truncated PDFs, and text in legacy encodings."""
from __future__ import annotations

import functools
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


# ---------------------------------------------------------------- issue 11: Office, HTML, images

def docx_file(sections: list[tuple[int, str, list[str]]], table: list[list[str]] | None = None) -> bytes:
    """A Word file: (heading level, heading, paragraphs) per section, then an optional table."""
    from docx import Document

    doc = Document()
    for level, heading, paragraphs in sections:
        doc.add_heading(heading, level=level)
        for para in paragraphs:
            doc.add_paragraph(para)
    if table:
        grid = doc.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def pptx_file(slides: list[tuple[str, str]]) -> bytes:
    """A deck of (title, body) slides in the "Title and Content" layout."""
    from pptx import Presentation

    deck = Presentation()
    layout = deck.slide_layouts[1]
    for title, body in slides:
        slide = deck.slides.add_slide(layout)
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def xlsx_file(sheets: dict[str, list[list[object]]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@functools.lru_cache(maxsize=2)  # 3 s to write; two tests read it
def huge_sheet_xlsx(rows: int = 100_000, cols: int = 10) -> bytes:
    """A workbook of rows × cols numeric cells (1,000,000 by default), written as raw sheet XML (fast)."""
    import zipfile

    base = xlsx_file({"Sheet1": [["x"]]})
    letters = [chr(ord("A") + i) for i in range(cols)]
    body = "".join(f'<row r="{r}">' + "".join(f'<c r="{c}{r}"><v>{r}</v></c>' for c in letters) + "</row>"
                   for r in range(1, rows + 1))
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             f'spreadsheetml/2006/main"><dimension ref="A1:{letters[-1]}{rows}"/><sheetData>{body}</sheetData>'
             '</worksheet>')
    src = zipfile.ZipFile(io.BytesIO(base))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for entry in src.infolist():
            data = sheet.encode() if entry.filename == "xl/worksheets/sheet1.xml" else src.read(entry)
            dst.writestr(entry.filename, data)
    return out.getvalue()


def zip_bomb_docx(declared_gb: int = 4) -> bytes:
    """A .docx whose document.xml declares `declared_gb` GB uncompressed (1 GB of zeros deflates to ~1 MB,
    so the declaration is patched instead of compressing gigabytes)."""
    import struct
    import zipfile

    data = bytearray(docx_file([(1, "标题", ["正文"])]))
    size = declared_gb * 2**30 // 8  # spread over the entries below, each under 4 GiB (no zip64 needed)
    zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
    for info in zf.infolist():
        # central directory entry: patch its uncompressed-size field
        pos = data.find(b"PK\x01\x02", 0)
        while pos != -1:
            name_len = struct.unpack_from("<H", data, pos + 28)[0]
            if data[pos + 46:pos + 46 + name_len].decode() == info.filename:
                struct.pack_into("<I", data, pos + 24, min(size, 2**32 - 1))
                break
            pos = data.find(b"PK\x01\x02", pos + 4)
    return bytes(data)


def many_entries_zip(n: int = 20_000) -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        for i in range(n):
            z.writestr(f"x/{i}.xml", "")
    return out.getvalue()


def macro_enabled(data: bytes, kind: str = "word") -> bytes:
    """`data` (a .docx/.xlsx) turned macro-enabled: a vbaProject.bin part and the macroEnabled content type."""
    import zipfile

    main = {"word": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
                     "application/vnd.ms-word.document.macroEnabled.main+xml", "word/vbaProject.bin"),
            "excel": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                      "application/vnd.ms-excel.sheet.macroEnabled.main+xml", "xl/vbaProject.bin")}[kind]
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for entry in src.infolist():
            body = src.read(entry)
            if entry.filename == "[Content_Types].xml":
                body = body.replace(main[0].encode(), main[1].encode())
            dst.writestr(entry.filename, body)
        dst.writestr(main[2], b"\xd0\xcf\x11\xe0" + b"Attribute VB_Name = \"Module1\"\nSub AutoOpen()\nShell \"calc\"\nEnd Sub")
    return out.getvalue()


OLE2_ENCRYPTED = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + b"EncryptedPackage" + b"\x00" * 2000


SCAN_TEXT = [
    "知识库工作室把你的文档变成可以提问的资料库。上传文件以后，系统会把文字切成小段，",
    "为每一段计算向量，并建立关键词索引。提问时先检索最相关的段落，再交给本地模型回答，",
    "回答里的每一句话都标注出处，方便核对原文。扫描件没有文字层，需要先做光学字符识别。",
    "第三季度的销售额为三百二十万元，比上一季度增长百分之十二，其中华东地区贡献最多。",
    "如果识别的置信度较低，页面会被标记出来，请对照原始图片检查文字是否正确。",
]


def cjk_font_path() -> str | None:
    """Noto Sans CJK: the system's (fonts-noto-cjk) if installed, else the one the pip package ships."""
    import glob
    import importlib.util

    for pattern in ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                    "/usr/share/fonts/**/NotoSansCJK*.tt[cf]", "/usr/share/fonts/**/wqy-microhei.ttc"):
        found = glob.glob(pattern, recursive=True)
        if found:
            return found[0]
    spec = importlib.util.find_spec("manimgx_fonts_cjk")
    if spec and spec.submodule_search_locations:
        found = glob.glob(spec.submodule_search_locations[0] + "/*.tt[cf]")
        if found:
            return found[0]
    return None


A4 = (8.27, 11.69)  # inches
SMALL = (2.4, 2.4)  # a square page of two short lines: RapidOCR scales the short side up to 736 px, so square is cheapest


def scan_image(lines: list[str] = SCAN_TEXT, dpi: int = 150, angle: float = 0.8, noise: float = 12.0,
               seed: int = 7, size: tuple[float, float] = A4):
    """A page of `size` inches (A4) at `dpi` with `lines` in 12 pt Noto Sans CJK, rotated by `angle` degrees,
    with noise."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    path = cjk_font_path()
    if path is None:
        import pytest

        pytest.skip("no CJK font: install fonts-noto-cjk or `pip install manimgx-fonts-cjk`")
    width, height = int(size[0] * dpi), int(size[1] * dpi)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(path, size=int(12 / 72 * dpi))  # 12 pt
    margin = 1.0 if size == A4 else 0.3
    y = int(margin * dpi)
    for line in lines:
        draw.text((int(margin * 0.8 * dpi), y), line, font=font, fill=0)
        y += int(0.32 * dpi)
    page = page.rotate(angle, resample=Image.BICUBIC, fillcolor=255, expand=False)
    rng = np.random.default_rng(seed)
    pixels = np.asarray(page, dtype=np.float32) + rng.normal(0, noise, (height, width))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def scan_png(**kw) -> bytes:
    out = io.BytesIO()
    scan_image(**kw).save(out, "PNG")
    return out.getvalue()


def scan_pdf(pages: list[list[str]], dpi: int = 150, text_pages: dict[int, str] | None = None,
             size: tuple[float, float] = A4) -> bytes:
    """An image-only PDF of scanned pages (Pillow's PDF writer: no text layer); `text_pages` (0-based
    index -> text) puts real text pages in between."""
    images = [scan_image(lines, dpi=dpi, seed=7 + i, size=size).convert("RGB") for i, lines in enumerate(pages)]
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    if not text_pages:
        return out.getvalue()
    scans = PdfReader(io.BytesIO(out.getvalue()))
    writer = PdfWriter()
    for page in scans.pages:
        writer.add_page(page)
    for index, text in sorted(text_pages.items()):
        writer.insert_page(PdfReader(io.BytesIO(cjk_pdf([text]))).pages[0], index)
    merged = io.BytesIO()
    writer.write(merged)
    return merged.getvalue()


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A PNG header declaring width × height pixels with almost no data (the decompression-bomb shape)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + \
        chunk(b"IEND", b"")


def cer(expected: str, got: str) -> float:
    """Character error rate: edit distance over the expected length, whitespace ignored."""
    a = "".join(expected.split())
    b = "".join(got.split())
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] / max(1, len(a))
