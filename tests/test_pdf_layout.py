"""PDF headings from font size and weight: real PDFs drawn with reportlab, read with pypdf."""
from __future__ import annotations

import io
from collections import Counter

from kb.config import ChunkingSettings
from kb.ingest.pipeline import prepare
from kb.ingest.loaders import clean_pdf_text, fold_cjk_compat
from kb.ingest.pdf_layout import Line, heading_rank, page_headings, push_heading

BODY = ("服务器启动之后会先读取配置文件，然后按照顺序加载每一个模块，加载失败的模块会被记录在日志里面，"
        "管理员可以根据日志中的提示逐个排查问题。")


def styled_pdf(pages: list[list[tuple[str, float, str]]]) -> bytes:
    """Pages of (font, size, text) lines: a heading is just a line in a larger or bold font."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    for lines in pages:
        y = 800
        for font, size, text in lines:
            c.setFont(font, size)
            c.drawString(40, y, text)
            y -= size * 1.8
        c.showPage()
    c.save()
    return buf.getvalue()


def body(n: int) -> list[tuple[str, float, str]]:
    return [("STSong-Light", 11, BODY[i * 30:(i + 1) * 30] or BODY[:30]) for i in range(n)]


def test_headings_come_from_font_size_and_nest_like_markdown():
    pdf = styled_pdf([
        [("STSong-Light", 20, "第 3 章 系统初始化"), *body(2), ("STSong-Light", 15, "3.1 启动过程"), *body(3),
         ("STSong-Light", 15, "3.2 服务管理"), *body(3)],
        [*body(2), ("STSong-Light", 13, "3.2.1 查看日志"), *body(3), ("Helvetica-Bold", 11, "Options"), *body(2)],
    ])
    prepared = prepare("t", "init.pdf", pdf, ChunkingSettings(size=480, overlap=80, min_chars=20))
    paths = [c.heading_path for c in prepared.chunks]
    assert ("第 3 章 系统初始化", "3.1 启动过程") in paths
    assert ("第 3 章 系统初始化", "3.2 服务管理") in paths  # a sibling closes 3.1
    assert ("第 3 章 系统初始化", "3.2 服务管理", "3.2.1 查看日志") in paths  # carried over the page break
    assert ("第 3 章 系统初始化", "3.2 服务管理", "3.2.1 查看日志", "Options") in paths  # bold at body size
    for chunk in prepared.chunks:  # a chunk never holds two sections' text
        others = {p[-1] for p in paths} - {chunk.heading_path[-1]}
        assert not any(o in chunk.text for o in others if len(o) > 4), chunk
    assert prepared.embed_inputs[1].startswith("第 3 章 系统初始化 > 3.1 启动过程")  # the embedder's header


def test_body_text_and_sentences_are_never_headings():
    sizes: Counter[float] = Counter({10.5: 5000})
    assert heading_rank(Line("3.1. 启动过程概述", 14.0, 0.0, 9), 10.5) == 14.0
    assert heading_rank(Line("这是一句正文。", 14.0, 0.0, 7), 10.5) is None  # ends like a sentence
    assert heading_rank(Line("正文" * 40, 14.0, 0.0, 80), 10.5) is None  # too long for a title
    assert heading_rank(Line("选项", 10.5, 1.0, 2), 10.5) == 10.49  # bold at body size, just below
    assert heading_rank(Line("部分加粗", 10.5, 0.5, 4), 10.5) is None
    assert page_headings([Line("描述", 14.0, 0.0, 2), Line("正文" * 10, 10.5, 0, 20)], sizes) == {"描述": 14.0}
    path: list[tuple[float, str]] = []
    for rank, title in ((18, "章"), (14, "节一"), (12, "小节"), (14, "节二")):
        push_heading(path, rank, title)
    assert [t for _, t in path] == ["章", "节二"]


def test_cjk_lookalikes_fold_to_ordinary_characters_but_punctuation_stays():
    assert fold_cjk_compat("⽤⼾⽂档") == "用戶文档"  # Kangxi radicals (⼾ folds to NFKC's 戶)
    assert fold_cjk_compat("说明：（见下文），好吗？") == "说明：（见下文），好吗？"  # full-width punctuation kept
    assert clean_pdf_text("⽂件系统") == "文件系统"
