"""Escape sequences and control characters from documents, file names and Ollama never reach the terminal;
--json output keeps them, escaped, and stays valid JSON."""
from __future__ import annotations

import json

import pytest

from kb.terminal import for_terminal, json_for_terminal

from .conftest import REPO
from .reliability.helpers import kb_cli

HOSTILE = ("\x1b[2J\x1b[31m红色\x1b[0m \x1b]8;;http://evil.example/\x07点我\x1b]8;;\x07 "
           "\x1b]52;c;ZWNobyBoaQ==\x1b\\ 覆盖\r伪造 \x9b2J \u202egpj.exe \x07\x08\x7f\x85")
RAW = ("\x1b", "\x9b", "\x07", "\x08", "\x7f", "\x85", "\r", "\u202e")

NOTE = f"# 危险笔记\n\n向量检索的说明。{HOSTILE} 这一段讲关键词检索与重排序。\n\n" + "正常的说明文字。" * 40 + "\n"


def assert_clean(text: str) -> None:
    assert not any(ch in text for ch in RAW), repr(text)


@pytest.mark.parametrize("text,expected", [
    ("\x1b[1;31mbold red\x1b[0m", "bold red"), ("\x1b]0;title\x07after", "after"),
    ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"), ("a\rb", "ab"), ("tab\tand\nnewline", "tab\tand\nnewline"),
    ("\x9b31mx", "x"), ("\u202eabc\u2069", "abc"), ("\x1b]never terminated, the text stays", "never terminated, the text stays"),
    ("普通的中文，没有控制字符。", "普通的中文，没有控制字符。"), ("\x00\x01\x1f", ""),
])
def test_for_terminal_removes_sequences_and_keeps_text(text, expected):
    assert for_terminal(text) == expected


def test_json_output_keeps_the_text_escaped():
    dumped = json_for_terminal(json.dumps({"t": HOSTILE}, ensure_ascii=False))
    assert_clean(dumped)
    assert json.loads(dumped)["t"] == HOSTILE


def test_cli_chunks_search_and_docs_print_no_escape_sequence(tmp_path):
    note = tmp_path / "hostile.md"
    note.write_text(NOTE, encoding="utf-8")
    data = tmp_path / "data"
    ingest = kb_cli(data, "ingest", str(note), "--kb", "notes", "--no-progress")
    assert ingest.returncode == 0, ingest.stderr
    for args in (["chunks", "--kb", "notes"], ["search", "向量检索 关键词", "--kb", "notes"], ["docs", "--kb", "notes"]):
        out = kb_cli(data, *args)
        assert out.returncode == 0, out.stderr
        assert_clean(out.stdout)
        assert_clean(out.stderr)
    shown = kb_cli(data, "chunks", "--kb", "notes").stdout
    assert "红色" in shown and "点我" in shown and "关键词检索" in shown
    as_json = kb_cli(data, "chunks", "--kb", "notes", "--json")
    assert_clean(as_json.stdout)
    stored = HOSTILE.replace("\r", "\n")  # line endings are normalised at decoding, nothing else
    assert stored in json.loads(as_json.stdout)[0]["text"]  # the data itself is unchanged


def test_cli_file_names_with_escapes_are_refused_and_not_echoed_raw(tmp_path):
    bad = tmp_path / "name\x1b]0;owned\x07.md"
    bad.write_text(NOTE, encoding="utf-8")
    out = kb_cli(tmp_path / "data", "-v", "ingest", str(bad), "--kb", "notes", "--no-progress")
    assert out.returncode == 1
    assert_clean(out.stdout)
    assert_clean(out.stderr)
    assert "control characters" in out.stdout or "控制字符" in out.stdout


def test_cli_ask_strips_escapes_from_the_answer_and_from_ollama_errors(tmp_path, ollama_standin):
    note = tmp_path / "a.md"
    note.write_text("# 部署\n\nLangChain 是一个构建语言模型应用的框架。\n", encoding="utf-8")
    data = tmp_path / "data"
    env = {"KB_OLLAMA_URL": ollama_standin.url, "KB_RETRIEVAL_THRESHOLD": "0", "KB_RETRIEVAL_RELATIVE_CUTOFF": "0"}
    assert kb_cli(data, "ingest", str(note), "--kb", "notes", "--no-progress", **env).returncode == 0
    ollama_standin.reply = "根据资料 [1]，\x1b]52;c;cm0gLXJmIH4=\x07它是\x1b[8m隐藏\x1b[0m一个框架。"
    out = kb_cli(data, "ask", "LangChain 是什么？", "--kb", "notes", **env)
    assert out.returncode == 0, out.stderr
    assert_clean(out.stdout)
    assert "它是" in out.stdout and "一个框架" in out.stdout
    ollama_standin.fail_mode = "500_before_stream"
    ollama_standin.error_message = "model crashed \x1b[2J\x1b]8;;http://evil/\x07click\x1b]8;;\x07"
    failed = kb_cli(data, "ask", "LangChain 是什么？", "--kb", "notes", **env)
    assert failed.returncode != 0
    assert_clean(failed.stdout)
    assert_clean(failed.stderr)
    assert "Traceback" not in failed.stderr
