"""The pure parts of the UI glue: escaping, highlighting, strings, table helpers."""
from __future__ import annotations

import re
import string
from pathlib import Path
from types import SimpleNamespace

import pytest

from kb import Chunk
from tests.conftest import REPO
from ui import jobs, render, tables
from ui.i18n import STRINGS

HOSTILE = '<script>alert(1)</script> <img src=x onerror=alert(1)> ![t](http://evil.example/t.png) :red[x] $x$'


def chunk(text: str, page: int | None = None, page_end: int | None = None, heading=(), file="a.md", pos=0) -> Chunk:
    return Chunk(id=f"id{pos}", kb="notes", doc_id="d", file_name=file, position=pos, text=text, content_hash="h",
                 page=page, page_end=page_end, heading_path=tuple(heading))


def unescaped(md: str, ch: str) -> list[int]:
    """Positions of `ch` in Markdown that are not preceded by an escaping backslash."""
    out, i = [], 0
    while i < len(md):
        if md[i] == "\\":
            i += 2
            continue
        if md[i] == ch:
            out.append(i)
        i += 1
    return out


def test_escape_md_leaves_no_markdown_or_html():
    md = render.escape_md(HOSTILE + "\n第二行 **粗体**")
    for ch in string.punctuation:
        assert not unescaped(md, ch), ch
    assert "  \n" in md  # the line break survives


def test_highlight_escapes_before_marking_terms():
    md = render.highlight_md("用 C++ 写 <b>RAG</b>，rag 很好", ["rag", "C++"])
    assert md.count(f":{render.HIGHLIGHT}[") == 3  # case-insensitive, every occurrence
    assert ":orange-background[**C\\+\\+**]" in md
    assert "\\<b\\>" in md and "<b>" not in md
    outside = re.sub(r":orange-background\[[^\]]*\]", "", md)
    for ch in "<>[]!":
        assert not unescaped(outside, ch)


def test_highlight_without_terms_is_plain_escaping():
    assert render.highlight_md("a<b", []) == render.escape_md("a<b")


def test_answer_md_removes_html_images_and_links_but_keeps_formatting():
    md = render.answer_md("**要点** [1]\n- 一 <img src=x onerror=alert(1)> ![t](http://evil.example/t.png)")
    assert md.startswith("**要点** \\[1\\]")
    assert "\\<img" in md and "\\!\\[t\\](http\\:" in md
    assert not unescaped(md, "<") and not unescaped(md, "!") and not unescaped(md, "[")


def test_answer_md_is_the_same_piece_by_piece():
    text = "资料 [2] 说 <a href='x'>链接</a> ![i](u) \\![j](v)"
    pieces = [text[i:i + 3] for i in range(0, len(text), 3)]
    assert "".join(render.escaped_pieces(pieces)) == render.answer_md(text)


def test_message_md_keeps_code_spans():
    md = render.message_md("Ollama is not reachable: start it with `ollama serve` <x>")
    assert "` ollama serve `" in md and "\\<x\\>" in md


def test_no_page_renders_raw_html():
    sources = [p.read_text(encoding="utf-8") for p in [*(REPO / "pages").glob("*.py"), *(REPO / "ui").glob("*.py"),
                                                       REPO / "streamlit_app.py"]]
    assert not any(re.search(r"unsafe_allow_html\s*=\s*True|st\.html\(|components\.v1|components\.html", s)
                   for s in sources)


@pytest.mark.parametrize("n, expected", [(None, "—"), (512, "512 B"), (2048, "2.0 KB"), (3 * 1024 ** 2, "3.0 MB")])
def test_fmt_bytes(n, expected):
    assert render.fmt_bytes(n) == expected


# -- strings -----------------------------------------------------------------------------------------


def test_every_label_has_both_languages_with_the_same_placeholders():
    for key, (zh, en) in STRINGS.items():
        assert zh and en, key
        assert set(re.findall(r"{(\w+)", zh)) == set(re.findall(r"{(\w+)", en)), key


def test_every_literal_label_used_exists():
    files = [*Path(REPO / "pages").glob("*.py"), *Path(REPO / "ui").glob("*.py"), REPO / "streamlit_app.py"]
    code = "\n".join(p.read_text(encoding="utf-8") for p in files)
    used = set(re.findall(r"""\btm?\(\s*["']([a-z_]+\.[a-z_.]+)["']""", code))
    used |= set(re.findall(r"""["'](page\.[a-z]+)["']""", code))
    assert used and not used - set(STRINGS), used - set(STRINGS)
    for prefix, names in {"status.": ["added", "unchanged", "replaced", "failed"],
                          "stage.": ["waiting", "reading", "ocr", "embedding", "saving", "done"], "mode.": ["hybrid", "dense", "bm25"],
                          "budget.": list(tables.BUDGET_PARTS), "fusion.": ["zscore", "rrf"],
                          "chat.mode_": ["docs", "chat"]}.items():
        assert all(prefix + n in STRINGS for n in names), prefix
    assert all(f"col.{name}" in STRINGS for name in re.findall(r"""col\(["'](\w+)["']\)""", code))


# -- tables and jobs ---------------------------------------------------------------------------------


def test_filter_chunks_by_document_page_heading_and_text():
    chunks = [chunk("第一页内容", page=1, file="a.pdf", pos=0), chunk("跨页的 RAG 内容", page=1, page_end=2, file="a.pdf", pos=1),
              chunk("笔记", heading=("部署", "第三步"), file="b.md", pos=2)]
    assert [c.position for c in tables.filter_chunks(chunks, "a.pdf", page=2)] == [1]
    assert [c.position for c in tables.filter_chunks(chunks, heading="第三")] == [2]
    assert [c.position for c in tables.filter_chunks(chunks, text="rag")] == [1]
    assert tables.pages_of(chunks) == [1, 2]


def test_chunk_rows_show_page_spans_and_heading_paths():
    frame = tables.chunk_rows([chunk("x" * 300, page=3, page_end=4, heading=("一", "二"))])
    row = frame.iloc[0]
    assert row[tables.col("page")] == "3–4" and row[tables.col("heading")] == "一 › 二"
    assert row[tables.col("chars")] == 300 and len(row[tables.col("text")]) == 160


@pytest.mark.parametrize("stage, done, total, expected", [("reading", 0, 0, 0.525), ("ocr", 0, 4, 0.525),
                                                          ("ocr", 4, 4, 0.55), ("embedding", 5, 10, 0.7625),
                                                          ("done", 1, 1, 1.0)])
def test_ingest_fraction_weighs_files_equally(stage, done, total, expected):
    event = SimpleNamespace(file_index=1, n_files=2, stage=stage, done=done, total=total)
    assert jobs.ingest_fraction(event) == pytest.approx(expected)


def test_the_ingest_step_counts_ocr_pages_and_names_every_stage():
    def event(stage, done=0, total=0):
        return SimpleNamespace(file_index=0, n_files=1, stage=stage, done=done, total=total)

    assert jobs.ingest_step(event("ocr", 2, 40)) == "OCR 识别 第 3/40 页"  # two read, the third being read
    assert jobs.ingest_step(event("ocr", 40, 40)) == "OCR 识别 第 40/40 页"
    assert jobs.ingest_step(event("embedding", 40, 120)) == "嵌入 40/120"
    assert jobs.ingest_step(event("waiting")) == "等待另一个写入结束"


def test_jobs_run_in_the_background_and_keep_errors():
    from kb import KBError

    ok = jobs.start("t", "notes", lambda report: (report("half"), 42)[1])
    assert ok.wait(60) and ok.result == 42 and ok.progress == "half" and ok.error is None

    def fail(report):
        raise KBError("kb.name_invalid", name="x/y")

    failed = jobs.start("t", "notes", fail)
    assert failed.wait(60) and isinstance(failed.error, KBError)  # kept whole: shown later in the session's language
    assert "x/y" in failed.error.message("zh") and "x/y" in failed.error.message("en")


def test_labels_with_values_are_rendered_through_tm():
    """A label with values formatted into a Markdown element must escape them: tm(), never t()."""
    files = [*Path(REPO / "pages").glob("*.py"), *Path(REPO / "ui").glob("*.py"), REPO / "streamlit_app.py"]
    markdown_calls = r"(markdown|caption|error|warning|info|success|subheader|title|badge|toast|button|checkbox)"
    for path in files:
        source = path.read_text(encoding="utf-8")
        assert not re.search(markdown_calls + r"""\(\s*t\(\s*["'][\w.]+["']\s*,""", source), path
        assert not re.search(r"""(help|text)=t\(\s*["'][\w.]+["']\s*,""", source), path
