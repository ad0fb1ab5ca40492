"""Qwen3 thinking: the stand-in's `think` field and capabilities as real Ollama has them, and the chat that
asks thinking models not to think by default, keeps any reasoning apart from the answer, its citations and
the history. Real `ollama` and `ChatOllama` clients over HTTP."""
from __future__ import annotations

import ollama
import pytest
from langchain_ollama import ChatOllama

from kb import KnowledgeBase
from kb.llm.prompting import ThinkFilter, clean_rewrite, strip_think
from tests.ollama_standin import DEFAULT_THINKING

from .conftest import corpus_files, make_settings

REPLY = "根据资料，LangChain 的名称源自链 [1]。"
HI = [{"role": "user", "content": "你好"}]


@pytest.fixture
def server(ollama_standin):
    ollama_standin.add_model("qwen3:0.6b")
    ollama_standin.reply = REPLY
    return ollama_standin


# -- the stand-in -------------------------------------------------------------------------------------


def test_show_lists_the_thinking_capability(server):
    client = ollama.Client(host=server.url)
    assert "thinking" in client.show("qwen3:0.6b").capabilities
    assert "thinking" not in client.show("qwen2.5:1.5b").capabilities


def test_think_true_sends_the_reasoning_apart(server):
    client = ollama.Client(host=server.url)
    parts = list(client.chat("qwen3:0.6b", messages=HI, think=True, stream=True))
    assert "".join(p.message.thinking or "" for p in parts) == DEFAULT_THINKING
    assert "".join(p.message.content for p in parts) == REPLY
    whole = client.chat("qwen3:0.6b", messages=HI, think=True)
    assert whole.message.thinking == DEFAULT_THINKING and whole.message.content == REPLY
    generated = client.generate("qwen3:0.6b", prompt="你好", think=True)
    assert generated.thinking == DEFAULT_THINKING and generated.response == REPLY


def test_think_false_means_no_reasoning_and_absent_means_inline_tags(server):
    client = ollama.Client(host=server.url)
    off = client.chat("qwen3:0.6b", messages=HI, think=False)
    assert off.message.content == REPLY and not off.message.thinking
    inline = client.chat("qwen3:0.6b", messages=HI)
    assert inline.message.content == f"<think>\n{DEFAULT_THINKING}\n</think>\n\n{REPLY}" and not inline.message.thinking


def test_think_on_a_model_that_cannot_think_is_refused_but_false_is_accepted(server):
    client = ollama.Client(host=server.url)
    with pytest.raises(ollama.ResponseError, match="does not support thinking"):
        client.chat("qwen2.5:1.5b", messages=HI, think=True)
    assert client.chat("qwen2.5:1.5b", messages=HI, think=False).message.content == REPLY


def test_chat_ollama_reads_the_separate_reasoning(server):
    message = ChatOllama(model="qwen3:0.6b", base_url=server.url, reasoning=True).invoke("你好")
    assert message.content == REPLY and message.additional_kwargs["reasoning_content"] == DEFAULT_THINKING


# -- the chat ---------------------------------------------------------------------------------------------


def open_kb(tmp_path, server, model="qwen3:0.6b", **ollama_settings):
    settings = make_settings(tmp_path / "data", retrieval={"threshold": 0.0, "relative_cutoff": 0.0},
                             ollama={"url": server.url, "model": model, **ollama_settings})
    kb = KnowledgeBase.open(settings, "notes")
    kb.ingest(corpus_files()[1:2])
    return kb


def test_a_thinking_model_is_asked_not_to_think_by_default(tmp_path, server):
    with open_kb(tmp_path, server) as kb:
        answer = kb.ask("LangChain 是什么？", session="t")
    body = server.calls("/api/chat")[-1].body
    assert body["think"] is False
    assert answer.text == REPLY and answer.thinking == ""


def test_a_model_that_cannot_think_gets_no_think_field(tmp_path, server):
    with open_kb(tmp_path, server, model="kb-qwen") as kb:
        kb.ask("LangChain 是什么？", session="t")
    assert "think" not in server.calls("/api/chat")[-1].body


def test_thinking_on_keeps_the_reasoning_apart_from_answer_citations_and_history(tmp_path, server):
    with open_kb(tmp_path, server, think=True) as kb:
        events = list(kb.stream_answer("LangChain 是什么？", session="t"))
        answer = events[-1].answer
        assert server.calls("/api/chat")[-1].body["think"] is True
        assert "".join(e.text for e in events if e.kind == "thinking") == DEFAULT_THINKING
        assert "".join(e.text for e in events if e.kind == "token") == REPLY == answer.text
        assert answer.thinking == DEFAULT_THINKING
        assert [c.n for c in answer.used_citations] == [1]  # the [2] in the reasoning is not a citation
        assert [t.content for t in kb.session_turns("t")] == ["LangChain 是什么？", REPLY]
        follow = kb.ask("它的名字从哪来？", session="t")
        assert follow.error is None
        sent = server.calls("/api/chat")[-1].body["messages"]
        assert all(DEFAULT_THINKING not in m["content"] for m in sent)  # never history
        rewrite = server.calls("/api/chat")[-2].body
        assert "改写" in rewrite["messages"][0]["content"] and rewrite["think"] is False


def test_inline_think_blocks_from_a_server_that_does_not_split_them_are_removed(tmp_path, server):
    server.reply = f"<think>\n我想想，资料 [2] 也许有用。\n</think>\n\n{REPLY}"
    with open_kb(tmp_path, server, model="kb-qwen") as kb:
        server.token_delay = 0.0
        events = list(kb.stream_answer("LangChain 是什么？", session="inline"))
        answer = events[-1].answer
        assert answer.text == REPLY and "<think>" not in "".join(e.text for e in events if e.kind == "token")
        assert answer.thinking == "我想想，资料 [2] 也许有用。"
        assert [c.n for c in answer.used_citations] == [1]
        assert kb.session_turns("inline")[-1].content == REPLY


# -- the filter, piece by piece ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_the_filter_splits_across_any_chunk_boundaries(size):
    text = f"  <think>\n甲 [2] 乙\n</think>\n\n<think></think>\n{REPLY} 提到 <think> 这个标签。"
    think = ThinkFilter()
    visible, thought = "", ""
    for i in range(0, len(text), size):
        v, t = think.feed(text[i:i + size])
        visible, thought = visible + v, thought + t
    v, t = think.flush()
    assert visible + v == f"{REPLY} 提到 <think> 这个标签。" and (thought + t).strip() == "甲 [2] 乙"


def test_an_answer_without_a_block_is_untouched_and_an_unclosed_block_is_all_reasoning():
    assert strip_think("  答案 <think>") == ("  答案 <think>", "")
    assert strip_think("<think>还没想完") == ("", "还没想完")
    assert clean_rewrite("<think>先想一想</think>\nLangChain 的名字从哪来？", "原问题") == "LangChain 的名字从哪来？"
