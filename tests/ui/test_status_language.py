"""Ollama's status error (asked in the background, in the process's language) is shown in the
session's language, from the code kb.llm.ollama sets."""
from __future__ import annotations

from kb.messages import render as render_message
from tests.ui.conftest import texts, wait_status
from ui import safe


def test_the_ollama_status_error_follows_the_sessions_language(app_env, ollama_down_url, monkeypatch):
    monkeypatch.setenv("KB_LANG", "en")  # the process (and so the refresher thread) speaks English
    app_env.ollama(ollama_down_url)
    at = app_env.app()
    status = wait_status().status
    assert not status.reachable and status.error_code, status
    zh = render_message(status.error_code, status.error_params, "zh")
    en = render_message(status.error_code, status.error_params, "en")
    assert zh != en and status.error == en

    # shown through ui.safe: the URL cannot become a link, the command is a code span
    assert safe.coded(status.error_code, status.error_params, "zh") in texts(at.caption)
    assert "`ollama serve`" in zh and "` ollama serve `" in " ".join(texts(at.caption))
    at.segmented_control(key="lang").set_value("en").run()
    assert safe.coded(status.error_code, status.error_params, "en") in texts(at.caption)
