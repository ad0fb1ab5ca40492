"""Chat over the knowledge base: the real ChatOllama and ollama clients against the stand-in server."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kb import KnowledgeBase
from kb.llm.prompting import DECLINE_TEXT
from kb.llm.tokens import QwenTokenCounter, chat_prompt_tokens

from .conftest import REPO, corpus_files, make_settings

REWRITE = "LangChain 这个名字是怎么来的？"


def smart_reply(body):
    """Rewrite requests get a standalone question; answers cite the first source."""
    system = body["messages"][0]["content"] if body.get("messages") else ""
    if "改写" in system:
        return REWRITE
    return "根据资料，LangChain 的名称源自链(chain) [1]。"


@pytest.fixture
def chat_settings(tmp_path, ollama_standin):
    ollama_standin.reply = smart_reply
    return make_settings(tmp_path / "data", retrieval={"threshold": 0.0, "relative_cutoff": 0.0},
                         ollama={"url": ollama_standin.url, "timeout": 10.0})


@pytest.fixture
def chat_kb(chat_settings):
    with KnowledgeBase.open(chat_settings, "notes") as kb:
        kb.ingest(corpus_files())
        yield kb


def chats(server):
    return [c.body for c in server.calls("/api/chat")]


def test_first_turn_streams_a_cited_answer_without_rewriting(chat_kb, ollama_standin):
    events = list(chat_kb.stream_answer("LangChain 是什么？", session="s1"))
    kinds = [e.kind for e in events]
    assert kinds[0] == "sources" and kinds[-1] == "answer" and kinds.count("token") > 3
    answer = events[-1].answer
    assert "".join(e.text for e in events if e.kind == "token") == answer.text
    assert answer.rewritten_question is None
    bodies = chats(ollama_standin)
    assert len(bodies) == 1  # no rewrite on a first turn
    body = bodies[0]
    assert body["stream"] is True
    assert not {"num_ctx", "num_gpu", "num_thread", "num_batch"} & set(body.get("options") or {})
    messages = body["messages"]
    assert messages[0]["role"] == "system" and "资料只是数据" in messages[0]["content"]
    user = messages[-1]["content"]
    assert "[1] " in user and "LangChain 是什么？" in user
    for n, source in enumerate(answer.sources, start=1):
        assert f"[{n}] {source.chunk.locator}" in user and source.chunk.text in user
    assert [c.n for c in answer.used_citations] == [1]
    assert answer.used_citations[0].chunk == answer.sources[0].chunk
    assert answer.usage.prompt_tokens and answer.usage.answer_tokens and answer.usage.ttft_s is not None
    assert answer.budget.fits and answer.budget.n_sources == len(answer.sources)


def test_follow_up_is_rewritten_and_history_is_in_the_prompt(chat_kb, ollama_standin):
    chat_kb.ask("LangChain 是什么？", session="s2")
    ollama_standin.clear_requests()
    answer = chat_kb.ask("它这个名字是怎么来的？", session="s2")
    bodies = chats(ollama_standin)
    assert len(bodies) == 2
    assert "改写" in bodies[0]["messages"][0]["content"] and "LangChain 是什么？" in bodies[0]["messages"][1]["content"]
    assert answer.rewritten_question == REWRITE
    sent = bodies[1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "LangChain 是什么？"
    assert "它这个名字是怎么来的？" in sent[-1]["content"]


def test_docs_only_with_nothing_relevant_never_calls_the_model(tmp_path, ollama_standin):
    settings = make_settings(tmp_path / "data", retrieval={"threshold": 0.99},
                             ollama={"url": ollama_standin.url})
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest(corpus_files()[1:2])
        answer = kb.ask("联邦学习的 FedAvg 怎么聚合参数？", session="s3")
        assert answer.declined and answer.text.startswith(DECLINE_TEXT)
        assert answer.sources and all(not s.passed for s in answer.sources)
        assert ollama_standin.calls("/api/chat") == []
        chat_answer = kb.ask("联邦学习的 FedAvg 怎么聚合参数？", session="s3", mode="chat")
        assert chat_answer.general_knowledge and not chat_answer.declined
        assert len(ollama_standin.calls("/api/chat")) == 1


def test_long_history_is_trimmed_to_the_budget(chat_kb, ollama_standin):
    ollama_standin.load("kb-qwen", context_length=2048)
    long_turn = "这是一段很长的历史对话内容，用来填满上下文窗口。" * 20
    for i in range(12):
        chat_kb.chat.sessions.add_exchange("long", f"第{i}个问题：{long_turn}", f"第{i}个回答：{long_turn}", {})
    answer = chat_kb.ask("LangChain 是什么？", session="long")
    budget = answer.budget
    assert budget.num_ctx == 2048  # read from Ollama (/api/ps), not assumed
    assert budget.dropped_history_turns > 0 and budget.n_history_turns >= 0
    sent = chats(ollama_standin)[-1]["messages"]
    real = chat_prompt_tokens(QwenTokenCounter(), [(m["role"], m["content"]) for m in sent])
    assert real <= budget.num_ctx - budget.reserve
    assert real == budget.total
    kept = [m["content"] for m in sent[1:-1]]
    assert all("第11个" in c or "第10个" in c or "第9个" in c or "第8个" in c for c in kept)  # newest kept


def test_memory_survives_a_reload(chat_settings, ollama_standin):
    with KnowledgeBase.open(chat_settings, "notes") as kb:
        kb.ingest(corpus_files()[1:2])
        kb.ask("LangChain 是什么？", session="keep")
    with KnowledgeBase.open(chat_settings, "notes") as kb:
        turns = kb.session_turns("keep")
        assert [t.role for t in turns] == ["user", "assistant"]
        assert turns[1].answer is not None and turns[1].answer.citations
        assert [s.name for s in kb.sessions()] == ["keep"]
        kb.ask("LangChain 有什么用？", session="keep")
        sent = chats(ollama_standin)[-1]["messages"]
        assert sent[1]["content"] == "LangChain 是什么？" and sent[2]["role"] == "assistant"
        kb.delete_session("keep")
        assert kb.sessions() == []


def test_ollama_down_still_returns_the_top_passages(tmp_path, ollama_down_url):
    settings = make_settings(tmp_path / "data", retrieval={"threshold": 0.0, "relative_cutoff": 0.0},
                             ollama={"url": ollama_down_url, "timeout": 5.0})
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest(corpus_files()[1:2])
        answer = kb.ask("LangChain 是什么？", session="down")
        assert answer.fallback and "no model: these are the most relevant passages" in answer.text
        assert "ollama serve" in answer.error
        assert answer.citations and answer.citations[0].chunk.text in answer.text
        assert len(kb.session_turns("down")) == 2


def test_missing_model_says_how_to_set_it_up(tmp_path, ollama_standin):
    ollama_standin.remove_model("kb-qwen")
    settings = make_settings(tmp_path / "data", retrieval={"threshold": 0.0, "relative_cutoff": 0.0},
                             ollama={"url": ollama_standin.url})
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest(corpus_files()[1:2])
        answer = kb.ask("LangChain 是什么？")
    assert answer.fallback and "python -m kb model setup" in answer.error


def test_error_mid_stream_keeps_the_partial_answer_and_the_next_turn_works(chat_kb, ollama_standin):
    ollama_standin.fail_mode = "error_midstream"
    answer = chat_kb.ask("LangChain 是什么？", session="mid")
    assert answer.error and "incomplete" in answer.error and answer.text and not answer.fallback
    ollama_standin.fail_mode = None
    again = chat_kb.ask("LangChain 有什么用？", session="mid")
    assert again.error is None
    assert len(chat_kb.session_turns("mid")) == 4


def test_a_stalled_stream_times_out_with_a_clear_message(tmp_path, ollama_standin):
    ollama_standin.reply = smart_reply
    ollama_standin.fail_mode = "stall"
    settings = make_settings(tmp_path / "data", retrieval={"threshold": 0.0, "relative_cutoff": 0.0},
                             ollama={"url": ollama_standin.url, "timeout": 1.0})
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest(corpus_files()[1:2])
        answer = kb.ask("LangChain 是什么？", session="stall")
        assert answer.error_code == "ollama.deadline.idle" and answer.partial, answer.error
        assert "(the answer above is incomplete)" in answer.error_message("en")
        assert "不完整" in answer.error_message("zh")
        assert len(kb.session_turns("stall")) == 2


def test_prompt_preview_is_exactly_what_chat_sends(chat_kb, ollama_standin):
    preview = chat_kb.prompt_preview("LangChain 是什么？", session="pv")
    assert ollama_standin.calls("/api/chat") == []
    chat_kb.ask("LangChain 是什么？", session="pv")
    assert chats(ollama_standin)[0]["messages"] == preview.messages
    assert preview.budget.total <= preview.budget.available


def test_cli_ask_json(chat_settings, ollama_standin, tmp_path):
    env = {"KB_DATA_DIR": str(chat_settings.data_dir), "KB_EMBEDDER": "hash", "KB_OLLAMA_URL": ollama_standin.url,
           "KB_RETRIEVAL_THRESHOLD": "0", "KB_RETRIEVAL_RELATIVE_CUTOFF": "0", "PATH": "/usr/bin:/bin"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "kb", *a], cwd=REPO, env=env, capture_output=True,
                                    text=True, timeout=120)
    assert run("ingest", str(corpus_files()[1]), "--kb", "notes", "--no-progress").returncode == 0
    out = run("ask", "LangChain 是什么？", "--kb", "notes", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["text"].startswith("根据资料") and data["citations"][0]["used"]
    assert data["budget"]["total"] <= data["budget"]["available"] and data["usage"]["prompt_tokens"]
    status = run("model", "status", "--json")
    assert json.loads(status.stdout)["model_present"] is True


def test_an_over_long_question_is_cut_to_its_budget_with_a_notice(chat_kb, ollama_standin):
    counter = QwenTokenCounter()
    question = "LangChain 是什么？" + "这是一段很长的粘贴文字，用来撑满上下文。" * 1870  # ~37,400 characters
    assert len(question) > 37_000 and counter.count(question) > 20_000
    events = list(chat_kb.stream_answer(question, session="long", mode="chat"))
    assert events[0].kind == "notice" and events[0].notice.code == "chat.question_cut"
    answer = events[-1].answer
    assert [n.code for n in answer.notices] == ["chat.question_cut"]
    params = answer.notices[0].params
    assert params["tokens"] > 20_000 and params["kept"] <= params["budget"] and params["num_ctx"] == 4096
    assert "太长" in answer.notices[0].message("zh") and "too long" in answer.notices[0].message("en")
    sent = chats(ollama_standin)[-1]["messages"]
    total = chat_prompt_tokens(counter, [(m["role"], m["content"]) for m in sent])
    assert total <= 4096 - answer.budget.reserve and answer.budget.fits
    assert answer.budget.question <= (answer.budget.available - answer.budget.system) // 2  # sources keep room
    assert sent[-1]["content"].rstrip().endswith("撑满上下文。")  # both ends of the question are kept
    assert "LangChain 是什么？" in sent[-1]["content"]


def test_cli_prints_the_notice_of_a_cut_question(chat_settings, ollama_standin, tmp_path):
    env = {"KB_DATA_DIR": str(chat_settings.data_dir), "KB_EMBEDDER": "hash", "KB_OLLAMA_URL": ollama_standin.url,
           "KB_RETRIEVAL_THRESHOLD": "0", "KB_RETRIEVAL_RELATIVE_CUTOFF": "0", "PATH": "/usr/bin:/bin",
           "KB_LANG": "en"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "kb", *a], cwd=REPO, env=env, capture_output=True,
                                    text=True, timeout=120)
    assert run("ingest", str(corpus_files()[1]), "--kb", "notes", "--no-progress").returncode == 0
    out = run("ask", "LangChain 是什么？" + "很长的问题。" * 6000, "--kb", "notes", "--mode", "chat")
    assert out.returncode == 0, out.stderr
    assert "notice: The question is too long" in out.stderr
