"""The chat journey against a real Ollama. Opt-in: `KB_LIVE_OLLAMA=1 pytest -m live` on a machine
where `ollama serve` runs and `python -m kb model setup` has created the model."""
from __future__ import annotations

import os

import pytest

from kb import KnowledgeBase

from .conftest import corpus_files, make_settings

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not os.environ.get("KB_LIVE_OLLAMA"), reason="set KB_LIVE_OLLAMA=1 to run")]


def test_two_turns_against_a_real_ollama(tmp_path):
    url = os.environ.get("KB_OLLAMA_URL", "http://127.0.0.1:11434")
    settings = make_settings(tmp_path / "data", "builtin", ollama={"url": url})
    with KnowledgeBase.open(settings, "notes") as kb:
        status = kb.ollama_status()
        assert status.reachable and status.model_present, status.error
        kb.ingest(corpus_files())
        first = kb.ask("LangChain 是什么？", session="live")
        assert first.text and not first.error and not first.fallback
        assert first.usage and first.usage.prompt_tokens
        assert first.usage.prompt_tokens <= first.budget.num_ctx
        second = kb.ask("它这个名字是怎么来的？", session="live")
        assert second.rewritten_question and "LangChain" in second.rewritten_question
        assert second.used_citations
