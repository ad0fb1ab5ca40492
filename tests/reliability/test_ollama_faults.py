"""Ollama faults through the stand-in: each surfaces as a clear message, the partial answer and the
session history are kept, and the next question works."""
from __future__ import annotations

import pytest

from kb import KnowledgeBase

from ..conftest import corpus_files, make_settings

FAULTS = {
    "500_before_stream": "HTTP 500",
    "error_midstream": "incomplete",
    "stall": "sent nothing for",
    "404": "python -m kb model setup",
}


@pytest.fixture
def faulty_kb(tmp_path, ollama_standin):
    ollama_standin.reply = "根据资料，LangChain 的名称源自链 [1]。"
    settings = make_settings(tmp_path / "data", retrieval={"threshold": 0.0, "relative_cutoff": 0.0},
                             ollama={"url": ollama_standin.url, "timeout": 2.0})
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest(corpus_files()[1:2])
        yield kb


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_is_clear_and_recoverable(faulty_kb, ollama_standin, fault):
    faulty_kb.ask("LangChain 是什么？", session="f")
    ollama_standin.fail_mode = fault
    answer = faulty_kb.ask("LangChain 有什么用？", session="f")
    assert answer.error and FAULTS[fault] in answer.error, answer.error
    if fault == "error_midstream":
        assert answer.text and not answer.fallback  # the partial answer is kept
    if fault == "404":
        assert answer.fallback and answer.citations  # passages instead of an answer
    ollama_standin.fail_mode = None
    after = faulty_kb.ask("LangChain 的名字从哪来？", session="f")
    assert after.error is None and after.used_citations
    turns = faulty_kb.session_turns("f")
    assert [t.role for t in turns] == ["user", "assistant"] * 3
    assert turns[0].content == "LangChain 是什么？"


def test_connection_refused_falls_back_and_recovers(tmp_path, ollama_down_url):
    settings = make_settings(tmp_path / "data", retrieval={"threshold": 0.0, "relative_cutoff": 0.0},
                             ollama={"url": ollama_down_url, "timeout": 2.0})
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest(corpus_files()[1:2])
        first = kb.ask("LangChain 是什么？", session="down")
        second = kb.ask("LangChain 有什么用？", session="down")
    assert first.fallback and second.fallback and "ollama serve" in second.error
    assert "no model: these are the most relevant passages" in second.text


def test_a_very_slow_first_token_is_waited_for(faulty_kb, ollama_standin):
    ollama_standin.first_token_delay = 1.5  # under the 2 s timeout: slow, not broken
    answer = faulty_kb.ask("LangChain 是什么？", session="slow")
    assert answer.error is None and answer.usage.ttft_s >= 1.4
