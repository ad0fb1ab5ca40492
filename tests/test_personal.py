"""The personal eval set, the daily digest, and cancelling an ingest."""
from __future__ import annotations

import json
import threading

import pytest

from kb import KnowledgeBase
from kb.errors import KBError

from .conftest import make_settings
from .reliability.helpers import kb_cli

DOC_A = "# 部署\n\n安装 Python 3.11，然后运行 make run。\n\n## 端口\n\n界面默认在 8501 端口。\n"
DOC_B = "# 检索\n\nBM25 是关键词检索，向量检索用嵌入模型。\n"


def _files(tmp_path):
    a, b = tmp_path / "deploy.md", tmp_path / "search.md"
    a.write_text(DOC_A, encoding="utf-8")
    b.write_text(DOC_B, encoding="utf-8")
    return a, b


def test_mark_relevant_and_run_the_personal_eval(tmp_path):
    data = tmp_path / "data"
    a, b = _files(tmp_path)
    empty = kb_cli(data, "ingest", str(a), str(b), "--kb", "notes", "--no-progress")
    assert empty.returncode == 0
    none = kb_cli(data, "eval", "--kb", "notes", KB_LANG="en")
    assert none.returncode == 2 and "no question set of its own" in none.stderr
    with KnowledgeBase.open(make_settings(data), "notes") as kb:
        port = next(c for c in kb.chunks() if "8501" in c.text)
        assert kb.mark_relevant("界面在哪个端口", port.id) is True
        assert kb.mark_relevant("界面在哪个端口", port.id) is False  # once per pair
        with pytest.raises(KBError) as err:
            kb.mark_relevant("x", "no-such-chunk")
        assert err.value.code == "curate.chunk_not_found"
        report = kb.personal_eval(mode="bm25")
        assert report.n_answerable == 1 and report.hit_at[1] == 1.0
        assert kb.check().ok
    out = kb_cli(data, "eval", "--kb", "notes", "--mode", "bm25", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["hit@1"] == 1.0


def test_digest_lists_changes_with_headings_without_ollama(tmp_path, ollama_down_url):
    data = tmp_path / "data"
    a, b = _files(tmp_path)
    settings = make_settings(data, ollama={"url": ollama_down_url})
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest([a, b])
        kb.delete("search.md")
        a.write_text(DOC_A + "\n更多内容。\n", encoding="utf-8")
        kb.ingest([a])
        kb.disable_chunk(kb.chunks()[0].id)
        d = kb.digest("24h")
    by_name = {e.file_name: e for e in d.entries}
    assert by_name["deploy.md"].action == "replaced" and by_name["deploy.md"].summary == "部署"
    assert by_name["search.md"].action == "removed" and d.n_edits == 1
    assert "digest.no_model" in d.notes
    with pytest.raises(KBError):
        KnowledgeBase.open(settings, "notes").digest("yesterday")
    out = kb_cli(data, "digest", "--kb", "notes", "--since", "1h", "--no-model", KB_LANG="en")
    assert out.returncode == 0 and "removed" in out.stdout and "deploy.md" in out.stdout, out.stderr


def test_digest_summary_from_the_model(tmp_path, ollama_standin):
    ollama_standin.reply = "一份部署说明：安装、运行和端口。"
    a, _b = _files(tmp_path)
    with KnowledgeBase.open(make_settings(tmp_path / "data", ollama={"url": ollama_standin.url}), "notes") as kb:
        kb.ingest([a])
        d = kb.digest("1h")
    assert d.entries[0].summary == "一份部署说明：安装、运行和端口。" and d.entries[0].summary_from == "model"


def test_cancel_an_ingest_between_files(kb, tmp_path):
    files = []
    for i in range(4):
        f = tmp_path / f"n{i}.md"
        f.write_text(f"# 第 {i} 篇\n\n内容 {i} 各不相同 {i * 13}。\n", encoding="utf-8")
        files.append(f)
    cancel = threading.Event()

    def progress(p):
        if p.stage == "done" and p.file_index == 1:
            cancel.set()
    report = kb.ingest(files, progress=progress, cancel=cancel)
    assert [f.status for f in report.files] == ["added", "added", "failed", "failed"]
    assert report.files[2].error_code == "batch.not_done"
    assert len(kb.documents()) == 2 and kb.check().ok
