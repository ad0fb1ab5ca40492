"""The chat page while an answer streams and after: an interrupted exchange is kept and marked, the
core's notices, reasoning and errors are shown apart from the answer in the session's language, and
an answer the disk could not take stays on screen."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from streamlit.runtime.scriptrunner_utils.script_requests import RerunData
from streamlit.testing.v1 import app_test

from tests.ui.conftest import APP_RUN_S, plain, texts

REPLY = "RAG 先检索资料再回答 [1]。"


def wait_until(condition, what: str, timeout: float = APP_RUN_S, every: float = 0.05):
    """Poll a condition (a row written by the app, a thread ended); `timeout` is only a safety net."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def stored_turns(env, kb: str = "notes") -> list[tuple[str, str, str]]:
    """The chat rows as the app stored them: (role, content, state), read as another process would."""
    path = env.data / "kbs" / kb / "chats.sqlite"
    if not path.exists():
        return []
    conn = sqlite3.connect(path, timeout=60)
    try:
        return conn.execute("SELECT role, content, state FROM turns ORDER BY id").fetchall()
    finally:
        conn.close()


@pytest.fixture
def runners(monkeypatch):
    """The script runners AppTest starts, so a test can ask one for a rerun while its script runs
    (what a click in the browser does mid-answer)."""
    started: list = []

    class Recorded(app_test.LocalScriptRunner):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(app_test, "LocalScriptRunner", Recorded)
    return started


def assistant_text(message) -> str:
    return plain(" ".join(texts(message.markdown)))


def test_a_click_while_an_answer_streams_keeps_the_exchange_marked_interrupted(corpus_env, ollama_standin, runners,
                                                                                monkeypatch):
    ollama_standin.reply = REPLY
    ollama_standin.fail_mode = "endless"  # the answer never ends by itself: only the click can end it
    ollama_standin.token_delay = 0.02
    monkeypatch.setenv("KB_OLLAMA_MAX_ANSWER_TOKENS", "1000000")
    at = corpus_env.app("chat")
    # What the browser sends for a click elsewhere on the page: the widgets' values, this page.
    click = RerunData(widget_states=at._tree.get_widget_states(), page_script_hash=at._finished_page_script_hash)

    asking = threading.Thread(target=lambda: at.chat_input(key="chat_input").set_value("RAG 是什么？").run(),
                              name="apptest-ask")
    asking.start()
    try:
        # The core stores the answer while it streams: wait until part of it is there.
        # (as much of it as is asserted below: on a loaded machine the click could otherwise land after
        # the first pieces only, "RAG 先检")
        wait_until(lambda: any(role == "assistant" and content.startswith("RAG 先检索")
                               for role, content, _ in stored_turns(corpus_env)),
                   "a partial answer saved")
        assert runners[-1].request_rerun(click)
    finally:
        asking.join(APP_RUN_S)
    assert not asking.is_alive(), "the run did not end after the rerun"
    assert not at.exception, at.exception

    (_, question, _), (_, partial, state) = stored_turns(corpus_env)
    assert question == "RAG 是什么？" and state == "interrupted" and partial.startswith("RAG 先检索")
    user, assistant = at.chat_message  # the rerun drew the conversation from what was stored
    assert plain(user.markdown[0].value) == "RAG 是什么？"
    assert assistant_text(assistant).startswith("RAG 先检索资料再回答")
    assert any("回答被中断" in w.value for w in assistant.warning)

    again = corpus_env.app("chat")  # a reload, in English this time
    again.segmented_control(key="lang").set_value("en").run()
    assert len(again.chat_message) == 2
    assert any("interrupted" in w.value for w in again.chat_message[1].warning)


def test_notices_and_reasoning_are_shown_apart_from_the_answer_and_kept(corpus_env, ollama_standin, monkeypatch):
    ollama_standin.reply = "RAG 先检索资料再回答 [1]。它不需要重新训练模型 [2]。"
    ollama_standin.thinking = "先想想"
    ollama_standin.add_model("qwen3:1.7b")  # a model that can think
    monkeypatch.setenv("KB_MODEL", "qwen3:1.7b")
    monkeypatch.setenv("KB_OLLAMA_THINK", "true")
    monkeypatch.setenv("KB_OLLAMA_MAX_ANSWER_TOKENS", "12")  # the answer is capped
    at = corpus_env.app("chat")
    at.segmented_control(key="chat_mode").set_value("chat").run()  # the cut question still reaches the model
    at.chat_input(key="chat_input").set_value("RAG 是什么？" + "请详细解释。" * 4000).run()  # cut to the budget
    assert not at.exception, at.exception

    def check(assistant, cut: str, capped: str, thinking_label: str) -> None:
        notices = plain(" ".join(texts(assistant.warning)))
        assert cut in notices and capped in notices
        assert "max_answer_tokens" in " ".join(texts(assistant.warning))  # the setting as code, as written
        reasoning = [e for e in assistant.expander if thinking_label in e.label]
        assert len(reasoning) == 1 and not reasoning[0].proto.expanded
        assert plain(" ".join(texts(reasoning[0].markdown))) == "先想想"
        shown = [plain(m.value) for m in assistant.markdown]
        assert [m for m in shown if "想想" in m] == ["先想想"]  # only in the expander, never in the answer
        assert any(m.startswith("RAG 先检索") for m in shown)

    check(at.chat_message[1], "问题太长", "上限", "思考过程")
    again = corpus_env.app("chat")  # reloaded from the stored conversation
    check(again.chat_message[1], "问题太长", "上限", "思考过程")
    again.segmented_control(key="lang").set_value("en").run()
    check(again.chat_message[1], "too long", "cap of 12 tokens", "reasoning")


def test_an_ollama_error_is_shown_in_the_sessions_language_and_never_as_markdown(corpus_env, ollama_standin):
    ollama_standin.fail_mode = "500_before_stream"
    ollama_standin.error_message = "runner crashed ![x](http://203.0.113.9/leak.png) <img src=x>"
    at = corpus_env.app("chat")
    at.chat_input(key="chat_input").set_value("RAG 是什么？").run()
    assert not at.exception, at.exception
    errors = texts(at.chat_message[1].error)
    assert errors and errors[0].startswith("回答出错")
    assert "\\!\\[x\\]" in errors[0] and "\\<img" in errors[0]  # literal: no image, no tag
    at.segmented_control(key="lang").set_value("en").run()
    errors = texts(at.chat_message[1].error)
    assert errors[0].startswith("The answer failed") and "runner crashed" in plain(errors[0])


def test_an_answer_the_full_disk_could_not_store_stays_on_screen_with_its_notice(monkeypatch, ollama_standin):
    from tests.reliability.helpers import fill_disk, require_mount, tmpfs
    from tests.ui.conftest import MD, AppEnv

    require_mount()
    ollama_standin.reply = REPLY
    with tmpfs("12m") as disk:
        env = AppEnv(monkeypatch, disk / "data")
        env.ollama(ollama_standin.url)
        env.ingest(MD)
        at = env.app("chat")
        at.segmented_control(key="chat_mode").set_value("chat").run()
        at.chat_input(key="chat_input").set_value("RAG 是什么？").run()
        assert len(at.chat_message) == 2
        filler = fill_disk(disk)
        at.chat_input(key="chat_input").set_value("它有什么优点？" + "很长的问题。" * 300).run()
        assert not at.exception, at.exception
        for _ in range(2):  # the answer's own run, then any later one (here: a click on nothing)
            assert len(at.chat_message) == 4
            kept = at.chat_message[3]
            assert any("没有存进对话记录" in w.value and "磁盘空间" in w.value for w in kept.warning)
            assert plain(" ".join(texts(kept.markdown))).startswith("RAG 先检索")
            at.run()
        filler.unlink()
