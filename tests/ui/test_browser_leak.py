"""In Chromium: an Ollama error carrying an image link and an <img> tag makes the browser fetch nothing.

The stand-in Ollama answers the chat turn with a 500 whose body holds `![x](http://127.0.0.2:PORT/...)`
and a raw `<img src=...>`; a trap HTTP server on 127.0.0.2 (still loopback: nothing leaves the
machine) counts every request it gets. The page's own requests are recorded too. Both must show
only 127.0.0.1, after the turn and again after a reload (the error is stored with the conversation).
A last step loads an image from the trap on purpose, to prove the trap would have seen a leak.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest

from kb import KnowledgeBase
from tests.conftest import make_settings
from tests.ollama_standin import OllamaStandin
from tests.ui.conftest import MD
from tests.ui.test_browser import ARGS, CHROMIUM, Journey, _chromium_or_skip, _start_app

pytestmark = pytest.mark.browser
GENEROUS_MS = 300_000  # a safety net only: every wait below ends on an event


class Trap:
    """An HTTP server on 127.0.0.2 that records the path of every request and answers 404."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                hits.append(self.path)
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Trap":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_ollama_error_with_an_image_link_fetches_nothing(tmp_path):
    _chromium_or_skip()
    from playwright.sync_api import expect, sync_playwright

    with KnowledgeBase.open(make_settings(tmp_path / "data", "hash"), "notes", create=True) as kb:
        assert kb.ingest([MD]).ok
    requests: list[str] = []
    with Trap() as trap, OllamaStandin() as ollama, sync_playwright() as p:
        ollama.fail_mode = "500_before_stream"
        ollama.error_message = (f"model crashed ![x](http://127.0.0.2:{trap.port}/leak.png) "
                                f"<img src=\"http://127.0.0.2:{trap.port}/raw.png\"> see `ollama ps`")
        server, base = _start_app(tmp_path, KB_OLLAMA_URL=ollama.url, KB_RETRIEVAL_THRESHOLD="0.0",
                                  KB_RETRIEVAL_RELATIVE_CUTOFF="0.0")
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
            page.set_default_timeout(GENEROUS_MS)
            expect.set_options(timeout=GENEROUS_MS)
            page.on("request", lambda request: requests.append(request.url))
            j = Journey(page, base)
            page.goto(f"{base}/chat")
            j.title("对话")
            j.idle()
            box = page.get_by_placeholder("就你的文档提问…")
            box.fill("RAG 是什么？")
            box.press("Enter")
            shown = page.get_by_text("model crashed").first
            shown.wait_for()
            j.idle()
            page.wait_for_load_state("networkidle")
            messages = page.locator('[data-testid="stChatMessage"]')
            expect(messages).to_have_count(2)
            answer = messages.nth(1)
            shown_text = answer.inner_text().replace("\u2060", "")  # the invisible joiners that defuse autolinks
            assert f"![x](http://127.0.0.2:{trap.port}/leak.png)" in shown_text  # shown, as text
            assert f'<img src="http://127.0.0.2:{trap.port}/raw.png">' in shown_text
            assert answer.locator("img").count() == 0 and answer.locator("a[href*='127.0.0.2']").count() == 0
            # Ollama's own backticks are its text, not our Markdown: shown as typed, never as code
            assert "`ollama ps`" in shown_text and answer.locator("code", has_text="ollama ps").count() == 0
            after_turn = list(requests)

            page.reload()
            j.title("对话")
            page.get_by_text("model crashed").first.wait_for()
            j.idle()
            page.wait_for_load_state("networkidle")
            assert page.locator("img[src*='127.0.0.2']").count() == 0
            hosts = {urlparse(url).hostname for url in requests}
            assert trap.hits == [], trap.hits
            assert hosts == {"127.0.0.1"}, sorted(set(requests) - {u for u in requests if "127.0.0.1" in u})
            assert len(requests) > len(after_turn) > 0  # the reload was recorded as well

            # the control: the same browser loading an image from the trap is seen by both recorders
            page.evaluate("url => new Promise(done => { const i = new Image(); i.onload = i.onerror = done; "
                          "i.src = url; })", f"http://127.0.0.2:{trap.port}/control.png")
            assert trap.hits == ["/control.png"]
            assert any(urlparse(u).hostname == "127.0.0.2" for u in requests)
        finally:
            browser.close()
            server.terminate()
            server.wait(timeout=60)
