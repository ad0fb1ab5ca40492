"""Where a chunk came from (sheet, rows, OCR and its confidence): in the store's `origin` column, in
`kb search --json`, in citations, through curation, reindex, rebuild, export/import, and in a format-3
knowledge base made by the code before the column existed (tests/data/kb_v3, see make_kb_v3.py)."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from kb import KnowledgeBase
from kb.store import FORMAT_VERSION

from .conftest import make_settings
from .files import pptx_file, scan_png, xlsx_file
from .reliability.helpers import kb_cli

V3 = Path(__file__).parent / "data" / "kb_v3"
ROWS = [["城市", "人口"]] + [[f"城市{i}", f"{i} 万"] for i in range(1, 31)]


def _v3_copy(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(V3, data / "kbs" / "v3")
    return data


def _origins(folder: Path) -> dict[str, str | None]:
    conn = sqlite3.connect(folder / "kb.sqlite")
    try:
        return dict(conn.execute("SELECT c.id, c.origin FROM chunks c"))
    finally:
        conn.close()


def test_a_format_3_knowledge_base_gets_the_origin_column_on_open(tmp_path):
    data = _v3_copy(tmp_path)
    folder = data / "kbs" / "v3"
    conn = sqlite3.connect(folder / "kb.sqlite")
    assert "origin" not in {r[1] for r in conn.execute("PRAGMA table_info(chunks)")}  # really format 3
    conn.close()
    settings = make_settings(data)
    with KnowledgeBase.open(settings, "v3", read_only=True) as kb:  # read-only: not migrated, still readable
        assert all(c.sheet is None and not c.ocr for c in kb.chunks())
    with KnowledgeBase.open(settings, "v3") as kb:
        sheet = kb.chunks("数据.xlsx")
        assert [(c.sheet, c.rows, c.heading_path) for c in sheet] == [("Sheet1", (2, 24), ("Sheet1",)),
                                                                        ("Sheet1", (25, 31), ("Sheet1",))]
        scan = kb.chunks("扫描.png")
        assert scan[0].ocr and scan[0].ocr_confidence == 1.0 and scan[0].heading_path == ()
        assert [c.origin() for c in kb.chunks("说明.pdf")] == [None]
        states = {s.chunk.id: s.disabled for s in kb.chunk_states("数据.xlsx")}
        assert states[sheet[1].id] is True  # the curation of format 3 is kept
        assert kb.check().ok
        migrated = {c.id: c.to_dict() for c in kb.chunks()}
        kb.reindex()  # the loaders of today make the same origins the migration read from the old labels
        again = {c.id: c.to_dict() for c in kb.chunks()}
        assert {k: (v["sheet"], v["rows"], v["ocr"], v["heading_path"]) for k, v in again.items()} == \
            {k: (v["sheet"], v["rows"], v["ocr"], v["heading_path"]) for k, v in migrated.items()}
    assert json.loads((folder / "manifest.json").read_text())["format_version"] == FORMAT_VERSION == 4
    stored = _origins(folder)
    assert json.loads(stored[sheet[0].id]) == {"sheet": "Sheet1", "rows": [2, 24]}
    assert json.loads(stored[scan[0].id])["ocr"] is True


def test_origin_is_one_json_object_with_absent_keys_left_out(kb):
    kb.ingest_bytes([("数据.xlsx", xlsx_file({"Sheet1": ROWS})), ("报告.pptx", pptx_file([("开场", "欢迎"),
                                                                                    ("销售", "三季度 300 万")]))])
    stored = _origins(kb.store.folder)
    by_id = {c.id: c for c in kb.chunks()}
    for chunk_id, value in stored.items():
        chunk = by_id[chunk_id]
        if chunk.file_name == "报告.pptx":
            assert value is None  # a slide's number is its page
        else:
            origin = json.loads(value)
            assert set(origin) == {"sheet", "rows"} and origin["sheet"] == "Sheet1"
            assert origin["rows"] == list(chunk.rows) and origin["rows"][0] <= origin["rows"][1]
    slides = kb.chunks("报告.pptx")
    assert [c.locator for c in slides] == ["报告.pptx · 第 1 张幻灯片 · 开场", "报告.pptx · 第 2 张幻灯片 · 销售"]
    assert kb.chunks("数据.xlsx")[0].locator == "数据.xlsx · Sheet1 · 第 2–24 行"


def test_edits_disable_rebuild_and_export_import_keep_the_origin(tmp_path):
    data = tmp_path / "data"
    settings = make_settings(data)
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest_bytes([("数据.xlsx", xlsx_file({"Sheet1": ROWS})),
                         ("扫描.png", scan_png(lines=["第三季度的销售额为三百二十万元。"]))])
        before = {(c.file_name, c.position): c.origin() for c in kb.chunks()}
        assert any(o and o.get("ocr") for o in before.values()) and any(o and o.get("sheet") for o in before.values())
        first, second = kb.chunks("数据.xlsx")[:2]
        edited = kb.edit_chunk(first.id, "城市: 手改；人口: 1 万")
        assert edited.chunk.rows == first.rows and edited.chunk.sheet == "Sheet1"
        kb.disable_chunk(second.id)
        kb.reindex()
        after = {(c.file_name, c.position): c.origin() for c in kb.chunks()}
        assert after == before
        assert kb.chunks("数据.xlsx")[0].text == "城市: 手改；人口: 1 万"
    KnowledgeBase.rebuild(settings, "notes")
    with KnowledgeBase.open(settings, "notes") as kb:
        assert {(c.file_name, c.position): c.origin() for c in kb.chunks()} == before
        kb.export_archive(tmp_path / "notes.tar")
    KnowledgeBase.import_archive(settings, tmp_path / "notes.tar", as_name="copy")
    with KnowledgeBase.open(settings, "copy") as kb:
        assert {(c.file_name, c.position): c.origin() for c in kb.chunks()} == before
        assert kb.check().ok


def test_search_json_carries_page_sheet_rows_and_ocr(tmp_path):
    data = tmp_path / "data"
    files = tmp_path / "in"
    files.mkdir()
    rows = ROWS + [["拉萨", "客户拒收，包装破损"]]
    (files / "数据.xlsx").write_bytes(xlsx_file({"Sheet1": rows}))
    (files / "季报.png").write_bytes(scan_png(lines=["第三季度的销售额为三百二十万元。"]))
    out = kb_cli(data, "ingest", str(files / "数据.xlsx"), str(files / "季报.png"), "--kb", "notes", "--no-progress")
    assert out.returncode == 0, out.stderr
    out = kb_cli(data, "search", "客户拒收 包装破损", "--kb", "notes", "--json")
    hit = next(r for r in json.loads(out.stdout)["results"] if "拒收" in r["chunk"]["text"])["chunk"]
    assert hit["sheet"] == "Sheet1" and hit["rows"][0] <= 32 <= hit["rows"][1] and hit["ocr"] is False
    assert hit["ocr_confidence"] is None and hit["page"] is None
    assert hit["locator"] == f"数据.xlsx · Sheet1 · 第 {hit['rows'][0]}–{hit['rows'][1]} 行"
    out = kb_cli(data, "search", "第三季度销售额", "--kb", "notes", "--json")
    scan = next(r for r in json.loads(out.stdout)["results"] if r["chunk"]["file_name"] == "季报.png")["chunk"]
    assert scan["ocr"] is True and 0 < scan["ocr_confidence"] <= 1 and scan["page"] == 1 and scan["sheet"] is None


@pytest.mark.parametrize("kind,heading,expected", [
    ("xlsx", ["Sheet1", "第 12–20 行"], ({"sheet": "Sheet1", "rows": [12, 20]}, ["Sheet1"])),
    ("csv", ["名单", "第 3 行"], ({"sheet": "名单", "rows": [3, 3]}, ["名单"])),
    ("pdf", ["OCR 识别（置信度 0.71，置信度低）"], ({"ocr": True, "ocr_confidence": 0.71}, [])),
    ("image", ["OCR 识别"], ({"ocr": True}, [])),
    ("markdown", ["笔记", "第 3 行"], None),  # only the documents that could have had the labels
    ("pdf", ["第 3 行"], None),
])
def test_the_migration_reads_exactly_the_labels_format_3_wrote(kind, heading, expected):
    from kb.store.origin import origin_from_heading

    assert origin_from_heading(kind, heading) == expected
