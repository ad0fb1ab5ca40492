"""Reviewing OCR text: page thumbnails drawn once from the stored original, confidence marks held
against [ocr] low_confidence, and a long OCR job cancelled between pages. Scans are small square
pages made here (Noto CJK text rendered with Pillow, saved as an image-only PDF)."""
from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from kb import KBError, KnowledgeBase
from kb.ingest.formats import thumbnails

from .conftest import make_settings
from .files import SMALL, bomb_png, scan_pdf, scan_png

PAGES = [["第一页：安装步骤。", "先装依赖再启动。"], ["第二页：销售额三百万。", "华东地区最多。"],
         ["第三页：常见问题。", "请检查服务。"]]
HANG_GUARD_S = 300  # only so a broken build fails instead of hanging; nothing is timed against it


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """A knowledge base holding a two-page scanned PDF, a scanned PNG and a Markdown note."""
    data = tmp_path_factory.mktemp("ocr_review") / "data"
    files = [("扫描.pdf", scan_pdf(PAGES[:2], size=SMALL)), ("扫描.png", scan_png(lines=PAGES[2], size=SMALL)),
             ("笔记.md", "# 笔记\n\n普通文字，不经过 OCR。\n".encode())]
    with KnowledgeBase.open(make_settings(data), "notes") as kb:
        report = kb.ingest_bytes(files)
    assert [f.status for f in report.files] == ["added"] * 3, report
    return data


def open_kb(data, **sections):
    return KnowledgeBase.open(make_settings(data, **sections), "notes")


def test_a_page_thumbnail_is_drawn_from_the_original_once_and_then_read_from_the_cache(scanned, monkeypatch):
    drawn = []
    real = thumbnails.render
    monkeypatch.setattr(thumbnails, "render", lambda *a, **kw: drawn.append(a[2]) or real(*a, **kw))
    with open_kb(scanned) as kb:
        first = kb.page_thumbnail("扫描.pdf", 2)
        again = kb.page_thumbnail("扫描.pdf", 2)
        image = kb.page_thumbnail("扫描.png")
    with open_kb(scanned) as kb:  # another process or session: the cache is on disk
        assert kb.page_thumbnail("扫描.pdf", 2) == first
    assert drawn == [2, 1] and first == again
    page = Image.open(io.BytesIO(first))
    assert page.format == "PNG" and page.width == thumbnails.WIDTH and page.height <= thumbnails.MAX_SIDE
    assert Image.open(io.BytesIO(image)).width <= thumbnails.WIDTH
    assert len(list((scanned / "cache" / "thumbnails").glob("*-p2-w320.png"))) == 1


def test_thumbnail_errors_name_the_file_in_both_languages(scanned, tmp_path):
    with open_kb(scanned) as kb:
        for document, page, code in (("扫描.pdf", 9, "thumbnail.no_such_page"), ("扫描.png", 2, "thumbnail.no_such_page"),
                                     ("笔记.md", 1, "thumbnail.no_page_image"), ("无此文件.pdf", 1, "kb.document_not_found")):
            with pytest.raises(KBError) as exc:
                kb.page_thumbnail(document, page)
            assert exc.value.code == code and document in exc.value.message("zh") and document in exc.value.message("en")
    with pytest.raises(KBError) as exc:  # a decompression bomb is refused from its header, as at ingest
        thumbnails.render("image", bomb_png(20_000, 20_000), 1, 320, file="巨图.png")
    assert exc.value.code == "thumbnail.too_large" and "巨图.png" in str(exc.value)
    with pytest.raises(KBError) as exc:
        thumbnails.render("pdf", b"%PDF-1.4 broken", 1, 320, file="坏.pdf")
    assert exc.value.code == "thumbnail.unreadable"


def test_a_missing_original_says_to_ingest_the_file_again(tmp_path):
    with KnowledgeBase.open(make_settings(tmp_path / "data"), "notes") as kb:
        kb.ingest_bytes([("一页.png", scan_png(lines=PAGES[0][:1], size=SMALL))])
        doc = kb.document("一页.png")
        kb.originals.path(doc.file_hash, doc.file_name).unlink()
        with pytest.raises(KBError) as exc:
            kb.page_thumbnail("一页.png")
    assert exc.value.code == "thumbnail.no_original" and "一页.png" in exc.value.message("en")


def test_ocr_marks_hold_chunk_and_page_confidence_against_the_setting(scanned):
    with open_kb(scanned) as kb:
        marks = kb.ocr_marks()
        chunks = {c.id: c for c in kb.chunks()}
    assert {m.file_name for m in marks.values()} == {"扫描.pdf", "扫描.png"}
    assert all(chunks[i].ocr for i in marks) and not any(c.ocr for c in chunks.values() if c.id not in marks)
    assert {m.page for m in marks.values() if m.file_name == "扫描.pdf"} == {1, 2}
    assert all(m.page_confidence > 0.8 and m.threshold == 0.8 and not m.low for m in marks.values())
    with open_kb(scanned, ocr={"low_confidence": 0.9999}) as kb:  # config.toml [ocr] low_confidence
        strict = kb.ocr_marks("扫描.pdf")
    assert strict and all(m.low and m.lowest < 0.9999 for m in strict.values())


def test_cancel_during_ocr_keeps_what_committed_and_reports_the_scan_not_done(kb, tmp_path):
    """Ingest waits on the progress callback reporting OCR page 1, cancels, and the job stops before page 2."""
    files = [("先.md", "# 先\n\n先导入的笔记。\n".encode()), ("长扫描.pdf", scan_pdf(PAGES, size=SMALL, text_pages={0: "目录页"})),
             ("后.md", "# 后\n\n没有轮到的笔记。\n".encode())]
    cancel, page_one_read, cancelled = threading.Event(), threading.Event(), threading.Event()
    ocr_progress: list[tuple[int, int]] = []

    def progress(p):
        if p.stage == "ocr":
            ocr_progress.append((p.done, p.total))
            if p.done == 1:
                page_one_read.set()
                assert cancelled.wait(HANG_GUARD_S)  # hold the job here until the cancel is in

    out = {}
    job = threading.Thread(target=lambda: out.setdefault("report", kb.ingest_bytes(files, progress, cancel=cancel)))
    job.start()
    assert page_one_read.wait(HANG_GUARD_S), "OCR never reported page 1"
    cancel.set()
    cancelled.set()
    job.join(HANG_GUARD_S)
    report = out["report"]
    status = {f.file_name: (f.status, f.error_code) for f in report.files}
    assert status == {"先.md": ("added", None), "长扫描.pdf": ("failed", "ingest.ocr_cancelled"),
                      "后.md": ("failed", "batch.not_done")}
    scan = report.files[1]
    assert scan.error_params["page"] == 2 and scan.error_params["total"] == 3
    assert "长扫描.pdf" in scan.error_params["file"] and "OCR" in scan.error_message("en")
    assert ocr_progress == [(0, 3), (1, 3)]  # the three scanned pages, not the text page
    assert [d.file_name for d in kb.documents()] == ["先.md"] and kb.check().ok
