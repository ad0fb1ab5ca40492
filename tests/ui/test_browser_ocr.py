"""The Chunks page's OCR view in a real browser: a scanned page (Chinese text rendered by tests/files.py
into an image-only PDF) ingested with real OCR, then opened in Debian's Chromium against `streamlit run`.
What a reader sees: the OCR badge on the chunk, the page image beside it actually loaded from the app,
and the flag of a page below `[ocr] low_confidence` (KB_OCR_LOW_CONFIDENCE set high, so the page is low).

One app start; every wait ends on an element or an event, the timeouts are only a safety net."""
from __future__ import annotations

import re
import subprocess

import pytest
from kb import KnowledgeBase
from tests.conftest import make_settings
from tests.files import SMALL, scan_pdf
from tests.ui.test_browser import ARGS, CHROMIUM, SAFETY_NET_MS, _chromium_or_skip, _free_port, _start_app

pytestmark = pytest.mark.browser

SCAN = "扫描件.pdf"


def test_chunks_page_shows_the_ocr_badge_the_page_image_and_the_low_confidence_flag(tmp_path):
    _chromium_or_skip()
    from playwright.sync_api import expect, sync_playwright

    with KnowledgeBase.open(make_settings(tmp_path / "data", "hash"), "notes", create=True) as kb:
        report = kb.ingest_bytes([(SCAN, scan_pdf([["第一页：安装步骤。", "先装依赖再启动。"]], size=SMALL))])
    assert report.ok, report
    server, base = _start_app(tmp_path, KB_OLLAMA_URL=f"http://127.0.0.1:{_free_port()}",
                              KB_OCR_LOW_CONFIDENCE="0.9999")  # [ocr] low_confidence: the page counts as low
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            expect.set_options(timeout=SAFETY_NET_MS)
            page = browser.new_page(viewport={"width": 1400, "height": 1400}, locale="zh-CN")
            page.set_default_timeout(SAFETY_NET_MS)
            page.goto(f"{base}/chunks")
            page.locator("h1", has_text="分块").first.wait_for()
            expect(page.get_by_text("分块详情")).to_be_visible()
            page.wait_for_selector('[data-test-script-state="notRunning"]')

            badge = page.get_by_text(re.compile(r"OCR 识别 · 置信度 0\.\d\d"))
            expect(badge).to_be_visible()
            flag = page.locator('[data-testid="stAlertContentWarning"]',
                                has_text=re.compile(r"第 1 页的 OCR 置信度为 0\.\d\d，低于 0\.9999"))
            expect(flag).to_be_visible()

            image = page.locator('[data-testid="stImage"] img').first
            expect(image).to_be_visible()
            expect(page.get_by_text(f"{SCAN} 第 1 页")).to_be_visible()  # the caption under the page image
            handle = image.element_handle()
            page.wait_for_function("img => img.complete", arg=handle)
            size = image.evaluate("img => [img.naturalWidth, img.naturalHeight, img.getAttribute('src')]")
            assert size[0] > 0 and size[1] > 0, f"the page image did not load: {size}"
            assert size[2].startswith("/media/") or size[2].startswith(base), size[2]  # served by the app itself
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
