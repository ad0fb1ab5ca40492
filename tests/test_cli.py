"""`python -m kb ...` in a child process, as a user or a script would run it."""
from __future__ import annotations

import json

from .conftest import corpus_files
from .reliability.helpers import kb_cli


def test_ingest_list_inspect_delete_check(tmp_path):
    data = tmp_path / "data"
    files = [str(p) for p in corpus_files()]
    out = kb_cli(data, "ingest", *files, "--kb", "notes", "--no-progress")
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
    missing = kb_cli(data, "docs", "--kb", "nothing-here")
    assert missing.returncode == 2 and "There is no knowledge base 'nothing-here'" in missing.stderr
    bad = kb_cli(data, "search", "x", "--kb", "notes", KB_RETRIEVAL_MODE="fuzzy")
    assert bad.returncode == 2 and "KB_RETRIEVAL_MODE" in bad.stderr
    history = tmp_path / "h.json"
    history.write_text("not json")
    kb_cli(data, "ingest", str(corpus_files()[1]), "--kb", "notes", "--no-progress")
    out = kb_cli(data, "search", "那它呢？", "--kb", "notes", "--history", str(history))
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
