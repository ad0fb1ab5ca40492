"""The second retrieval stage (kb/search/second_stage.py, kb/llm/stages.py): the model's rewrite and
listwise rerank through the real `ollama` client over HTTP against the stand-in, and what happens when
the model is absent, slow or answers nonsense (the first stage's results stand, and the report says why)."""
from __future__ import annotations

import json
import re

import pytest

from kb import KnowledgeBase
from kb.errors import StageError
from kb.llm.stages import RERANK_SCHEMA, REWRITE_SCHEMA, parse_order, parse_queries
from kb.search.second_stage import rrf_merge

from .conftest import make_settings
from .ollama_standin import OllamaStandin, unused_url

DOCS = {
    "garden.md": "# 花园\n\n春天给月季施肥，每两周一次，用稀释的液肥。",
    "kitchen.md": "# 厨房\n\n炖牛肉要小火慢炖两个小时，中途加一次热水。",
    "bikes.md": "# 自行车\n\n链条每骑三百公里上一次油，先用布擦干净旧油。",
    "tea.md": "# 茶\n\n绿茶用八十度的水冲泡，第一泡三十秒即可出汤。",
    "storage.md": "# 收纳\n\n冬天的被子真空压缩后放进床底的收纳箱。",
    "cats.md": "# 猫\n\n小猫三个月大以后可以打第一针疫苗，之后每年加强一次。",
}
PASSAGE = re.compile(r"^\[(\d+)\] (.*)$", re.M)


@pytest.fixture
def standin():
    with OllamaStandin() as server:
        yield server


def open_kb(tmp_path, url: str, **retrieval):
    settings = make_settings(tmp_path / "data", ollama={"url": url, "connect_timeout": 2.0},
                             retrieval={"threshold": -1.0, **retrieval})  # hash vectors: a gate that passes
    kb = KnowledgeBase.open(settings, "home")
    kb.ingest_bytes([(name, text.encode("utf-8")) for name, text in DOCS.items()])
    return kb


def rerank_to(word: str):
    """A model that puts the passage holding `word` first and keeps the rest in their order."""
    def reply(body):
        prompt = body["messages"][-1]["content"]
        numbers = [int(n) for n, text in PASSAGE.findall(prompt)]
        best = [int(n) for n, text in PASSAGE.findall(prompt) if word in text]
        return json.dumps({"order": best + [n for n in numbers if n not in best]})
    return reply


def ids(result) -> list[str]:
    return [r.chunk.id for r in result.results]


def test_rerank_puts_the_models_order_first_and_says_where_each_was(tmp_path, standin):
    with open_kb(tmp_path, standin.url, llm_rerank=True, llm_rerank_top=6) as kb:
        first = kb.search("家里的事情怎么做", k=3, llm_rerank=False)
        target = [r for r in kb.search("家里的事情怎么做", k=6, llm_rerank=False).results
                  if "疫苗" in r.chunk.text][0]
        standin.reply = rerank_to("疫苗")
        result = kb.search("家里的事情怎么做", k=3)
    assert result.results[0].chunk.id == target.chunk.id
    assert result.results[0].first_stage_rank == target.fused_rank and result.results[0].fused_rank == 1
    assert len(result.results) == 3 and ids(result) != ids(first)
    (report,) = result.stages
    assert report.stage == "rerank" and report.applied and report.code == "" and report.moved >= 1
    (call,) = standin.calls("/api/chat")
    assert call.body["stream"] is False and call.body["format"] == RERANK_SCHEMA
    assert call.body["options"]["temperature"] == 0 and "think" not in call.body
    assert len(PASSAGE.findall(call.body["messages"][-1]["content"])) == 6  # llm_rerank_top candidates
    assert result.to_dict()["stages"][0]["applied"] is True


def test_rewrite_finds_what_the_question_words_miss_and_keeps_the_questions_gate(tmp_path, standin):
    question = "怎么照顾家里新来的小宠物"
    with open_kb(tmp_path, standin.url, llm_rewrite=True, mode="bm25") as kb:
        before = kb.search(question, k=3, llm_rewrite=False)
        assert not any("疫苗" in r.chunk.text for r in before.results)
        standin.reply = json.dumps({"queries": ["小猫 疫苗", question]}, ensure_ascii=False)
        result = kb.search(question, k=3)
    assert any("疫苗" in r.chunk.text for r in result.results)
    (report,) = result.stages
    assert report.applied and report.queries == ("小猫 疫苗",)  # the question itself is not searched twice
    assert [r.fused_rank for r in result.results] == list(range(1, len(result.results) + 1))
    assert standin.calls("/api/chat")[0].body["format"] == REWRITE_SCHEMA
    assert result.query == question  # the answer is still about the question asked


def test_nonsense_a_missing_ollama_and_a_hung_model_keep_the_first_stage(tmp_path, standin):
    with open_kb(tmp_path, standin.url, llm_rerank=True, llm_rewrite=True) as kb:
        first = kb.search("牛肉怎么炖", llm_rerank=False, llm_rewrite=False)
        standin.reply = "我觉得第二段最好。"
        nonsense = kb.search("牛肉怎么炖")
        standin.fail_mode = "stall"
        standin.stall_timeout = 3600.0  # the stand-in never gives up first: only our deadline can end the call
        hung = kb.search("牛肉怎么炖", llm_budget=0.5)
        standin.fail_mode = None
    assert ids(nonsense) == ids(first) and ids(hung) == ids(first)
    assert [(r.stage, r.applied, r.code) for r in nonsense.stages] == [
        ("rewrite", False, "stage.rewrite.bad_reply"), ("rerank", False, "stage.rerank.bad_reply")]
    assert "第二段" in nonsense.stages[0].params["reply"]
    assert not any(r.applied for r in hung.stages)
    assert hung.stages[0].code in ("stage.rewrite.failed", "stage.rewrite.no_time")
    assert {r.code for r in hung.stages[1:]} <= {"stage.rerank.failed", "stage.rerank.no_time"}

    down = unused_url()
    with open_kb(tmp_path / "down", down, llm_rerank=True) as kb:
        plain = kb.search("牛肉怎么炖", llm_rerank=False)
        result = kb.search("牛肉怎么炖")
    assert ids(result) == ids(plain)
    (report,) = result.stages
    assert report.code == "stage.rerank.failed" and down in report.params["error"]
    assert "ollama serve" in report.message("en") and "沿用第一阶段的结果" in report.message("zh")


def test_a_declined_question_is_not_sent_to_the_model(tmp_path, standin):
    settings = make_settings(tmp_path / "data", ollama={"url": standin.url}, retrieval={"llm_rerank": True})
    with KnowledgeBase.open(settings, "home") as kb:
        kb.ingest_bytes([(name, text.encode("utf-8")) for name, text in DOCS.items()])
        result = kb.search("Kubernetes 的 Pod 如何调度？", threshold=0.999)
    assert not result.gate_passed
    assert [r.code for r in result.stages] == ["stage.rerank.declined"]
    assert standin.calls("/api/chat") == []


def test_a_thinking_model_is_asked_not_to_think_and_inline_reasoning_is_ignored(tmp_path, standin):
    standin.add_model("qwen3:0.6b")
    settings = make_settings(tmp_path / "q3", ollama={"url": standin.url, "model": "qwen3:0.6b"},
                             retrieval={"threshold": -1.0, "llm_rerank": True, "llm_rerank_top": 6})
    with KnowledgeBase.open(settings, "home") as kb:
        kb.ingest_bytes([(name, text.encode("utf-8")) for name, text in DOCS.items()])
        standin.reply = rerank_to("绿茶")
        result = kb.search("喝点什么", k=2)
    assert "绿茶" in result.results[0].chunk.text and result.stages[0].applied
    assert standin.calls("/api/chat")[-1].body["think"] is False


@pytest.mark.parametrize("reply, n, order", [
    ('{"order": [3, 1]}', 4, [2, 0, 1, 3]),
    ('```json\n{"order": ["2", 2, 9, 0, true, 1]}\n```', 3, [1, 0, 2]),
    ('<think>先看看</think>\n结果：{"order": [1]} 完', 2, [0, 1]),
])
def test_parse_order_reads_what_a_small_model_writes(reply, n, order):
    assert parse_order(reply, n) == order


@pytest.mark.parametrize("reply", ["", "第二段", '{"order": []}', '{"order": [7]}', '{"ranking": [1]}', "[1, 2]"])
def test_parse_order_refuses_a_reply_without_one_usable_number(reply):
    with pytest.raises(StageError) as info:
        parse_order(reply, 3)
    assert info.value.code == "stage.rerank.bad_reply"


def test_parse_queries_drops_the_question_blanks_and_extras():
    assert parse_queries('{"queries": ["问题", " a ", "", "b", "c", "d"]}', "问题") == ["a", "b", "c"]
    with pytest.raises(StageError):
        parse_queries('{"queries": ["问题"]}', "问题")


def test_rrf_merge_weighs_the_question_like_all_rewrites_together(tmp_path):
    with KnowledgeBase.open(make_settings(tmp_path / "data"), "home") as kb:
        kb.ingest_bytes([(name, text.encode("utf-8")) for name, text in DOCS.items()])
        a = kb.search("月季 施肥 链条", k=3, threshold=-1.0, mode="bm25")
        b = kb.search("链条 上油", k=3, threshold=-1.0, mode="bm25")
        c = kb.search("绿茶 冲泡", k=3, threshold=-1.0, mode="bm25")
    merged = rrf_merge([a, b, c])
    expected: dict[str, float] = {}
    for weight, result in ((1.0, a), (0.5, b), (0.5, c)):
        for rank, r in enumerate(result.results, start=1):
            expected[r.chunk.id] = expected.get(r.chunk.id, 0.0) + weight / (60 + rank)
    assert {r.chunk.id: r.fused_score for r in merged} == pytest.approx(expected)
    assert [r.fused_score for r in merged] == sorted(expected.values(), reverse=True)
    assert [r.fused_rank for r in merged] == list(range(1, len(merged) + 1))
