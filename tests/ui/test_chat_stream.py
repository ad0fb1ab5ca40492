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
        wait_until(lambda: any(role == "assistant" and content for role, content, _ in stored_turns(corpus_env)),
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
