"""Deadlines that hold: the real ChatOllama / ollama / OllamaEmbeddings clients against a stand-in that
dribbles its head, dribbles its body or never ends. Each test waits for the call to come back (the
event) and checks which deadline ended it; the join timeout is only a safety net, never the assertion."""
from __future__ import annotations

import threading
from typing import Any, Callable

import pytest

from kb import KnowledgeBase, Settings
from kb.embedders import OllamaEmbedder
from kb.errors import ConfigError, EmbeddingError, OllamaTimeout
from kb.llm.ollama import OllamaAdmin

from .conftest import corpus_files, make_settings

SAFETY_NET = 120.0  # seconds; only here so a broken deadline fails the test instead of hanging the run


def finish(call: Callable[[], Any]) -> Any:
    """Run `call` in a thread and wait until it returns or raises; return its value or its exception."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = call()
        except BaseException as exc:  # handed to the test, which asserts on it
            out["value"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(SAFETY_NET)
    assert "value" in out, "the call never came back: a deadline did not hold"
    return out["value"]


def kb_settings(tmp_path, server, **ollama: Any) -> Settings:
    return make_settings(tmp_path / "data", retrieval={"threshold": 0.0, "relative_cutoff": 0.0},
                         ollama={"url": server.url, **ollama})


@pytest.fixture
def open_kb(tmp_path, ollama_standin):
    opened: list[KnowledgeBase] = []

    def make(**ollama: Any) -> KnowledgeBase:
        kb = KnowledgeBase.open(kb_settings(tmp_path, ollama_standin, **ollama), "notes")
        opened.append(kb)
        kb.ingest(corpus_files()[1:2])
        return kb

    yield make
    for kb in opened:
        kb.close()


def test_a_head_dribbled_byte_by_byte_hits_the_first_byte_deadline(open_kb, ollama_standin):
    kb = open_kb(timeout=1.0)
    ollama_standin.fail_mode = "dribble_headers"
    ollama_standin.dribble_interval = 0.05  # far under the 1 s per-read timeout: only a watchdog ends it
    answer = finish(lambda: kb.ask("LangChain 是什么？", session="d"))
    assert answer.error_code == "ollama.deadline.first_byte", answer.error
    assert not answer.partial and "timeout" in answer.error_message("en")
    assert "没有开始回答" in answer.error_message("zh")
    assert [t.role for t in kb.session_turns("d")] == ["user", "assistant"]


def test_a_body_dribbled_without_a_line_end_hits_the_idle_deadline(open_kb, ollama_standin):
    kb = open_kb(timeout=1.0)
    ollama_standin.fail_mode = "dribble_body"
    ollama_standin.dribble_interval = 0.05
    answer = finish(lambda: kb.ask("LangChain 是什么？", session="d"))
    assert answer.error_code == "ollama.deadline.idle", answer.error


def test_a_stream_that_never_ends_hits_the_total_deadline(open_kb, ollama_standin):
    kb = open_kb(timeout=30.0, answer_timeout=1.0, max_answer_tokens=100_000)
    ollama_standin.fail_mode = "endless"
    ollama_standin.token_delay = 0.02  # steady tokens: neither the idle deadline nor the cap ends it
    answer = finish(lambda: kb.ask("LangChain 是什么？", session="e"))
    assert answer.error_code == "ollama.deadline.total", answer.error
    assert answer.partial and answer.text  # what arrived is kept
    assert "answer_timeout" in answer.error_message("en")


def test_a_stream_that_ignores_num_predict_is_stopped_at_the_cap(open_kb, ollama_standin):
    kb = open_kb(max_answer_tokens=20)
    ollama_standin.fail_mode = "endless"
    events = finish(lambda: list(kb.stream_answer("LangChain 是什么？", session="cap")))
    answer = events[-1].answer
    assert sum(e.kind == "token" for e in events) == 20
    assert answer.capped and answer.error is None
    assert [n.code for n in answer.notices] == ["chat.answer_capped"]
    assert "20" in answer.notices[0].message("en") and "max_answer_tokens" in answer.notices[0].message("zh")
    options = ollama_standin.calls("/api/chat")[-1].body["options"]
    assert options["num_predict"] == 20
    assert not {"num_ctx", "num_gpu", "num_thread", "num_batch"} & set(options)  # nothing that reloads the model


def test_ollama_stopping_at_num_predict_is_reported_as_capped(open_kb, ollama_standin):
    kb = open_kb(max_answer_tokens=5)
    ollama_standin.reply = "一 二 三 四 五 六 七 八 九 十 [1]"
    answer = kb.ask("LangChain 是什么？", session="len")
    assert answer.capped and [n.code for n in answer.notices] == ["chat.answer_capped"]
    assert answer.usage.answer_tokens == 5


def test_admin_calls_hold_their_deadline_against_a_dribbling_head(ollama_standin):
    ollama_standin.fail_mode = "dribble_headers"
    ollama_standin.dribble_interval = 0.05
    admin = OllamaAdmin(ollama_standin.url, timeout=0.5)
    try:
        for call in (admin.version, admin.models, lambda: admin.show("kb-qwen"), admin.running):
            exc = finish(call)
            assert isinstance(exc, OllamaTimeout) and exc.code == "ollama.deadline.first_byte", exc
        status = finish(lambda: admin.status("kb-qwen"))
        assert not status.reachable and status.error_code == "ollama.deadline.first_byte"
    finally:
        admin.close()


def test_embeddings_hold_their_deadline_against_a_dribbling_body(ollama_standin):
    ollama_standin.add_model("bge-m3")
    ollama_standin.fail_mode = "dribble_body"
    ollama_standin.dribble_interval = 0.05
    settings = Settings.from_mapping({"ollama": {"url": ollama_standin.url, "timeout": 0.5}}, env={})
    embedder = OllamaEmbedder("bge-m3", ollama_standin.url, settings=settings.ollama)
    exc = finish(lambda: embedder.embed_passages(["一段文字"]))
    assert isinstance(exc, EmbeddingError) and exc.params["cause"] == "ollama.deadline.idle", exc


def test_a_healthy_exchange_is_untouched_by_the_watchdog(open_kb, ollama_standin):
    kb = open_kb(timeout=2.0, answer_timeout=60.0)
    ollama_standin.token_delay = 0.01
    answer = kb.ask("LangChain 是什么？", session="ok")
    assert answer.error is None and not answer.capped and answer.notices == ()


@pytest.mark.parametrize("key,value", [("answer_timeout", "nan"), ("connect_timeout", 0), ("timeout", "inf"),
                                       ("max_answer_tokens", 0)])
def test_deadline_settings_are_validated(key, value):
    with pytest.raises(ConfigError, match=key):
        Settings.from_mapping({"ollama": {key: value}}, env={})


def test_a_server_that_never_accepts_hits_the_connect_deadline():
    import socket

    with socket.socket() as full:  # a listen backlog of 0, filled: the kernel drops further SYNs
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        waiting = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            waiting.append(s)
        admin = OllamaAdmin(f"http://127.0.0.1:{port}", timeout=30.0, connect_timeout=0.5)
        try:
            exc = finish(admin.version)
        finally:
            admin.close()
            for s in waiting:
                s.close()
    assert isinstance(exc, OllamaTimeout) and exc.code == "ollama.deadline.connect", exc
    assert exc.params["seconds"] == 0.5 and "connect_timeout" in exc.message("en")


def test_the_rewrite_of_a_follow_up_holds_its_deadline_too(open_kb, ollama_standin, caplog):
    kb = open_kb(timeout=1.0)
    assert kb.ask("LangChain 是什么？", session="r").error is None
    ollama_standin.fail_mode = "dribble_headers"
    ollama_standin.dribble_interval = 0.05
    answer = finish(lambda: kb.ask("它这个名字是怎么来的？", session="r"))
    assert answer.error_code == "ollama.deadline.first_byte", answer.error
    rewrites = [c for c in ollama_standin.calls("/api/chat") if "改写" in c.body["messages"][0]["content"]]
    assert rewrites and "rewrite failed" in caplog.text
