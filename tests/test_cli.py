"""`python -m kb ...` in a child process, as a user or a script would run it."""
from __future__ import annotations

import json

import pytest

from .conftest import corpus_files
from .reliability.helpers import kb_cli


def test_ingest_list_inspect_delete_check(tmp_path):
    data = tmp_path / "data"
    files = [str(p) for p in corpus_files()]
    out = kb_cli(data, "ingest", *files, "--kb", "notes", "--no-progress", KB_LANG="en")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("added") >= len(files) and "knowledge base 'notes'" in out.stdout
    again = json.loads(kb_cli(data, "ingest", *files, "--kb", "notes", "--json", "--no-progress").stdout)
    assert {f["status"] for f in again["files"]} == {"unchanged"}
    kbs = json.loads(kb_cli(data, "kbs", "--json").stdout)
    assert [k["name"] for k in kbs] == ["notes"] and kbs[0]["n_documents"] == len(files)
    docs = json.loads(kb_cli(data, "docs", "--kb", "notes", "--json").stdout)
    assert sorted(d["file_name"] for d in docs) == sorted(p.name for p in corpus_files())
    chunks = json.loads(kb_cli(data, "chunks", "--kb", "notes", "--doc", docs[0]["file_name"], "--json").stdout)
    assert chunks and all(c["file_name"] == docs[0]["file_name"] for c in chunks)
    search = json.loads(kb_cli(data, "search", "RAG 为什么不需要训练模型", "--kb", "notes", "--k", "3",
                               "--json").stdout)
    assert len(search["results"]) == 3
    first = search["results"][0]
    assert {"dense_score", "dense_rank", "bm25_score", "bm25_rank", "matched_terms", "fused_score", "fused_rank",
            "passed", "locator"} <= set(first)
    deleted = kb_cli(data, "delete", docs[0]["file_name"], "--kb", "notes", "--json")
    assert deleted.returncode == 0 and json.loads(deleted.stdout)["file_name"] == docs[0]["file_name"]
    check = json.loads(kb_cli(data, "check", "--kb", "notes", "--json").stdout)
    assert check["ok"] and check["n_documents"] == len(files) - 1


def test_errors_are_clear_and_exit_2(tmp_path):
    data = tmp_path / "data"
    missing = kb_cli(data, "docs", "--kb", "nothing-here", KB_LANG="en")
    assert missing.returncode == 2 and "There is no knowledge base 'nothing-here'" in missing.stderr
    bad = kb_cli(data, "search", "x", "--kb", "notes", KB_RETRIEVAL_MODE="fuzzy", KB_LANG="en")
    assert bad.returncode == 2 and "KB_RETRIEVAL_MODE" in bad.stderr
    history = tmp_path / "h.json"
    history.write_text("not json")
    kb_cli(data, "ingest", str(corpus_files()[1]), "--kb", "notes", "--no-progress")
    out = kb_cli(data, "search", "那它呢？", "--kb", "notes", "--history", str(history), KB_LANG="en")
    assert out.returncode == 2 and "history file" in out.stderr.lower()


def test_search_with_history_expands_a_follow_up(tmp_path):
    data = tmp_path / "data"
    kb_cli(data, "ingest", str(corpus_files()[1]), "--kb", "notes", "--no-progress")
    history = tmp_path / "h.json"
    history.write_text(json.dumps([{"role": "user", "content": "LangChain 是什么？"},
                                   {"role": "assistant", "content": "一个构建语言模型应用的框架。"}],
                                  ensure_ascii=False), encoding="utf-8")
    out = json.loads(kb_cli(data, "search", "它这个名字是怎么来的？", "--kb", "notes", "--history", str(history),
                            "--json").stdout)
    assert out["used_history"] and "LangChain" in out["retrieval_query"]


def test_the_cli_speaks_chinese_under_kb_lang_zh_and_a_chinese_locale(tmp_path):
    data = tmp_path / "data"
    note = tmp_path / "a.md"
    note.write_text("# 笔记\n\n向量检索与关键词检索结合使用。\n", encoding="utf-8")
    for env in ({"KB_LANG": "zh"}, {"LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}):
        out = kb_cli(data, "ingest", str(note), "--kb", "notes", "--no-progress", **env)
        assert out.returncode == 0, out.stderr
        assert "知识库 “notes”" in out.stdout and ("新增" in out.stdout or "未变" in out.stdout)
    docs = kb_cli(data, "docs", "--kb", "notes", KB_LANG="zh")
    assert "个片段" in docs.stdout
    check = kb_cli(data, "check", "--kb", "notes", KB_LANG="zh")
    assert check.stdout.startswith("正常：")
    missing = kb_cli(data, "docs", "--kb", "nothing-here", KB_LANG="zh")
    assert missing.returncode == 2 and missing.stdout == "" and missing.stderr.startswith("错误：")
    too_long = kb_cli(data, "docs", "--kb", "名" * 80, KB_LANG="zh")
    assert too_long.returncode == 2 and too_long.stderr.startswith("错误：知识库名称") and "太长" in too_long.stderr
    english = kb_cli(data, "docs", "--kb", "nothing-here", KB_LANG="en", LANG="zh_CN.UTF-8")
    assert english.stderr.startswith("error: There is no knowledge base")
    helped = kb_cli(data, "search", "--help", KB_LANG="zh")
    assert "相关性门槛" in helped.stdout


@pytest.mark.parametrize("content", ['[{"role": "user", "content": 42}]', '{"role": "user"}', '[["user", "hi"]]',
                                     '[{"role": null, "content": "x"}]'])
def test_history_files_of_the_wrong_shape_are_coded_errors(tmp_path, content):
    history = tmp_path / "h.json"
    history.write_text(content, encoding="utf-8")
    out = kb_cli(tmp_path / "data", "search", "那它呢？", "--kb", "notes", "--history", str(history), "--json")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert json.loads(out.stdout)["code"].startswith("chat.history_") and str(history) in out.stderr


def test_a_history_file_that_is_not_utf8_is_a_coded_error(tmp_path):
    history = tmp_path / "h.json"
    history.write_bytes('[{"role": "user", "content": "你好"}]'.encode("gbk"))
    out = kb_cli(tmp_path / "data", "search", "那它呢？", "--kb", "notes", "--history", str(history), "--json")
    assert out.returncode == 2 and json.loads(out.stdout)["code"] == "cli.history.unreadable"


def test_a_closed_pipe_is_not_a_traceback(tmp_path):
    import subprocess
    import sys

    from .reliability.helpers import REPO, kb_env

    data = tmp_path / "data"
    note = tmp_path / "a.md"
    note.write_text("# 笔记\n\n" + "向量检索与关键词检索结合使用。\n\n" * 4000, encoding="utf-8")
    assert kb_cli(data, "ingest", str(note), "--kb", "notes", "--no-progress").returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "kb", "chunks", "--kb", "notes"], cwd=REPO, env=kb_env(data),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()  # the reader leaves, like `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait() in (0, 141) and "Traceback" not in err
