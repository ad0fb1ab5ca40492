"""In Chromium: curating chunks changes what the Retrieval page finds, and the personal question set is
grown and scored from the Retrieval page (issue 12).

One server over a knowledge base of one Markdown file of the user's corpus, shared by the two tests
(the second runs on what the first left). Every wait ends on something shown: a page's results are
known to be those of the query just typed when the summary line shows that query's terms (computed
here with the same tokenizer), so an absent chunk is never judged on a page that has not redrawn.
"""
from __future__ import annotations

import re
import subprocess

import pytest

from kb import KnowledgeBase
from tests.conftest import make_settings
from tests.ui.conftest import MD
from tests.ui.test_browser import ARGS, CHROMIUM, SAFETY_NET_MS, Journey, _chromium_or_skip, _start_app

pytestmark = pytest.mark.browser
EDITED = "独角兽飞船使用量子引擎在星际之间航行"
EDIT_QUERY = "独角兽飞船 量子引擎"
CJK_RUN = re.compile(r"[\u4e00-\u9fff]{10}")


def _unique_runs(chunks) -> list[tuple[str, str]]:
    """(chunk id, ten Chinese characters only that chunk holds), one per chunk that has such a run."""
    found = []
    for c in chunks:
        for i in range(len(c.text) - 10):
            run = c.text[i:i + 10]
            if CJK_RUN.fullmatch(run) and not any(run in o.text for o in chunks if o.id != c.id):
                found.append((c.id, run))
                break
    return found


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    _chromium_or_skip()
    if not MD.exists():
        pytest.skip(f"the user's corpus is not at {MD.parent}")
    from playwright.sync_api import expect, sync_playwright

    tmp = tmp_path_factory.mktemp("curate_browser")
    settings = make_settings(tmp / "data", "hash", retrieval={"threshold": 0.0, "relative_cutoff": 0.0})
    with KnowledgeBase.open(settings, "notes") as kb:
        assert kb.ingest([MD]).ok
        runs = _unique_runs(kb.chunks())
        assert len(runs) >= 3, "the Markdown file has too few distinct chunks for this test"
        terms = {q: " · ".join(kb.search(q).query_terms) for q in [EDIT_QUERY] + [r for _, r in runs[:3]]}
    server, base = _start_app(tmp, KB_RETRIEVAL_THRESHOLD="0.0", KB_RETRIEVAL_RELATIVE_CUTOFF="0.0",
                              KB_OLLAMA_URL="http://127.0.0.1:9")  # no model needed: retrieval only
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        page.set_default_timeout(SAFETY_NET_MS)
        expect.set_options(timeout=SAFETY_NET_MS)
        try:
            yield Journey(page, base), settings, runs[:3], terms
        finally:
            browser.close()
            server.terminate()
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()


def _query(j: Journey, text: str, terms: str) -> None:
    """Type a query on the Retrieval page; return once the page shows that query's results."""
    j.page.get_by_label("查询", exact=True).fill(text)
    j.page.keyboard.press("Enter")
    j.page.get_by_text(f"查询词：{terms} ·").first.wait_for()
    j.idle()


def _result(j: Journey, text: str):
    return j.page.locator('[data-testid="stExpander"]', has_text=text)


def test_edit_and_disable_on_the_chunks_page_change_the_retrieval_page(app):
    from playwright.sync_api import expect

    j, settings, runs, terms = app
    (edit_id, edit_run), (off_id, off_run), _ = runs
    page = j.page
    page.goto(f"{j.base}/retrieval")
    j.title("检索调试")
    j.idle()
    _query(j, off_run, terms[off_run])
    expect(_result(j, off_run).first).to_be_attached()  # before: only that chunk answers it, and it is found

    j.go("分块", "分块")
    filter_box = page.get_by_label("正文包含")
    filter_box.fill(edit_run)  # the one chunk holding it becomes the chunk in the detail view
    page.keyboard.press("Enter")
    expect(page.get_by_text("显示 1 / ")).to_be_visible()
    j.idle()
    page.get_by_label("编辑分块文本（保存后重新嵌入）").fill(EDITED)
    page.get_by_role("button", name=re.compile("保存修改")).click()
    page.get_by_text("没有符合筛选条件的分块。").wait_for()  # its old text is gone
    j.idle()
    filter_box.fill(off_run)
    page.keyboard.press("Enter")
    expect(page.get_by_text("显示 1 / ")).to_be_visible()
    j.idle()
    page.get_by_role("button", name=re.compile("停用")).click()
    page.get_by_text("此分块已停用").first.wait_for()  # still shown, greyed, with the note
    j.idle()

    j.go("检索调试", "检索调试")
    _query(j, EDIT_QUERY, terms[EDIT_QUERY])
    expect(_result(j, EDITED).first).to_be_attached()
    _query(j, off_run, terms[off_run])
    assert _result(j, "").count() > 0  # results are shown, and the disabled chunk is not among them
    expect(_result(j, off_run)).to_have_count(0)
    with KnowledgeBase.open(settings, "notes") as kb:
        states = {s.chunk.id: s for s in kb.chunk_states()}
        assert states[edit_id].edited and states[edit_id].chunk.text == EDITED
        assert states[off_id].disabled
        assert kb.check().ok


def test_mark_the_right_chunk_and_score_the_personal_set_from_the_retrieval_page(app):
    j, settings, runs, terms = app
    _, _, (right_id, question) = runs
    page = j.page
    page.goto(f"{j.base}/retrieval")
    j.title("检索调试")
    j.idle()
    _query(j, question, terms[question])
    first = _result(j, question).first  # only that chunk holds the question's text
    first.locator("summary").click()
    first.get_by_role("button", name=re.compile("这是正确的分块")).click()
    page.get_by_text("已加入本知识库的问题集").wait_for()
    j.idle()
    page.get_by_role("button", name=re.compile("用我的问题集评测")).click()
    shown = page.get_by_text(re.compile(r"我的问题集：1 个问题，hit@1 \d\.\d\d，hit@5 \d\.\d\d，MRR@10 \d\.\d{3}"))
    shown.wait_for()
    with KnowledgeBase.open(settings, "notes") as kb:
        assert kb.personal_questions()[0]["question"] == question
        report = kb.personal_eval(k=10)
    assert f"hit@1 {report.hit_at[1]:.2f}，hit@5 {report.hit_at[5]:.2f}，MRR@10 {report.mrr_at_10:.3f}" in \
        shown.inner_text()
    assert report.hit_at[5] == 1.0  # the marked chunk is found again for its question
