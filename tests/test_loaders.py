import pytest

from kb.errors import IngestError
from kb.ingest.loaders import clean_file_name, decode_text, garbage_reason, load_bytes, parse_markdown, split_front_matter

from .files import CORRUPT_PDF, cjk_pdf, encrypted_pdf, scanned_pdf, truncated

MD = """---
title: 部署笔记
tags: [ollama, qwen]
---
部署指南
===

简介段落。

## 第一步

安装依赖：

```bash
pip install -r requirements.txt
ollama serve
```

### 细节

| 参数 | 值 |
|---|---|
| num_ctx | 4096 |

## 第三步
启动服务。
"""


def test_markdown_keeps_heading_path_front_matter_code_and_tables():
    meta, body, warnings = split_front_matter(MD)
    assert meta == {"title": "部署笔记", "tags": ["ollama", "qwen"]} and not warnings
    blocks = parse_markdown(body)
    by_kind = {b.kind: b for b in blocks}
    assert blocks[0].heading_path == ("部署指南",) and blocks[0].text == "简介段落。"
    code = by_kind["code"]
    assert code.heading_path == ("部署指南", "第一步") and "ollama serve" in code.text and code.text.startswith("```")
    table = by_kind["table"]
    assert table.heading_path == ("部署指南", "第一步", "细节") and "num_ctx" in table.text
    assert blocks[-1].heading_path == ("部署指南", "第三步") and blocks[-1].text == "启动服务。"


def test_setext_heading_is_not_front_matter():
    blocks = parse_markdown("大模型简介\n---\n\n### 人工智能\n\n正文。\n")
    assert blocks[0].heading_path == ("大模型简介", "人工智能")


def test_heading_inside_code_fence_is_code():
    blocks = parse_markdown("# A\n\n```\n# not a heading\n```\n")
    assert [b.kind for b in blocks] == ["code"] and blocks[0].heading_path == ("A",)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-16", "utf-8-sig"])
def test_chinese_text_in_legacy_encodings_decodes(encoding):
    text = "# 标题\n\n中文笔记：向量检索与重排序。"
    assert decode_text("a.md", text.encode(encoding)) == text


def test_undecodable_and_binary_text_fail_with_the_file_name():
    with pytest.raises(IngestError, match="binary") as exc:
        load_bytes("photo.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert exc.value.file == "photo.md"
    with pytest.raises(IngestError, match="empty"):
        load_bytes("empty.md", b"")
    with pytest.raises(IngestError, match="unsupported file type '.exe'"):
        load_bytes("setup.exe", b"MZ")


@pytest.mark.parametrize("name", ["../etc/passwd.md", "/abs/x.md", "a\\b.md", "a\x00.md", "x\u202egpj.md",
                                  "..", ".hidden.md", "x" * 300 + ".md", ""])
def test_dangerous_file_names_are_refused(name):
    with pytest.raises(IngestError):
        clean_file_name(name)


def test_unicode_names_are_normalised():
    assert clean_file_name("cafe\u0301 笔记.md") == "café 笔记.md"


def test_pdf_pages_are_numbered_and_wrapped_lines_rejoined():
    data = cjk_pdf(["第一页讲部署。" * 12, "第二页讲检索：向量检索和关键词检索结合使用效果更好。"])
    loaded = load_bytes("guide.pdf", data)
    blocks = list(loaded.blocks)
    assert loaded.n_pages == 2
    assert {b.page for b in blocks} == {1, 2}
    page1 = "".join(b.text for b in blocks if b.page == 1)
    assert "第一页讲部署。" * 12 == page1.replace("\n", "")
    assert not loaded.warnings


def test_encrypted_pdf_with_empty_password_opens_and_with_a_password_fails():
    plain = cjk_pdf(["加密测试文档的内容。"])
    opened = load_bytes("open.pdf", encrypted_pdf(plain, ""))
    assert "加密测试" in "".join(b.text for b in opened.blocks)
    with pytest.raises(IngestError, match="password"):
        list(load_bytes("locked.pdf", encrypted_pdf(plain, "s3cret")).blocks)


def test_scanned_pdf_says_ocr_is_not_supported():
    with pytest.raises(IngestError, match="scanned") as exc:
        list(load_bytes("scan.pdf", scanned_pdf()).blocks)
    assert "OCR" in exc.value.reason


@pytest.mark.parametrize("data", [CORRUPT_PDF, truncated(cjk_pdf(["内容"] * 3)), b"%PDF-1.4\n", b"not a pdf at all"])
def test_corrupt_or_truncated_pdf_fails_clearly(data):
    with pytest.raises(IngestError) as exc:
        list(load_bytes("broken.pdf", data).blocks)
    assert exc.value.file == "broken.pdf"
    assert "PDF" in exc.value.reason


def test_blank_pages_are_reported_as_warnings():
    loaded = load_bytes("mixed.pdf", cjk_pdf(["有文字的一页。", "", "又一页有文字。"]))
    list(loaded.blocks)
    assert any("no text" in w and "2" in w for w in loaded.warnings)


def test_garbage_detection():
    assert garbage_reason("\ufffd" * 50 + "abc") is not None
    assert garbage_reason("1234567890 .... ---- 1234") is not None
    assert garbage_reason("正常的中文文本，没有问题。") is None
    assert garbage_reason("Normal English text.") is None


# ---------------------------------------------------------------- Markdown, as a CommonMark parser reads it

def test_a_hash_line_inside_an_html_comment_is_not_a_heading():
    blocks = parse_markdown("# 正文\n\n<!--\n# 草稿标题\n待办：补充例子\n-->\n\n段落。\n")
    assert {b.heading_path for b in blocks} == {("正文",)}
    assert "待办：补充例子" in blocks[0].text  # the comment's text is kept, as text


def test_fences_with_tildes_unclosed_fences_and_indented_code_are_code():
    blocks = parse_markdown("# A\n\n~~~\n# x\n~~~\n\n    # indented code\n\n```\n# never closed\n## still code\n")
    assert [b.kind for b in blocks] == ["code", "code", "code"]
    assert {b.heading_path for b in blocks} == {("A",)}


def test_headings_nested_in_lists_or_quotes_are_text_and_titles_lose_their_markup():
    blocks = parse_markdown("## [安装](a.md) `pip` **步骤**\n\n> # 引用里的标题\n\n- # 列表里的标题\n")
    assert {b.heading_path for b in blocks} == {("安装 pip 步骤",)}
    assert [b.text for b in blocks] == ["> # 引用里的标题", "- # 列表里的标题"]


def test_a_table_without_outer_pipes_is_a_table():
    # The old line rules needed a leading `|`; GFM does not.
    blocks = parse_markdown("参数 | 值\n---|---\nnum_ctx | 4096\n")
    assert [b.kind for b in blocks] == ["table"] and "4096" in blocks[0].text


def test_text_nested_deeper_than_the_parser_follows_is_kept():
    deep = ">" * 60 + " 深处的文字\n\n" + "- " * 60 + "列表深处\n"
    text = "".join(b.text for b in parse_markdown(deep))
    assert "深处的文字" in text and "列表深处" in text


def test_thematic_breaks_are_not_blocks_and_setext_needs_a_paragraph():
    blocks = parse_markdown("第一段。\n\n---\n\n第二段。\n")
    assert [b.text for b in blocks] == ["第一段。", "第二段。"] and all(b.heading_path == () for b in blocks)


def test_cli_chunks_of_a_note_with_a_commented_heading(tmp_path):
    import json

    from .reliability.helpers import kb_cli

    note = tmp_path / "draft.md"
    note.write_text("# 正文\n\n<!--\n# 草稿标题\n-->\n\n正文的第一段，讲向量检索。\n", encoding="utf-8")
    data = tmp_path / "data"
    assert kb_cli(data, "ingest", str(note), "--kb", "notes", "--no-progress").returncode == 0
    chunks = json.loads(kb_cli(data, "chunks", "--kb", "notes", "--json").stdout)
    assert chunks and all(c["heading_path"] == ["正文"] for c in chunks)


def test_raw_html_in_a_title_is_kept_as_typed():
    blocks = parse_markdown("# 安全 <script>alert('h')</script> **注意**\n\n正文。\n")
    assert blocks[0].heading_path == ("安全 <script>alert('h')</script> 注意",)
