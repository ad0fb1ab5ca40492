"""The Retrieval page grows the knowledge base's own question set; the Overview page says which model fits."""
from __future__ import annotations

from tests.ollama_standin import OllamaStandin
from tests.ui.conftest import texts


def test_mark_the_right_chunk_then_score_my_questions(corpus_env):
    at = corpus_env.app("retrieval")
    at.text_input(key="retrieval_query").input("大模型 是什么").run()
    assert not at.exception
    first = next(b for b in at.button if b.key and b.key.startswith("ret_mark_"))
    first.click().run()
    assert any("已加入" in s for s in texts(at.success))
    at.button(key="ret_personal_eval").click().run()
    assert not at.exception and not at.error
    shown = " ".join(m.value for m in at.markdown)
    assert "我的问题集：1 个问题" in shown and "hit@1 1\\.00" in shown  # the marked chunk is found first


def test_the_overview_says_which_model_fits_a_4_gib_card(app_env):
    with OllamaStandin(models=["qwen2.5:1.5b"]) as server:
        app_env.ollama(server.url)
        at = app_env.app()
        at.number_input(key="fit_vram").set_value(4.0).run()
        at.button(key="fit_run").click().run()
        assert not at.exception and not at.error
        table = next(df.value for df in at.dataframe if "结论" in df.value.columns)
        verdicts = dict(zip(table["模型"], table["结论"]))
        assert verdicts["qwen2.5:1.5b"] == "完全放在 GPU 上"
        assert any(name.startswith("qwen3") for name in verdicts)


def test_the_models_rerank_is_shown_with_where_each_result_was(corpus_env, ollama_standin):
    """Second stage on the Retrieval page: the toggle asks the model (the stand-in puts the last candidate
    first), the table gains the first stage's rank, and a caption says what the model did."""
    def last_first(body):
        n = body["messages"][-1]["content"].count("\n[")
        return '{"order": [%d]}' % n
    ollama_standin.reply = last_first
    at = corpus_env.app("retrieval")
    at.text_input(key="retrieval_query").input("大模型 是什么").run()
    plain = next(df.value for df in at.dataframe if "名次" in df.value.columns)
    assert "第一阶段" not in plain.columns
    at.toggle(key="retrieval_llm_rerank").set_value(True).run()
    assert not at.exception and not at.error
    table = next(df.value for df in at.dataframe if "名次" in df.value.columns)
    assert list(table["名次"]) == list(range(1, len(table) + 1))
    assert int(table["第一阶段"].iloc[0]) == 10  # llm_rerank_top candidates: the tenth came first
    assert any("模型重新排序了前 10 个候选" in c for c in texts(at.caption))
    assert ollama_standin.calls("/api/chat")


def test_why_not_my_note_says_where_each_retriever_put_it(corpus_env):
    """The Retrieval page's "why not my note?": a passage of the chunk a person expected, and the page says
    whether it is returned, each retriever's rank and score for it, and the question's words it lacks."""
    at = corpus_env.app("retrieval")
    at.text_input(key="retrieval_query").input("大模型 是什么").run()
    first = next(b.key for b in at.button if b.key and b.key.startswith("ret_mark_")).removeprefix("ret_mark_")
    at.text_input(key="ret_explain_expected").input(first).run()
    at.button(key="ret_explain_run").click().run()
    assert not at.exception and not at.error
    assert any("它在结果里：第 1 名" in i.value for i in at.info)
    frames = [df.value for df in at.dataframe if "检索方式" in df.value.columns]
    assert frames and list(frames[0]["检索方式"]) == ["向量", "关键词", "融合"]
    assert int(frames[0]["名次"].iloc[2]) == 1
    at.text_input(key="ret_explain_expected").input("这句话不在任何笔记里xyz").run()
    at.button(key="ret_explain_run").click().run()
    assert any("没有哪个片段包含" in e.value for e in at.error)
