"""Word, PowerPoint, Excel/CSV and HTML: real files made here, read through the registry and the facade."""
from __future__ import annotations

import pytest

from kb.errors import IngestError
from kb.ingest.loaders import load_bytes

from .files import (OLE2_ENCRYPTED, docx_file, huge_sheet_xlsx, macro_enabled, many_entries_zip, pptx_file,
                    truncated, xlsx_file, zip_bomb_docx)

WORD = docx_file([(1, "部署指南", ["本文介绍如何在本机部署知识库。"]),
                  (2, "第一步 安装", ["运行 pip install -r requirements.txt。"]),
                  (3, "离线安装", ["把 wheel 文件拷到内网机器。"]),
                  (2, "第二步 配置", ["编辑 config.toml 中的 [ollama] 一节。"])],
                 table=[["服务", "端口"], ["ollama", "11434"], ["streamlit", "8501"]])
HTML = ("<html><head><title>帮助</title><script>document.write('坏')</script><style>p{color:red}</style></head>"
        "<body><h1>用户手册</h1><p>欢迎使用。</p><h2>检索</h2><p>混合检索&amp;重排。</p><h3>BM25</h3>"
        "<p>jieba 分词<script>alert('x')</script>。</p><h2>问答</h2><ul><li>引用来源</li></ul>"
        "<table><tr><th>键</th><th>说明</th></tr><tr><td>k</td><td>返回条数</td></tr></table></body></html>")


def blocks(name, data):
    return list(load_bytes(name, data).blocks)


def test_word_headings_become_the_heading_path_and_tables_keep_their_header():
    got = blocks("指南.docx", WORD)
    paths = {b.text: b.heading_path for b in got}
    assert paths["把 wheel 文件拷到内网机器。"] == ("部署指南", "第一步 安装", "离线安装")
    assert paths["编辑 config.toml 中的 [ollama] 一节。"] == ("部署指南", "第二步 配置")
    table = [b for b in got if b.kind == "table"]
    assert table and "服务: ollama；端口: 11434" in table[0].text and "服务: streamlit；端口: 8501" in table[0].text


def test_slides_carry_their_number_and_title():
    deck = pptx_file([(f"第{i}节", f"本页要点 {i}") for i in range(1, 51)])
    loaded = load_bytes("报告.pptx", deck)
    got = list(loaded.blocks)
    assert loaded.n_pages == 50
    third = [b for b in got if b.page == 3]
    assert third and third[0].heading_path == ("第 3 张幻灯片", "第3节") and third[0].text == "本页要点 3"


def test_a_sheet_is_chunked_by_rows_with_the_header_repeated_and_never_mid_row():
    rows = [["编号", "城市", "备注"]] + [[i, f"城市{i}", "很长的说明" * 5] for i in range(1, 501)]
    got = blocks("数据.xlsx", xlsx_file({"销售": rows}))
    assert all(b.sheet == "销售" and b.heading_path == ("销售",) for b in got)  # the rows are in b.rows
    seen = []
    for b in got:
        first, last = b.rows
        lines = b.text.split("\n")
        assert len(lines) == last - first + 1 and len(b.text) <= 480
        assert all(line.startswith("编号: ") and "备注: " in line for line in lines)  # whole rows only
        seen.extend(int(line.split("；")[0].split(": ")[1]) for line in lines)
    assert seen == list(range(1, 501))
    assert got[0].rows[0] == 2  # Excel's row numbers: the header is row 1


def test_csv_is_read_like_a_sheet_in_any_encoding():
    data = "姓名,城市\n张三,北京\n李四,上海\n".encode("gb18030")
    got = blocks("名单.csv", data)
    assert got[0].text == "姓名: 张三；城市: 北京\n姓名: 李四；城市: 上海" and got[0].rows == (2, 3)


def test_html_headings_nest_and_scripts_and_styles_are_dropped():
    loaded = load_bytes("帮助.html", HTML.encode())
    got = list(loaded.blocks)
    text = "\n".join(b.text for b in got)
    assert "坏" not in text and "alert" not in text and "color" not in text
    assert loaded.metadata["title"] == "帮助"
    paths = {b.text: b.heading_path for b in got}
    assert paths["jieba 分词。"] == ("用户手册", "检索", "BM25")
    assert paths["混合检索&重排。"] == ("用户手册", "检索")
    assert paths["引用来源"] == ("用户手册", "问答")
    assert paths["键: k；说明: 返回条数"] == ("用户手册", "问答")


@pytest.mark.parametrize("name,data,code", [
    ("locked.docx", OLE2_ENCRYPTED, "ingest.office_encrypted"),
    ("broken.docx", truncated(WORD, 0.5), "ingest.office_corrupt"),
    ("broken.pptx", b"PK\x03\x04 not really", "ingest.office_corrupt"),
    ("broken.xlsx", b"hello", "ingest.office_corrupt"),
    ("bomb.docx", zip_bomb_docx(), "ingest.zip_too_large"),
    ("entries.xlsx", many_entries_zip(), "ingest.zip_too_many_entries"),
    ("huge.xlsx", huge_sheet_xlsx(), "ingest.sheet_too_many_rows"),
    ("empty.html", b"<html><script>only()</script></html>", "ingest.no_text"),
])
def test_bad_office_files_get_a_message_of_their_own(name, data, code):
    with pytest.raises(IngestError) as exc:
        blocks(name, data)
    assert exc.value.code == code and exc.value.file == name
    assert exc.value.message("zh") != exc.value.message("en")


def test_macro_enabled_files_are_read_as_text_and_say_the_macros_were_not_run():
    for name, data in (("宏.docm", macro_enabled(WORD)),
                       ("宏.xlsm", macro_enabled(xlsx_file({"S": [["a"], ["1"]]}), "excel"))):
        loaded = load_bytes(name, data)
        assert list(loaded.blocks) and loaded.warnings and "AutoOpen" not in str(loaded.warnings)


def test_every_new_format_ingests_with_the_network_blocked_and_bad_files_fail_one_by_one(kb, no_network):
    files = [("指南.docx", WORD), ("报告.pptx", pptx_file([("开场", "欢迎"), ("销售", "三季度销售额 300 万元")])),
             ("数据.xlsx", xlsx_file({"Sheet1": [["城市", "人口"], ["北京", "2189 万"]]})),
             ("名单.csv", "姓名,城市\n张三,北京\n".encode()), ("帮助.html", HTML.encode()),
             ("宏.docm", macro_enabled(WORD)), ("locked.docx", OLE2_ENCRYPTED), ("bomb.docx", zip_bomb_docx())]
    report = kb.ingest_bytes(files)
    status = {f.file_name: f.status for f in report.files}
    assert status == {**{n: "added" for n, _ in files[:6]}, "locked.docx": "failed", "bomb.docx": "failed"}
    assert no_network == []
    assert kb.check().ok
    top = [h.chunk for h in kb.search("三季度销售额").results[:5]]
    slide = [c for c in top if c.file_name == "报告.pptx" and c.page == 2]
    assert slide and slide[0].locator == "报告.pptx · 第 2 张幻灯片 · 销售" and slide[0].sheet is None


def test_a_question_about_one_row_of_a_large_sheet_finds_that_row(kb):
    cities = ["北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "西安"]
    rows = [["订单号", "城市", "金额", "状态"]] + [[f"D{i:05d}", cities[i % 8], i * 3, "已发货"] for i in range(1, 2001)]
    rows[1234][3] = "客户拒收，原因是包装破损"
    report = kb.ingest_bytes([("订单.xlsx", xlsx_file({"订单": rows}))])
    assert report.files[0].status == "added"
    top = [h.chunk for h in kb.search("哪个订单客户拒收 包装破损").results[:5]]
    hit = [c for c in top if "客户拒收" in c.text]
    first, last = hit[0].rows  # read back from the store's origin column
    assert hit[0].sheet == "订单" and first <= 1235 <= last  # row 1 is the header
    assert hit[0].locator == f"订单.xlsx · 订单 · 第 {first}–{last} 行" and not hit[0].ocr
    assert "订单号: D01234；城市: 广州；金额: 3702；状态: 客户拒收，原因是包装破损" in hit[0].text


def test_each_bad_input_fails_alone_with_a_message_naming_it_and_the_batch_goes_on(kb):
    """Issue 11's bad inputs in one batch, between good files: each fails by itself with its own message."""
    from .files import SMALL, bomb_png, scan_png

    good = [("前.md", "# 前\n\n批次开头的笔记。\n".encode()), ("中.csv", "城市,人口\n北京,2189 万\n".encode()),
            ("后.html", HTML.encode())]
    bad = [("损坏.docx", truncated(WORD, 0.5), "ingest.office_corrupt"),
           ("加密.xlsx", OLE2_ENCRYPTED, "ingest.office_encrypted"),
           ("炸弹.docx", zip_bomb_docx(), "ingest.zip_too_large"),
           ("百万格.xlsx", huge_sheet_xlsx(), "ingest.sheet_too_many_rows"),
           ("巨图.png", bomb_png(20_000, 20_000), "ingest.image_too_large"),
           ("空白.png", scan_png(lines=[], size=SMALL), "ingest.image_no_text"),
           ("只有脚本.html", b"<html><script>document.write('x')</script><style>p{}</style></html>", "ingest.no_text")]
    files = [good[0], *((n, d) for n, d, _ in bad[:4]), good[1], *((n, d) for n, d, _ in bad[4:]),
             ("宏.xlsm", macro_enabled(xlsx_file({"S": [["a"], ["1"]]}), "excel")), good[2]]
    report = kb.ingest_bytes(files)
    by_name = {f.file_name: f for f in report.files}
    assert [f.file_name for f in report.files] == [n for n, _ in files]
    for name, _, code in bad:
        result = by_name[name]
        assert (result.status, result.error_code, result.error_params["file"]) == ("failed", code, name)
        assert result.error_message("zh") != result.error_message("en") and result.error_message("en")
    macro = by_name["宏.xlsm"]
    assert macro.status == "added" and macro.warnings  # read as data, the macros never run
    assert all(by_name[n].status == "added" for n, _ in good)
    assert {d.file_name for d in kb.documents()} == {"前.md", "中.csv", "后.html", "宏.xlsm"}
    assert kb.check().ok
    assert not any("document.write" in c.text or "alert" in c.text for c in kb.chunks("后.html"))
