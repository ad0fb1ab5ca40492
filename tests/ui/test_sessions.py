"""Several sessions of one app process: a knowledge base deleted in one (or by the CLI) is gone for the
others and never re-created; the app only creates one when asked; no page waits on Ollama."""
from __future__ import annotations

import socket
import threading

from kb import KnowledgeBase
from tests.ui.conftest import plain, sidebar_text, texts, wait_status
from ui import status


def _kb_folder(app_env, name):
    return app_env.data / "kbs" / name


def _work_session(app_env):
    at = app_env.app()
    at.text_input(key="kb_new_name").input("work").run()
    at.button(key="kb_create").click().run()
    assert at.selectbox(key="kb").value == "work"
    return at


def test_a_knowledge_base_deleted_in_one_session_is_gone_in_the_other(app_env):
    first = _work_session(app_env)
    second = app_env.app()
    second.selectbox(key="kb").set_value("work").run()
    assert second.title[0].value == "概览"

    first.checkbox(key="kb_delete_confirm").check().run()
    first.button(key="kb_delete").click().run()
    assert not _kb_folder(app_env, "work").exists()

    second.run()  # the other tab's next click
    assert not second.exception
    assert any("work" in plain(w) and "已被删除" in w for w in texts(second.warning))
    assert second.selectbox(key="kb").value == "notes"
    assert second.selectbox(key="kb").options == ["notes"]
    second.switch_page("pages/upload.py").run()
    second.switch_page("pages/chat.py").run()
    assert not second.exception
    assert not _kb_folder(app_env, "work").exists()  # never silently re-created


def test_a_knowledge_base_deleted_by_the_cli_is_gone_for_an_open_session(app_env):
    at = _work_session(app_env)
    at.switch_page("pages/upload.py").run()
    KnowledgeBase.remove(app_env.settings(), "work")  # what `python -m kb` does from another process

    at.run()
    assert not at.exception
    assert any("已被删除" in w for w in texts(at.warning))
    assert at.selectbox(key="kb").value == "notes"
    assert not _kb_folder(app_env, "work").exists()


def test_a_link_to_a_missing_knowledge_base_does_not_create_it(app_env):
    KnowledgeBase.open(app_env.settings(), "notes", create=True).close()
    from streamlit.testing.v1 import AppTest

    from tests.ui.conftest import APP_RUN_S, ENTRY

    at = AppTest.from_file(ENTRY, default_timeout=APP_RUN_S)
    at.query_params["kb"] = "old"
    at.run()
    assert not at.exception
    assert not _kb_folder(app_env, "old").exists()
    assert at.selectbox(key="kb").value == "notes"
    assert any("old" in w for w in texts(at.warning))


def test_with_no_knowledge_base_the_app_shows_how_to_create_one_and_creates_only_on_request(app_env):
    at = app_env.app(create=False)
    assert not at.exception
    assert any("还没有知识库" in i for i in texts(at.info))
    assert not _kb_folder(app_env, "notes").exists()
    at.switch_page("pages/chat.py").run()
    assert not at.exception and not _kb_folder(app_env, "notes").exists()

    at.button(key="kb_create_default").click().run()
    assert _kb_folder(app_env, "notes").exists()
    assert at.selectbox(key="kb").value == "notes"
    assert any("已创建" in s for s in texts(at.success))


# -- Ollama off the render path ---------------------------------------------------------------------


class BlackHole:
    """A loopback server that accepts connections and answers nothing until `release()`: a hung Ollama."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connected = threading.Event()
        self.released = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conns = []
        while not self.released.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                break
            conns.append(conn)
            self.connected.set()
        for conn in conns:
            conn.close()

    def release(self) -> None:
        self.released.set()
        self.sock.close()


def test_no_page_waits_for_a_hung_ollama(app_env):
    hole = BlackHole()
    app_env.ollama(hole.url)
    try:
        at = app_env.app(status=False)  # would hang here if a run asked Ollama itself
        assert hole.connected.wait(600)  # the background refresher is the one asking
        assert "正在检查 Ollama" in sidebar_text(at)
        assert any("正在检查 Ollama" in i for i in texts(at.info))  # the overview says so too
        for page in ("upload", "chunks", "retrieval", "chat"):
            at.switch_page(f"pages/{page}.py").run()
            assert not at.exception
        at.switch_page("pages/overview.py").run()
        at.button(key="overview_refresh").click().run()  # returns at once: only wakes the thread
        assert "正在检查 Ollama" in sidebar_text(at)
    finally:
        hole.release()
    wait_status()
    at.run()
    assert "Ollama 未运行" in sidebar_text(at)


def test_the_refresher_keeps_the_last_answer_and_refreshes_on_request():
    answers = []
    gate = threading.Event()

    def ask(settings):
        gate.wait()
        answers.append(settings)
        return f"status {len(answers)}"

    class Settings:
        class ollama:
            url, model = "http://127.0.0.1:1", "m"

    refresher = status.Refresher(ask, interval=3600).start()
    try:
        assert refresher.latest(Settings) is None  # the first look only wakes the thread
        gate.set()
        first = refresher.wait(Settings, timeout=600)
        assert first.status == "status 1"
        assert refresher.latest(Settings) is first  # kept, not asked again (interval is an hour)
        refresher.refresh()
        second = refresher.wait(Settings, newer_than=first.at, timeout=600)
        assert second.status == "status 2" and second.at > first.at
    finally:
        refresher.stop(timeout=600)
    assert not refresher.alive


def test_the_refresher_survives_a_failing_ask():
    calls = []

    def ask(settings):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in the status code")
        return "ok"

    class Settings:
        class ollama:
            url, model = "http://127.0.0.1:1", "m"

    refresher = status.Refresher(ask, interval=0.01).start()  # asks again and again: the bug must not stop it
    try:
        refresher.latest(Settings)
        assert refresher.wait(Settings, timeout=600).status == "ok"
    finally:
        refresher.stop(timeout=600)
