"""One real-browser journey: `streamlit run` on a free port, Debian's Chromium through Playwright, the
Ollama stand-in. Uploads part of the corpus, then the rest, looks at chunks, runs a retrieval, asks two
turns, reloads, ingests a large file while moving around, and checks what a person would see.

Every wait ends on an event (a text shown, a job finished, the script run over), never on a
wall-clock limit: the timeouts are a generous safety net only (SAFETY_NET_MS), because the machine is
often loaded. Timings (cold start, page switches, the large ingest) are figures, not assertions:
printed (-s) and written to artifacts/ui_timings.json; screenshots of every page go to docs/screenshots/.

Skipped only when /usr/bin/chromium is missing and CI is unset; under CI a missing browser fails.
"""
from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
from kb import KnowledgeBase
from tests.conftest import CORPUS, REPO, make_settings
from tests.ollama_standin import OllamaStandin

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SAFETY_NET_MS = 600_000  # only so that a broken run ends some day; nothing is timed against it
SHOTS = REPO / "docs" / "screenshots"
TIMINGS = REPO / "artifacts" / "ui_timings.json"
FIRST = ["003_283f558b8ee598dd.pdf", "004_87af14dfdc7eb8b9.md"]
REST = ["000_12f6d42d23b1aa71.pdf", "001_71dc86d143ed4d45.md", "002_41b893db0641b25d.md"]
ANSWER = ("RAG（检索增强生成）先从知识库里检索相关资料，再让模型依据这些资料作答 [1]。"
          "所以它不需要重新训练模型，就能回答原本不会的问题：不会也没关系，可以查资料再回答 [2]。")
FOLLOW_UP = "与微调相比，RAG 的原型大概需要几天就能完成，而且资料更新后无需重新训练 [1]。"
REWRITTEN = "RAG 和微调相比有什么优点？"
FIRST_QUESTION = "RAG 是什么？为什么不用训练模型？"
SECOND = "它和微调比有什么优点？"


def _chromium_or_skip() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/test.sh does)")
    pytest.skip(f"{CHROMIUM} is missing (set CI=1 to make this a failure)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_app(tmp_path: Path, **env_extra: str) -> tuple[subprocess.Popen, str]:
    """`streamlit run` on a free loopback port with data in tmp_path; returns (process, base URL) once healthy."""
    port = _free_port()
    env = dict(os.environ, KB_DATA_DIR=str(tmp_path / "data"), KB_EMBEDDER="hash", PYTHONUNBUFFERED="1", **env_extra)
    env.pop("KB_CONFIG", None)
    log = (tmp_path / "streamlit.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SAFETY_NET_MS / 1000
    while True:  # until the server answers its health check (or dies)
        try:
            urllib.request.urlopen(f"{base}/_stcore/health", timeout=5)
            break
        except OSError:
            assert server.poll() is None, (tmp_path / "streamlit.log").read_text()
            assert time.monotonic() < deadline, "streamlit never answered its health check"
            time.sleep(0.05)
    return server, base


def _reply(body: dict) -> str:
    """Rewrite requests get a standalone question; the first question and the follow-up their answers."""
    system = body["messages"][0]["content"]
    if system.startswith("把用户的最后一个问题改写"):
        return REWRITTEN
    return FOLLOW_UP if body["messages"][-1]["content"].endswith(SECOND) else ANSWER


def _big_markdown() -> bytes:
    """About 4 MB of distinct Chinese notes: long enough to watch the upload page while it ingests."""
    notes = "\n\n".join((CORPUS / name).read_text(encoding="utf-8") for name in FIRST[1:] + REST[1:])
    return "\n\n".join(f"# 第 {i} 部分\n\n" + notes.replace("## ", f"## {i}.") for i in range(55)).encode()


class Journey:
    def __init__(self, page, base: str):
        self.page = page
        self.base = base
        self.timings: dict[str, object] = {}

    def idle(self) -> None:
        """Wait until the script run is over (Streamlit marks the app root)."""
        self.page.wait_for_selector('[data-test-script-state="notRunning"]')

    def title(self, text: str) -> None:
        self.page.locator("h1", has_text=text).first.wait_for()

    def go(self, label: str, title: str) -> float:
        """Click a sidebar link; seconds until the page's title shows and its run is over."""
        started = time.perf_counter()
        self.page.locator('[data-testid="stSidebarNav"] a', has_text=label).click()
        self.title(title)
        self.idle()
        return round(time.perf_counter() - started, 3)

    def shot(self, name: str, height: int = 1000) -> None:
        """Streamlit scrolls inside the page, so a taller window is what shows a whole page."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.set_viewport_size({"width": 1400, "height": height})
        self.idle()
        self.page.wait_for_function(  # expanders open with an animation: let every one finish
            "document.getAnimations().every(a => a.playState !== 'running')")
        self.page.screenshot(path=str(SHOTS / f"{name}.png"))
        self.page.set_viewport_size({"width": 1400, "height": 1000})


def test_browser_journey(tmp_path):
    _chromium_or_skip()
    from playwright.sync_api import expect, sync_playwright

    big = tmp_path / "大文件-笔记.md"
    big.write_bytes(_big_markdown())
    hosts: set[str] = set()
    with OllamaStandin() as ollama, sync_playwright() as p:
        ollama.reply = _reply
        ollama.token_delay = 0.01
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        expect.set_options(timeout=SAFETY_NET_MS)
        started = time.perf_counter()
        server, base = _start_app(tmp_path, KB_OLLAMA_URL=ollama.url, KB_RETRIEVAL_THRESHOLD="0.15",
                                  KB_RETRIEVAL_RELATIVE_CUTOFF="0.6")
        try:
            server_ready = time.perf_counter() - started
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
            page.set_default_timeout(SAFETY_NET_MS)
            page.on("request", lambda request: hosts.add(urlparse(request.url).hostname or ""))
            j = Journey(page, base)
            page.goto(base)
            page.get_by_text("还没有知识库").first.wait_for()  # a fresh data folder: nothing is created unasked
            j.timings["server_ready_s"] = round(server_ready, 3)
            j.timings["cold_start_to_first_page_s"] = round(time.perf_counter() - started, 3)
            page.get_by_role("button", name="创建知识库 notes").click()
            j.title("概览")
            page.get_by_text("Ollama 0.12.6").wait_for()  # the background refresher's answer, drawn by the poller
            j.idle()

            # -- upload a PDF and a Markdown file, then the rest of the corpus (one of them again)
            j.timings["switch_upload_empty_s"] = j.go("上传", "上传文档")
            page.locator("input[type=file]").set_input_files([str(CORPUS / name) for name in FIRST])
            page.get_by_role("button", name="导入 2 个文件").click()
            page.get_by_text("新增 2，替换 0，未变 0，失败 0").wait_for()
            j.idle()
            for name in FIRST:
                expect(page.get_by_text(name, exact=True)).to_be_visible()
            page.locator("input[type=file]").set_input_files([str(CORPUS / name) for name in REST + FIRST[1:]])
            page.get_by_role("button", name="导入 4 个文件").click()
            page.get_by_text("新增 3，替换 0，未变 1，失败 0").wait_for()
            j.idle()
            j.shot("upload", 1100)

            # -- chunks
            j.timings["switch_chunks_s"] = j.go("分块", "分块")
            count = page.get_by_text(re.compile(r"显示 \d+ / \d+ 个分块"))
            expect(count).to_be_visible()
            expect(page.get_by_text("分块详情")).to_be_visible()
            unfiltered = count.inner_text()
            page.get_by_label("正文包含").fill("RAG")
            page.keyboard.press("Enter")
            expect(count).not_to_have_text(unfiltered)
            j.idle()
            expect(page.locator(".stMarkdownColoredBackground", has_text="RAG").first).to_be_visible()  # highlighted
            j.shot("chunks", 1250)

            # -- retrieval
            j.timings["switch_retrieval_s"] = j.go("检索调试", "检索调试")
            page.get_by_label("查询").fill("RAG 为什么不需要训练模型？")
            page.keyboard.press("Enter")
            page.get_by_text(re.compile("最高向量相似度")).wait_for()
            j.idle()
            expect(page.get_by_text(re.compile(r"#1 .*融合"))).to_be_visible()
            page.locator('[data-testid="stExpander"] summary').first.click()
            j.shot("retrieval", 1400)
            page.get_by_role("tab", name="提示词与预算").click()
            expect(page.get_by_text(re.compile(r"上下文：\d+ / \d+ token")).first).to_be_visible()
            j.idle()
            expect(page.get_by_text("<资料>").first).to_be_visible()
            j.shot("retrieval-prompt", 1400)
            page.get_by_role("tab", name="得分图").click()
            page.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
            j.idle()
            j.shot("retrieval-chart")

            # -- chat: two turns, then a reload
            j.timings["switch_chat_s"] = j.go("对话", "对话")
            box = page.get_by_placeholder("就你的文档提问…")
            box.fill(FIRST_QUESTION)
            box.press("Enter")
            page.get_by_text("所以它不需要重新训练模型").first.wait_for()
            j.idle()
            box.fill(SECOND)
            box.press("Enter")
            page.get_by_text(f"追问已改写为：{REWRITTEN}").wait_for()
            page.get_by_text("资料更新后无需重新训练").first.wait_for()
            j.idle()
            messages = page.locator('[data-testid="stChatMessage"]')
            expect(messages).to_have_count(4)
            last = messages.nth(3)
            expect(last.get_by_text(re.compile(r"来源：引用了 \d+ / \d+ 条资料"))).to_be_visible()
            expect(last.get_by_text(re.compile(r"上下文：\d+ / \d+ token"))).to_be_visible()
            expect(last.get_by_text(re.compile("首字 .* 秒"))).to_be_visible()
            last.locator('[data-testid="stExpander"] summary').first.click()
            expect(last.locator('[data-testid="stExpanderDetails"]').first).to_be_visible()
            j.shot("chat", 1700)
            page.reload()
            j.title("对话")
            j.idle()
            expect(page.locator('[data-testid="stChatMessage"]')).to_have_count(4)
            expect(page.locator('[data-testid="stChatMessage"]').nth(2)).to_contain_text(SECOND)

            # -- switching pages with the corpus loaded
            rounds = []
            for _ in range(2):
                for label, title in (("概览", "概览"), ("上传", "上传文档"), ("分块", "分块"), ("检索调试", "检索调试"),
                                     ("对话", "对话")):
                    rounds.append(j.go(label, title))
            j.timings["switch_pages_s"] = rounds
            j.timings["switch_pages_max_s"] = max(rounds)
            j.timings["switch_pages_median_s"] = statistics.median(rounds)
            ollama.load("kb-qwen", size=2_100_000_000, size_vram=1_400_000_000, context_length=4096)
            j.go("概览", "概览")
            page.get_by_role("button", name="刷新状态").click()  # wakes the refresher; the poller redraws
            page.get_by_text("33%/67% CPU/GPU").first.wait_for()
            j.idle()
            j.shot("overview", 800)

            # -- a large file: the upload page (and the others) stay usable while it ingests
            j.go("上传", "上传文档")
            page.locator("input[type=file]").set_input_files(str(big))
            ingest_started = time.perf_counter()
            page.get_by_role("button", name="导入 1 个文件").click()
            page.get_by_text(re.compile(r"\[1/1\] 大文件-笔记\.md")).wait_for()  # its progress is drawn
            page.screenshot(path=str(SHOTS / "upload-progress.png"))
            during = {"overview": j.go("概览", "概览"), "chunks": j.go("分块", "分块"),
                      "upload": j.go("上传", "上传文档")}
            still_running = page.get_by_text(re.compile(r"\[1/1\] 大文件-笔记\.md")).count() > 0
            j.timings["switch_while_ingesting_s"] = during
            j.timings["large_file_mb"] = round(big.stat().st_size / 1e6, 2)
            page.get_by_text(re.compile("新增 1，替换 0，未变 0，失败 0")).wait_for()
            j.timings["large_ingest_s"] = round(time.perf_counter() - ingest_started, 2)
            j.timings["progress_visible_after_switching_back"] = still_running

            # -- English, kept across a reload
            page.get_by_text("English", exact=True).click()
            j.title("Upload documents")
            page.reload()
            j.title("Upload documents")
        except Exception:
            if "page" in locals():  # what the browser showed when it failed, for the CI artifacts
                TIMINGS.parent.mkdir(exist_ok=True)
                page.screenshot(path=str(TIMINGS.parent / "ui_failure.png"), full_page=True)
            raise
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
            browser.close()

    j.timings["hosts_contacted"] = sorted(hosts)
    TIMINGS.parent.mkdir(exist_ok=True)
    TIMINGS.write_text(json.dumps(j.timings, ensure_ascii=False, indent=2))
    print("\nUI timings:", json.dumps(j.timings, ensure_ascii=False, indent=2))
    assert hosts == {"127.0.0.1"}, f"the page contacted other hosts: {hosts}"


def test_a_cold_server_opened_on_a_deep_link_shows_the_whole_app(tmp_path):
    """The first request a fresh server gets is for /chat: Streamlit's old pages/ mode must not run
    the page on its own (ui/navigation.py); the sidebar with our navigation and picker must be there."""
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    KnowledgeBase.open(make_settings(tmp_path / "data", "hash"), "notes", create=True).close()
    server, base = _start_app(tmp_path, KB_OLLAMA_URL=f"http://127.0.0.1:{_free_port()}")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
            page.set_default_timeout(SAFETY_NET_MS)
            page.goto(f"{base}/chat")
            page.locator("h1", has_text="对话").first.wait_for()
            assert page.locator('[data-testid="stSidebarNav"] a').count() == 5
            page.get_by_text("知识库").first.wait_for()
            page.get_by_text("ollama serve").first.wait_for()  # Ollama is down here: the page says how to start it
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
