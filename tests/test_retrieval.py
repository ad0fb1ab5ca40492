"""Retrieval: fusion, MMR, the relevance gate, history use, the document filter, the score
breakdown, and one quality check with the real builtin embedder on the user's corpus."""
from __future__ import annotations

import math

import numpy as np
import pytest

from kb import KnowledgeBase
from kb.search.bm25 import BM25Index
from kb.search.evaluate import evaluate, load_items
from kb.ingest.loaders import _pdf_page_blocks, clean_pdf_text
from kb.search.gate import Calibration, decide, missing_names, name_terms, pseudo_question
from kb.search.retrieval import (ABLATIONS, SearchOptions, ablated, expand_with_history, is_follow_up, keyword_coverage,
                          mmr_select, own_and_expanded, query_terms, rrf_fuse, zscore_fuse, zscores)
from kb.search.textproc import tokenize

from .conftest import EVAL, make_settings

# ---------------------------------------------------------------- pure functions


def test_rrf_sums_weighted_reciprocal_ranks():
    fused = rrf_fuse([([1, 2, 3], 1.0), ([3, 4], 2.0)], rrf_k=10)
    assert fused[1] == pytest.approx(1 / 11) and fused[4] == pytest.approx(2 / 12)
    assert fused[3] == pytest.approx(1 / 13 + 2 / 11)
    assert rrf_fuse([([1], 0.0)], 60) == {}


def test_zscores_standardise_and_flat_input_gives_zeros():
    z = zscores([1.0, 2.0, 3.0])
    assert z.mean() == pytest.approx(0) and z.std() == pytest.approx(1) and z[2] > z[1] > z[0]
    assert list(zscores([0.9, 0.9])) == [0.0, 0.0] and len(zscores([])) == 0


def test_zscore_fusion_keeps_margins_that_ranks_lose():
    # Chunk 1 is first for dense by a hair, chunk 2 first for BM25 by a mile: z-scores see the
    # mile, reciprocal ranks would call it a tie.
    ids = [1, 2, 3, 4]
    dense = [0.901, 0.900, 0.850, 0.840]
    bm25 = [1.0, 20.0, 0.5, 0.0]  # 0: the chunk holds no query term
    fused = zscore_fuse(ids, dense, bm25, 0.5, 0.5)
    assert max(fused, key=fused.get) == 2
    rrf = rrf_fuse([([1, 2, 3, 4], 1.0), ([2, 1, 3], 1.0)], 60)
    assert rrf[1] == pytest.approx(rrf[2])
    # only the ratio of the weights matters; all weight on one side gives that side's order
    assert zscore_fuse(ids, dense, bm25, 6, 4) == pytest.approx(zscore_fuse(ids, dense, bm25, 0.6, 0.4))
    only_dense = zscore_fuse(ids, dense, bm25, 1, 0)
    assert sorted(only_dense, key=only_dense.get, reverse=True) == [1, 2, 3, 4]


def test_mmr_prefers_a_different_chunk_over_a_near_duplicate():
    v = np.array([[1, 0, 0], [0.99, 0.141, 0], [0, 1, 0]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert mmr_select([10, 11, 12], [1.0, 0.95, 0.6], v, 2, lam=0.5) == [10, 12]
    assert mmr_select([10, 11, 12], [1.0, 0.95, 0.6], v, 2, lam=1.0) == [10, 11]
    assert mmr_select([], [], np.zeros((0, 3)), 2, 0.5) == []


def test_calibrated_gate_declines_below_the_floor_and_on_unknown_names_without_support():
    cal = Calibration(generation=3, n=40, floor=0.80, support=0.85)
    assert decide(0.83, cal, (), False, True, 0.86).passed  # above the floor, no names missing
    low = decide(0.79, cal, (), False, True, 0.86)
    assert not low.passed and low.reason_code == "gate.below_calibrated" and low.params["threshold"] == 0.80
    names = decide(0.84, cal, ("zorblax",), True, True, 0.86)
    assert not names.passed and names.reason_code == "gate.unknown_names" and "zorblax" in names.params["names"]
    assert decide(0.86, cal, ("zorblax",), True, True, 0.86).passed  # a strong match outweighs the names
    assert decide(0.84, cal, ("zorblax",), True, False, 0.86).passed  # names switched off
    # too small to calibrate: the fixed threshold decides
    assert not decide(0.85, None, (), False, True, 0.86).passed and decide(0.87, None, (), False, True, 0.86).passed
    assert decide(None, cal, (), False, True, 0.86).reason_code == "gate.nothing_found"


def test_pseudo_question_is_one_sentence_of_the_chunk():
    import random

    q = pseudo_question("短。这是一个足够长的句子，用来模拟用户的提问内容。另一句也很长很长很长很长。", random.Random(1))
    assert q and len(q) <= 40 and "。" not in q
    assert pseudo_question("太短。也短。", random.Random(1)) is None


def test_every_ablation_names_a_switch_of_search_options():
    base = SearchOptions()
    for name, (field_name, off, _) in ABLATIONS.items():
        assert getattr(ablated(base, [name]), field_name) == off != getattr(base, field_name), name
    from kb.errors import KBError

    with pytest.raises(KBError) as err:
        ablated(base, ["no-such-mechanism"])
    assert err.value.code == "search.unknown_ablation"


def test_a_hand_set_threshold_replaces_the_calibration():
    from kb.config import RetrievalSettings

    assert SearchOptions.from_settings(RetrievalSettings()).calibrated_gate
    assert not SearchOptions.from_settings(RetrievalSettings(), threshold=0.5).calibrated_gate
    assert not SearchOptions.from_settings(RetrievalSettings(threshold=0.0)).calibrated_gate


def test_names_are_the_latin_words_of_a_chinese_question():
    assert name_terms("在 Zorblax 数据库里，怎么用 Qwerty 查询两个节点？") == ["zorblax", "qwerty"]
    assert name_terms("用 llama.cpp 加载 GGUF 模型要注意什么问题？") == ["llama.cpp", "gguf"]
    assert name_terms("What is the attention mechanism?") == []  # English: every word would count
    assert name_terms("注意力机制是哪一年提出的？") == []
    stats = {"zorblax": (0, 5.0), "qwerty": (0, 5.0), "llama.cpp": (3, 1.0), "gguf": (0, 5.0)}
    assert missing_names(["zorblax", "qwerty"], stats) == (("zorblax", "qwerty"), True)
    assert missing_names(["llama.cpp", "gguf"], stats) == (("gguf",), True)  # half unknown
    assert missing_names(["llama.cpp", "gguf", "x1y"], {**stats, "x1y": (2, 1.0)}) == (("gguf",), False)
    assert missing_names([], stats) == ((), False)


def test_keyword_coverage_is_the_matched_share_of_idf_mass():
    stats = {"向量": (10, 1.0), "检索": (2, 3.0), "没见过": (0, 4.0)}
    assert keyword_coverage(["检索"], stats) == pytest.approx(3 / 8)
    assert keyword_coverage(["向量", "检索", "向量"], stats) == pytest.approx(4 / 8)
    assert keyword_coverage([], stats) == 0.0 and keyword_coverage(["x"], {}) == 0.0


def test_follow_ups_are_expanded_and_their_own_terms_weigh_double():
    history = [{"role": "user", "content": "RAG 里的重排序是做什么的？"},
               {"role": "assistant", "content": "重排序对检索结果重新排列顺序。"}]
    assert is_follow_up("那它的第一步初筛一般用什么算法？", history)
    assert is_follow_up("为什么？", history)  # very short
    assert not is_follow_up("Transformer 的编码器由哪些层组成？", history)
    assert not is_follow_up("它是什么？", [])
    text = expand_with_history("那它的第一步初筛用什么算法？", history)
    assert text.startswith("RAG 里的重排序") and text.endswith("初筛用什么算法？")
    terms = query_terms("那它的第一步初筛用什么算法？", text, used_history=True)
    assert terms.count("初筛") == 2 and terms.count("排序") == tokenize(text).count("排序")
    assert query_terms("初筛", "初筛", used_history=False) == ["初筛"]


def test_a_follow_ups_vector_lies_between_its_expanded_and_own_vectors():
    expanded, own = np.array([1.0, 0.0, 0.0], np.float32), np.array([0.0, 1.0, 0.0], np.float32)
    v = own_and_expanded(expanded, own)
    assert math.isclose(float(np.linalg.norm(v)), 1.0, rel_tol=1e-6)
    assert math.isclose(float(v @ expanded), float(v @ own), rel_tol=1e-6) and float(v @ expanded) > 0.7
    assert np.array_equal(own_and_expanded(expanded, -expanded), expanded)  # opposite: the expanded one


def test_stop_words_take_their_pieces_with_them():
    terms = tokenize("人工智能这个概念最早是在哪一年提出的？")
    assert "哪一年" not in terms and "一年" not in terms and "人工智能" in terms and "提出" in terms
    assert {"中华人民共和国", "共和国", "人民"} <= set(tokenize("中华人民共和国"))  # search mode kept


def test_bm25_scores_any_id_exactly_and_reports_term_stats():
    index = BM25Index()
    docs = {1: ["向量", "检索"], 2: ["向量"], 3: ["延迟"], 4: ["向量", "向量", "索引"]}
    index.add(list(docs), list(docs.values()))
    full = {h.id: h.score for h in index.search(["向量", "索引"], 10)}
    some = index.score_ids(["向量", "索引"], [4, 3, 99])
    assert set(some) == {4} and some[4].score == pytest.approx(full[4]) and some[4].matched == ("向量", "索引")
    stats = index.term_stats(["向量", "没见过"])
    assert stats["向量"][0] == 3 and stats["没见过"][0] == 0 and stats["没见过"][1] > stats["向量"][1]
    assert stats["没见过"][1] == pytest.approx(math.log(1 + 4.5 / 0.5))
    index.remove([2])
    assert index.term_stats(["向量"])["向量"][0] == 2 and index.score_ids(["向量"], [2]) == {}


def test_pdf_titles_without_text_join_the_next_block_and_symbol_lists_stay_text():
    page = ("🔹 最推荐你的部署方式：\n🔹 llama.cpp + INT4 量化模型\n• 利用 GPU 进行推理加速\n"
            "🔹 RAG 的优点\n优点 说明\n\n🔍 无需训练模型 即开即用\n\n🔍 支持随时更新知识\n🔍 支持私有部署")
    headings: list[tuple[int, str]] = []
    blocks = list(_pdf_page_blocks(clean_pdf_text(page), 3, headings))
    assert [b.heading_path for b in blocks] == [("🔹 llama.cpp + INT4 量化模型",), ("🔹 RAG 的优点",)]
    assert blocks[0].text.startswith("🔹 最推荐你的部署方式：\n🔹 llama.cpp")  # the lone title is kept as text
    assert all(b.page == 3 for b in blocks) and "🔍 无需训练模型" in blocks[1].text
    assert "🔍 支持私有部署" in blocks[1].text  # three rows with the same symbol: a list, not three titles
    # a title that ends the page stays a block of its own
    tail = list(_pdf_page_blocks("正文一句。\n🔹 下一节", 4, []))
    assert [b.text for b in tail] == ["正文一句。", "🔹 下一节"]


# ---------------------------------------------------------------- the facade, hash embedder (fast)

NOTES = {
    "rag.md": "# RAG\n\n## 检索\n\nRAG 先用 BM25 初筛，再用向量检索补充语义相近的段落。\n\n"
              "## 重排序\n\n重排序模型对候选段落重新打分，把最相关的排在最前面。\n",
    "deploy.md": "# 部署\n\n## 环境\n\n用 conda 创建 Python 3.10 环境，然后安装 llama.cpp。\n\n"
                 "## 界面\n\n启动后在浏览器打开 http://localhost:7860 即可使用网页界面。\n",
    "train.md": "# 训练\n\n大模型训练分为预训练、监督微调和人类反馈强化学习三个阶段。\n\n"
                "LoRA 只更新低秩矩阵，显存占用小。\n",
}


@pytest.fixture
def small_kb(tmp_path):
    settings = make_settings(tmp_path / "data", retrieval={"threshold": 0.0, "relative_cutoff": 0.0})
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest_bytes([(name, text.encode()) for name, text in NOTES.items()])
        yield kb


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_every_result_carries_a_full_score_breakdown(small_kb, mode):
    result = small_kb.search("浏览器打开哪个地址使用网页界面？", mode=mode, k=4)
    assert result.options.mode == mode and 1 <= len(result.results) <= 4
    assert [r.fused_rank for r in result.results] == list(range(1, len(result.results) + 1))
    fused = [r.fused_score for r in result.results]
    assert fused == sorted(fused, reverse=True)
    for r in result.results:
        assert r.dense_score is not None and -1.0001 <= r.dense_score <= 1.0001  # exact for every result
        assert 0.0 <= r.keyword_coverage <= 1.0
        assert (r.bm25_score is None) == (not r.matched_terms and not r.matched_fields)
        if r.bm25_score is not None:
            assert r.bm25_score > 0
        d = r.to_dict()
        assert d["locator"] == r.chunk.locator and "keyword_coverage" in d
    top = result.results[0]
    assert "7860" in top.chunk.text and top.keyword_coverage > 0.5
    if mode != "dense":
        assert top.bm25_rank == 1
    assert set(result.timings_ms) >= {"embed_query", "fuse"}
    assert result.to_dict()["gate_passed"] is True and result.gate_reason == ""


def test_rrf_fusion_and_mmr_are_options(small_kb):
    rrf = small_kb.search("LoRA 微调显存", fusion="rrf", k=3)
    assert rrf.options.fusion == "rrf" and "LoRA" in rrf.results[0].chunk.text
    assert rrf.results[0].fused_score == pytest.approx(sum(
        w / (60 + r) for w, r in ((0.6, rrf.results[0].dense_rank), (0.4, rrf.results[0].bm25_rank)) if r))
    mmr = small_kb.search("环境 界面 训练", mmr=True, k=3)
    assert len({r.chunk.id for r in mmr.results}) == len(mmr.results) == 3


def test_document_filter_restricts_every_retriever(small_kb):
    everywhere = small_kb.search("训练 环境 检索", k=10)
    assert len({r.chunk.file_name for r in everywhere.results}) == 3
    only = small_kb.search("训练 环境 检索", k=10, documents=["deploy.md"])
    assert only.results and {r.chunk.file_name for r in only.results} == {"deploy.md"}
    both = small_kb.search("训练 环境 检索", k=10, documents=["deploy.md", "train.md"])
    assert {r.chunk.file_name for r in both.results} == {"deploy.md", "train.md"}


def test_history_is_used_only_for_follow_ups(small_kb):
    history = [{"role": "user", "content": "RAG 的检索是怎么做的？"},
               {"role": "assistant", "content": "先用 BM25 初筛，再用向量检索。"}]
    follow = small_kb.search("那它后面的重排序做什么？", history=history)
    assert follow.used_history and follow.retrieval_query.startswith("RAG 的检索")
    assert follow.query_terms.count("排序") == 2 and follow.query_terms.count("初筛") == 1
    alone = small_kb.search("那它后面的重排序做什么？", history=history,
                            options=ablated(small_kb.search_options(), ["own_question"]))
    dense = {r.chunk.id: r.dense_score for r in follow.results}
    assert any(dense.get(r.chunk.id) not in (None, r.dense_score) for r in alone.results)  # another query vector
    fresh = small_kb.search("大模型训练分几个阶段？", history=history)
    assert not fresh.used_history and fresh.retrieval_query == "大模型训练分几个阶段？"


def test_gate_declines_with_a_reason(small_kb):
    low = small_kb.search("浏览器打开哪个地址？", threshold=0.999)
    assert not low.gate_passed and low.relevant == () and "threshold" in low.gate_reason
    assert low.gate_code == "gate.below_fixed" and "0.999" in low.gate_message("en")
    names = small_kb.search("Zorblax 怎么部署 Qwerty 集群？")
    assert names.missing_names == ("zorblax", "qwerty") and not names.gate_passed
    assert "zorblax" in names.gate_reason and "zorblax" in names.gate_message("zh")
    assert small_kb.search("Zorblax 怎么部署 Qwerty 集群？", gate_names=False).gate_passed
    known = small_kb.search("llama.cpp 和 conda 怎么装？")
    assert known.missing_names == () and known.gate_passed
    strict = small_kb.search("浏览器打开哪个地址？", relative_cutoff=1.0, k=6)
    assert all(r.dense_score == pytest.approx(strict.best_dense) for r in strict.relevant)
    assert len(strict.relevant) < len(strict.results)


# ---------------------------------------------------------------- quality, real embedder

def test_quality_on_the_users_corpus_with_the_builtin_embedder(builtin_data):
    """A floor under today's figures on the user's corpus (issue 10 measures two public sets with
    `python -m kb eval`; README, "Retrieval"): hit@5 25/28 and MRR@10 0.83, all 3 follow-ups, both
    unanswerable declined, none answerable declined. Issue 10's target, hit@5 >= 0.92, is not
    reached here: p14 and p19 share almost no words with their evidence, and p01's evidence sits
    in a small PDF section the 4-bit e5-small does not rank."""
    if not EVAL.exists():
        pytest.skip(f"no question set at {EVAL}")
    with KnowledgeBase.open(make_settings(builtin_data, "builtin"), "notes", create=False) as kb:
        items = load_items(EVAL)
        report = evaluate(kb, items)
        chunks = kb.chunks()
        followups = [i for i in items if i.history]
        hits = [kb.search(i.question, history=list(i.history)) for i in followups]
    assert report.hit_at[5] >= 25 / 28 - 1e-9, report.to_dict()
    assert report.mrr_at_10 >= 0.80, report.to_dict()
    assert report.hit5_by_kind["multi_turn"] == 1.0 and all(h.used_history for h in hits)
    assert report.declined_unanswerable == report.n_unanswerable == 2
    assert report.wrongly_declined == []
    # five of the longest chunks fit the chat budget: 4096 - 768 answer reserve - ~800 prompt+history
    longest = sorted((len(c.text) + len(c.heading) for c in chunks), reverse=True)[:5]
    assert sum(longest) * 0.6 < 4096 - 768 - 800


def test_fields_say_where_a_term_matched(small_kb):
    # file/title fields are indexed at ingest; searched only when asked for (off by default)
    plain = small_kb.search("deploy 环境", k=3)
    assert all("file" not in r.matched_fields for r in plain.results)
    fielded = small_kb.search("deploy 环境", k=3, fields=True)
    top = fielded.results[0]
    assert top.chunk.file_name == "deploy.md" and "file" in top.matched_fields
    assert "deploy" not in top.matched_terms and top.to_dict()["matched_fields"] == list(top.matched_fields)
    heading = small_kb.search("重排序", k=1).results[0]
    assert "heading" in heading.matched_fields  # the term is in the chunk's heading path


def test_the_gate_calibrates_on_the_knowledge_base_once_per_generation(tmp_path):
    """Calibrated once, shared by every search; kept while the knowledge base changes by less than a tenth
    (one new note), computed again when it grows more."""
    settings = make_settings(tmp_path / "data")  # hash embedder, shipped threshold: the calibrated gate
    notes = [(f"n{i}.md", f"# 主题{i}\n\n第{i}篇笔记讲的是模块{i}的配置方法，先修改配置文件，再重启服务让设置生效。\n\n"
                          f"## 日志\n\n模块{i}的日志写在单独的目录里，排查问题时先看最近一次的错误记录。\n".encode()) for i in range(20)]
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest_bytes(notes)
        first = kb.search("模块3 的配置怎么改？")
        assert first.options.calibrated_gate and first.calibration is not None
        cal = first.calibration
        assert cal["n"] >= 8 and cal["floor"] <= cal["support"] and cal["generation"] == kb.indexes.current.generation
        assert kb.search("日志在哪里？").calibration == cal  # cached
        kb.ingest_bytes([("extra.md", "# 附录\n\n另外一篇关于备份策略的说明，每周做一次完整备份。\n".encode())])
        assert kb.search("模块3 的配置怎么改？").calibration == cal  # one more note: the same level
        kb.ingest_bytes([(f"more{i}.md", f"# 更多{i}\n\n第{i}篇补充笔记：数据库{i}的备份与恢复步骤。\n".encode())
                         for i in range(10)])
        again = kb.search("模块3 的配置怎么改？")
        assert again.calibration["generation"] == kb.indexes.current.generation != cal["generation"]
        if not again.gate_passed:  # a decline always says why, in both languages
            assert again.gate_code.startswith("gate.") and again.gate_message("zh") and again.gate_message("en")
