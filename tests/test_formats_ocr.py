"""Images and scanned PDF pages through RapidOCR: scans rendered here from Chinese text (Noto CJK,
150 dpi, rotated 0.8°, Gaussian noise), as PNG and wrapped in a PDF with a real text page between."""
from __future__ import annotations

import pytest

from kb.errors import IngestError
from kb.ingest.loaders import load_bytes

from .files import SCAN_TEXT, bomb_png, cer, cjk_pdf, scan_pdf, scan_png, scanned_pdf


def test_a_scanned_png_is_read_in_order_with_its_confidence():
    loaded = load_bytes("扫描.png", scan_png())
    got = list(loaded.blocks)
    text = "".join(b.text for b in got)
    assert cer("".join(SCAN_TEXT), text) <= 0.05
    assert all(b.page == 1 and b.ocr and b.ocr_confidence and b.ocr_confidence > 0.8 for b in got)
    assert got[0].heading_path == ()  # the OCR origin is in its own fields, not in the heading
    assert loaded.metadata["ocr_pages"]["1"] > 0.8


def test_only_the_pages_without_a_text_layer_go_to_ocr():
    text_page = "这一页本来就有文字层，应当原样保留，不经过光学字符识别。"
    pdf = scan_pdf([SCAN_TEXT, SCAN_TEXT[::-1]], text_pages={1: text_page})
    loaded = load_bytes("混合.pdf", pdf)
    got = list(loaded.blocks)
    by_page = {}
    for b in got:
        by_page.setdefault(b.page, []).append(b)
    assert sorted(by_page) == [1, 2, 3]
    assert all(b.ocr_confidence is None and not b.ocr for b in by_page[2]) and text_page in "".join(b.text for b in by_page[2])
    assert cer("".join(SCAN_TEXT), "".join(b.text for b in by_page[1])) <= 0.05
    assert cer("".join(SCAN_TEXT[::-1]), "".join(b.text for b in by_page[3])) <= 0.05
    assert set(loaded.metadata["ocr_pages"]) == {"1", "3"} and not loaded.warnings


def test_a_pdf_of_vector_drawings_still_says_it_has_no_text():
    with pytest.raises(IngestError, match="scanned"):
        list(load_bytes("scan.pdf", scanned_pdf()).blocks)


@pytest.mark.parametrize("name,data,code", [
    ("巨图.png", bomb_png(20_000, 20_000), "ingest.image_too_large"),
    ("较大.png", bomb_png(8_000, 8_000), "ingest.image_too_large"),  # under Pillow's guard, over ours
    ("空白.png", None, "ingest.image_no_text"),
    ("坏图.jpg", b"\xff\xd8\xff\xe0 not a jpeg", "ingest.image_corrupt"),
])
def test_bad_images_get_a_message_naming_the_file(name, data, code):
    if data is None:
        data = scan_png(lines=[])
    with pytest.raises(IngestError) as exc:
        load_bytes(name, data)
    assert exc.value.code == code and exc.value.file == name


def test_a_question_answered_on_one_scanned_page_finds_it(kb, no_network):
    pages = [["本页介绍系统的安装步骤，先安装依赖，再启动服务。"], ["第三季度的销售额为三百二十万元，华东地区贡献最多。"],
             ["常见问题：如果模型没有响应，请检查服务是否启动。"]]
    report = kb.ingest_bytes([("季报扫描.pdf", scan_pdf(pages)), ("其他.pdf", cjk_pdf(["与销售无关的说明文字。" * 5]))])
    assert [f.status for f in report.files] == ["added", "added"]
    top = [h.chunk for h in kb.search("第三季度销售额是多少").results[:5]]
    hit = [c for c in top if c.file_name == "季报扫描.pdf" and c.page == 2]
    assert hit and hit[0].ocr and hit[0].ocr_confidence > 0.8 and hit[0].locator == "季报扫描.pdf p.2 · OCR"
    assert not any(c.ocr for c in kb.chunks("其他.pdf"))
    assert no_network == []


def test_reading_order_is_lines_top_to_bottom_then_left_to_right_with_paragraph_confidence():
    from kb.ingest.formats.ocr import reading_order

    def box(x, y, w=40, h=10):
        return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]

    shuffled = [(box(0, 60), "丁", 0.7), (box(60, 1), "乙", 0.5), (box(0, 14), "丙", 1.0), (box(0, 0), "甲", 0.9)]
    got = reading_order(shuffled)
    assert [t for t, _ in got] == ["甲乙丙", "丁"]  # 甲 and 乙 share a line; a wide gap starts a paragraph
    assert got[0][1] == pytest.approx(0.8) and got[1][1] == pytest.approx(0.7)


@pytest.mark.parametrize("fmt,name", [("JPEG", "扫描.jpg"), ("WEBP", "扫描.webp")])
def test_jpeg_and_webp_scans_are_read_too(fmt, name):
    import io

    from .files import scan_image

    out = io.BytesIO()
    scan_image(lines=SCAN_TEXT[:2]).save(out, fmt, quality=85)
    text = "".join(b.text for b in load_bytes(name, out.getvalue()).blocks)
    assert cer("".join(SCAN_TEXT[:2]), text) <= 0.05
