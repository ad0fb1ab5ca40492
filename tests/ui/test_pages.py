"""Every page through AppTest, started from the entry like a browser would, against the Ollama stand-in."""
from __future__ import annotations

import re
import time

from tests.ollama_standin import OllamaStandin
from tests.ui.conftest import MD, PDF, frame, plain, sidebar_text, texts, wait_job, wait_status

REPLY = "RAG 先检索资料再回答 [1]。它不需要重新训练模型 [2]。"


# -- overview ---------------------------------------------------------------------------------------


def test_overview_shows_counts_and_ollama(corpus_env, ollama_standin):
    ollama_standin.load("kb-qwen", size=2_000_000_000, size_vram=1_300_000_000, context_length=4096)
    at = corpus_env.app()

    metrics = {m.label: plain(m.value) for m in at.metric}
    assert metrics["文档"] == "2" and int(metrics["分块"]) > 10
    assert metrics["Ollama 版本"] == "0.12.6" and metrics["上下文长度"] == "4,096"
    assert "35%/65% CPU/GPU" in plain(at.get("progress")[0].proto.text)
    assert "CPU/GPU 分担：GPU 65%，CPU 35%" in plain(at.get("progress")[0].proto.text)
    assert "模型能力：completion, tools（模板：模型的 TEMPLATE）" in [plain(c) for c in texts(at.caption)]
    assert "kb-qwen" in sidebar_text(at)


def test_overview_says_how_to_start_ollama(app_env, ollama_down_url):
    app_env.ollama(ollama_down_url)
    at = app_env.app()

    assert "Ollama 没有运行" in at.error[0].value
    assert "ollama serve" in texts(at.code)
    assert "Ollama 未运行" in sidebar_text(at)


def test_overview_creates_the_missing_model_from_the_modelfile(app_env):
    with OllamaStandin(models=["qwen2.5:1.5b"]) as server:
        app_env.ollama(server.url)
        at = app_env.app()
        assert "缺少模型" in sidebar_text(at)
        at.button(key="overview_setup_model").click().run()
        wait_job(at, "setup")
        assert "kb-qwen:latest" in server.models
        assert any("已创建" in s for s in texts(at.success))

        wait_status(newer_than=time.time())  # the finished setup asked for a fresh status
        at.run()
        assert "overview_setup_model" not in [b.key for b in at.button]
        assert "缺少模型" not in sidebar_text(at)


# -- upload -----------------------------------------------------------------------------------------


def test_upload_ingests_files_with_a_result_per_file(app_env):
    at = app_env.app("upload")
    at.file_uploader[0].set_value([(PDF.name, PDF.read_bytes(), "application/pdf"),
                                   (MD.name, MD.read_bytes(), "text/markdown"),
                                   ("empty.md", b"", "text/markdown")]).run()
    at.button(key="upload_ingest").click().run()
    wait_job(at, "ingest")

    assert not at.exception
    results = frame(at, "状态")
    assert list(results["状态"]) == ["新增", "新增", "失败"]
    assert "文件是空的" in results["原因 / 提示"].iloc[2]
    assert any("新增 2" in w for w in texts(at.warning))  # one failed: a warning, not a success
    page_text = " ".join(texts(at.markdown))
    assert PDF.name in page_text.replace("\\", "") and MD.name in page_text.replace("\\", "")
    assert at.file_uploader[0].value in (None, [])  # emptied for the next batch


def test_upload_deletes_and_reindexes_a_document(corpus_env):
    at = corpus_env.app("upload")
    doc_keys = [b.key for b in at.button if b.key and b.key.startswith("doc_delete_")]
    assert len(doc_keys) == 2

    at.button(key=doc_keys[0]).click().run()
    confirm = doc_keys[0].replace("doc_delete_", "doc_confirm_")
    at.button(key=confirm).click().run()
    assert len([b for b in at.button if b.key and b.key.startswith("doc_delete_")]) == 1
    assert any("已删除" in s for s in texts(at.success))

    at.button(key="upload_reindex_all").click().run()
    wait_job(at, "ingest")
    assert list(frame(at, "状态")["状态"]) == ["替换"]


# -- chunks -----------------------------------------------------------------------------------------


def test_chunks_table_filters_and_detail(corpus_env):
    at = corpus_env.app("chunks")
    table = at.dataframe(key="chunks_table").value
    total = len(table)
    assert total > 10 and set(table["文件"]) == {PDF.name, MD.name}

    at.selectbox(key="chunks_doc").set_value(PDF.name).run()
    at.selectbox(key="chunks_page").set_value(2).run()
    on_page_2 = at.dataframe(key="chunks_table").value
    assert 0 < len(on_page_2) < total and set(on_page_2["文件"]) == {PDF.name}
    assert all("2" in p for p in on_page_2["页"])

    at.selectbox(key="chunks_doc").set_value(None).run()
    at.text_input(key="chunks_text").input("LLM").run()
    matching = at.dataframe(key="chunks_table").value
    assert 0 < len(matching) < total
    texts_by_id = {c.id: c.text for c in corpus_env.chunks()}
    assert all("llm" in texts_by_id[i].lower() for i in matching["ID"])
    assert any("orange-background" in m for m in texts(at.markdown))  # the detail highlights the filter text

    at.session_state["chunks_tab"] = "统计"  # what clicking the tab does (AppTest cannot click tabs)
    at.run()
    stats = frame(at, "平均字符")
    assert list(stats["文件"]) == sorted([PDF.name, MD.name]) or set(stats["文件"]) == {PDF.name, MD.name}
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")


def test_chunks_marks_ocr_text_beside_its_page_image_and_flags_a_low_page(app_env, tmp_path, monkeypatch):
    from tests.files import SMALL, scan_pdf

    scan = tmp_path / "扫描件.pdf"
    scan.write_bytes(scan_pdf([["第一页：安装步骤。", "先装依赖再启动。"]], size=SMALL))
    note = tmp_path / "笔记.md"
    note.write_text("# 笔记\n\n普通文字，不经过 OCR。\n", encoding="utf-8")
    app_env.ingest(scan, note)
    monkeypatch.setenv("KB_OCR_LOW_CONFIDENCE", "0.9999")  # [ocr] low_confidence: every page is low
    at = app_env.app("chunks")
    table = at.dataframe(key="chunks_table").value
    by_file = dict(zip(table["文件"], table["OCR"]))
    assert by_file["笔记.md"] == "" and by_file["扫描件.pdf"].startswith("⚠ OCR 0.")

    at.selectbox(key="chunks_doc").set_value(scan.name).run()
    assert not at.exception, at.exception
    assert any(":orange-badge[" in m and "OCR 识别 · 置信度 0." in plain(m) for m in texts(at.markdown))
    assert any("第 1 页的 OCR 置信度为 0." in plain(w) and "低于 0.9999" in plain(w) for w in texts(at.warning))
    assert at.get("image"), "no page image beside the OCR chunk"
    assert any("扫描件.pdf 第 1 页" in plain(c) for c in texts(at.caption))

    at.selectbox(key="chunks_doc").set_value(note.name).run()
    assert not at.get("image") and not any("OCR" in w for w in texts(at.warning))


# -- retrieval --------------------------------------------------------------------------------------


def test_retrieval_shows_the_score_breakdown_the_gate_and_the_prompt(corpus_env):
    at = corpus_env.app("retrieval")
    assert at.info  # a hint until there is a query
    at.text_input(key="retrieval_query").input("大模型 是什么").run()

    assert not at.exception
    table = frame(at, "向量名次")
    assert len(table) == 5
    assert {"融合", "向量", "关键词", "命中词", "通过门槛"} <= set(table.columns)
    assert table["融合"].is_monotonic_decreasing
    assert table["命中词"].str.len().sum() > 0
    assert not at.code  # only the open tab is drawn
    # the exact prompt: system + user messages, and the budget meter
    at.session_state["retrieval_tab"] = "提示词与预算"
    at.run()
    code = texts(at.code)
    assert any("<资料>" in c for c in code) and any("[1]" in c for c in code)
    assert any("上下文" in p.proto.text for p in at.get("progress"))
    # settings B side by side
    at.session_state["retrieval_tab"] = "对比两种设置"
    at.run()
    assert len(frame(at, "A 名次")) >= 5

    at.session_state["retrieval_tab"] = "结果"
    at.slider(key="retrieval_k").set_value(3).run()
    at.segmented_control(key="retrieval_mode").set_value("bm25").run()
    table = frame(at, "向量名次")
    assert len(table) == 3 and table["向量名次"].isna().all()


def test_retrieval_threshold_decides_the_gate(corpus_env):
    at = corpus_env.app("retrieval")
    at.text_input(key="retrieval_query").input("大模型 是什么").run()
    at.slider(key="retrieval_threshold").set_value(0.99).run()

    assert not frame(at, "向量名次")["通过门槛"].any()
    assert any("没有结果达到相关性阈值" in w for w in texts(at.warning))


# -- chat -------------------------------------------------------------------------------------------


def _rewrites(body: dict) -> str:
    """The stand-in answers rewrite requests with a standalone question, everything else with REPLY."""
    system = body["messages"][0]["content"]
    return "RAG 为什么不需要训练模型？" if system.startswith("把用户的最后一个问题改写") else REPLY


def test_chat_streams_an_answer_with_citations_and_keeps_the_conversation(corpus_env, ollama_standin):
    ollama_standin.reply = _rewrites
    at = corpus_env.app("chat")
    at.chat_input(key="chat_input").set_value("RAG 是什么？").run()

    assert not at.exception
    user, assistant = at.chat_message
    assert user.markdown[0].value == "RAG 是什么？".replace("？", "？")
    assert "RAG 先检索资料再回答 \\[1\\]" in assistant.markdown[0].value.replace("\\[1]", "\\[1\\]")
    labels = [e.label for e in assistant.expander]
    assert labels and labels[0].startswith("\\[1\\]")
    assert any("上下文" in p.proto.text for p in assistant.get("progress"))
    assert any("首字" in c.value for c in assistant.caption)

    at.chat_input(key="chat_input").set_value("它有什么优点？").run()
    assert len(at.chat_message) == 4
    assert any("追问已改写为" in c.value for c in at.chat_message[3].caption)

    again = corpus_env.app("chat")  # a new session, as after a page reload
    assert len(again.chat_message) == 4
    assert again.selectbox(key="chat").value == at.selectbox(key="chat").value


def test_chat_new_switch_and_delete_conversation(corpus_env, ollama_standin):
    ollama_standin.reply = REPLY
    at = corpus_env.app("chat")
    at.chat_input(key="chat_input").set_value("第一个对话").run()
    first = at.selectbox(key="chat").value
    at.button(key="chat_new").click().run()
    assert at.selectbox(key="chat").value != first and not at.chat_message

    at.selectbox(key="chat").set_value(first).run()
    assert len(at.chat_message) == 2
    at.button(key="chat_delete").click().run()
    assert first not in at.selectbox(key="chat").options


def test_chat_without_ollama_says_so_and_answers_with_passages(corpus_env, ollama_down_url):
    corpus_env.ollama(ollama_down_url)
    at = corpus_env.app("chat")
    assert "Ollama 没有运行" in at.warning[0].value
    assert "ollama serve" in texts(at.code)

    at.chat_input(key="chat_input").set_value("大模型是什么？").run()
    assistant = at.chat_message[1]
    assert any("没有可用的模型" in w.value for w in assistant.warning)
    assert "没有可用的模型" in assistant.markdown[0].value
    assert assistant.expander  # the passages, with their sources


# -- sidebar ----------------------------------------------------------------------------------------


def test_sidebar_creates_switches_and_deletes_knowledge_bases(app_env):
    at = app_env.app()
    at.text_input(key="kb_new_name").input("work").run()
    at.button(key="kb_create").click().run()
    assert at.selectbox(key="kb").value == "work"
    assert set(at.selectbox(key="kb").options) == {"notes", "work"}

    at.selectbox(key="kb").set_value("notes").run()
    at.selectbox(key="kb").set_value("work").run()
    at.checkbox(key="kb_delete_confirm").check().run()
    at.button(key="kb_delete").click().run()
    assert at.selectbox(key="kb").options == ["notes"]
    assert not (app_env.data / "kbs" / "work").exists()


def test_sidebar_rejects_a_bad_name(app_env):
    at = app_env.app()
    at.text_input(key="kb_new_name").input("../x").run()
    at.button(key="kb_create").click().run()
    assert at.error and "不是有效的知识库名称" in at.error[0].value  # the core's message, in the UI's language


def test_english_ui(app_env):
    at = app_env.app()
    at.segmented_control(key="lang").set_value("en").run()
    assert at.title[0].value == "Overview"
    at.switch_page("pages/chat.py").run()
    assert at.title[0].value == "Chat"


# -- untrusted text ---------------------------------------------------------------------------------

HOSTILE_MD = """# 安全 <script>alert('h')</script>

这是一段包含 <img src=x onerror=alert(1)> 和 ![追踪](http://evil.example/t.png) 的笔记，
还有 [链接](javascript:alert(2)) 以及 :red[彩色] 文本。RAG 检索增强生成。
"""


def test_document_and_answer_text_is_shown_as_text(app_env, ollama_standin, tmp_path):
    hostile = tmp_path / "hostile.md"
    hostile.write_text(HOSTILE_MD, encoding="utf-8")
    app_env.ingest(hostile)
    ollama_standin.reply = "见资料 [1]。<img src=x onerror=alert(3)> ![x](http://evil.example/a.png)"

    def markdown_of(at) -> str:
        return "\n".join(texts(at.markdown) + [e.label for e in at.expander] + texts(at.caption))

    at = app_env.app("chunks")
    at.text_input(key="chunks_text").input("RAG").run()
    shown = markdown_of(at)
    at.switch_page("pages/retrieval.py").run()
    at.text_input(key="retrieval_query").input("RAG 检索").run()
    shown += markdown_of(at)
    at.switch_page("pages/chat.py").run()
    at.chat_input(key="chat_input").set_value("RAG 是什么？").run()
    shown += markdown_of(at)

    assert "\\<img src=x onerror=alert(3)" in shown  # the answer's HTML, shown as text
    assert "\\<script\\>" in shown and "\\<img src\\=x" in shown  # the document's
    for live in (r"(?<!\\)<(img|script)", r"(?<!\\)!\[", r"(?<!\\)\[[^\]]*\]\((http|javascript)", r"(?<!\\):red\["):
        assert not re.search(live, shown), live
