"""Prompt building as pure functions: the question's budget and the unforgeable sources block."""
from __future__ import annotations

import pytest

from kb.prompting import CUT_MARK, build_prompt, fit_question, question_limit
from kb.retrieval import ScoredChunk
from kb.tokens import QwenTokenCounter, chat_prompt_tokens
from kb.types import Chunk


@pytest.fixture(scope="module")
def counter():
    return QwenTokenCounter()


def scored(text: str, n: int = 0) -> ScoredChunk:
    chunk = Chunk(id=f"c{n}", kb="notes", doc_id="d", file_name=f"note{n}.md", position=n, text=text,
                  content_hash=f"h{n}", heading_path=("标题",))
    return ScoredChunk(chunk=chunk, fused_score=1.0, fused_rank=n + 1, dense_score=0.9, passed=True)


def test_a_question_that_fits_is_untouched(counter):
    assert fit_question("LangChain 是什么？", counter, 100) == ("LangChain 是什么？", None)


def test_an_over_long_question_keeps_both_ends_within_the_limit(counter):
    question = "开头的问题：" + "粘贴的材料。" * 5000 + "结尾的问题：这是什么？"
    text, cut = fit_question(question, counter, 300)
    assert cut is not None and cut.tokens == counter.count(question) and cut.kept == counter.count(text) <= 300
    assert text.startswith("开头的问题：") and text.endswith("结尾的问题：这是什么？") and CUT_MARK in text
    assert cut.kept_chars < cut.chars


def test_build_prompt_never_overflows_even_with_a_huge_question(counter):
    question = "问" * 40_000
    built = build_prompt(question, [scored("资料" * 100, 1)], [], counter, 4096, 768)
    assert built.question_cut is not None
    total = chat_prompt_tokens(counter, [(m["role"], m["content"]) for m in built.messages])
    assert total <= 4096 - 768 and built.budget.fits


def test_question_limit_leaves_sources_half_the_room(counter):
    limit = question_limit(counter, 4096, 768)
    question, _ = fit_question("问" * 40_000, counter, limit)
    built = build_prompt(question, [scored("资料内容。" * 40, i) for i in range(5)], [], counter, 4096, 768)
    assert built.question_cut is None and built.budget.n_sources >= 3
