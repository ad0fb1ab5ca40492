"""`explain`: why the chunk a person expected is, or is not, among a question's results, over real FAISS
and the real keyword index (the CLI's `kb explain` prints the same)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kb import KnowledgeBase
from kb.errors import KBError

from .conftest import REPO, make_settings

DOCS = [(f"d{i}.md", f"# 第 {i} 篇\n\n第 {i} 篇讲{'苹果' if i < 4 else '梨子'}的种植：土壤、浇水和修剪。".encode("utf-8"))
        for i in range(10)]


@pytest.fixture
def kb(tmp_path):
    with KnowledgeBase.open(make_settings(tmp_path / "data"), "notes") as knowledge_base:
        knowledge_base.ingest_bytes(DOCS)
        yield knowledge_base


def test_each_verdict_names_what_kept_the_chunk_out(kb):
    ask = dict(mode="bm25", k=1, threshold=-1.0)
    top = kb.search("苹果 种植", **ask).results[0].chunk
    (returned,) = kb.explain("苹果 种植", top.id, **ask).targets
    assert returned.verdict == "explain.returned" and returned.params == {"rank": 1, "k": 1}

    other = next(c for c in kb.chunks() if "苹果" in c.text and c.id != top.id)
    (below,) = kb.explain("苹果 种植", other.id, **ask).targets
    assert below.verdict == "explain.below_k" and below.fused_rank > 1 and below.bm25_rank == below.fused_rank
    assert below.params["kth"] >= below.params["score"] and "苹果" in below.matched_terms

    pear = next(c for c in kb.chunks() if "梨子" in c.text)
    (outside,) = kb.explain("苹果 种植", f"第 {pear.file_name[1]} 篇讲梨子", candidates=2, **ask).targets
    assert outside.chunk.id == pear.id and outside.verdict == "explain.not_candidate"
    assert outside.fused_rank is None and outside.params["candidates"] == 2 and outside.bm25_rank > 2
    assert [t for t, _, _ in outside.lacking_terms] == ["苹果"]  # the one word of the question it lacks

    (filtered,) = kb.explain("苹果 种植", other.id, documents=[top.file_name], **ask).targets
    assert filtered.verdict == "explain.filtered" and filtered.params["file"] == other.file_name

    kb.disable_chunk(other.id)
    (disabled,) = kb.explain("苹果 种植", other.id, **ask).targets
    assert disabled.verdict == "explain.disabled" and disabled.dense_score is None


def test_a_passage_names_every_chunk_holding_it_and_an_unknown_one_is_an_error(kb):
    found = kb.explain("种植", "土壤、浇水", k=3, threshold=-1.0)
    assert len(found.targets) == 5  # ten chunks hold it: the first five in reading order
    assert all("土壤、浇水" in t.chunk.text for t in found.targets)
    assert {t.verdict for t in found.targets} <= {"explain.returned", "explain.below_k", "explain.not_candidate"}
    with pytest.raises(KBError) as info:
        kb.explain("种植", "没有这句话")
    assert info.value.code == "explain.no_chunk"


def test_the_cli_prints_the_explanation_and_json(kb, tmp_path):
    kb.close()
    env = {"KB_DATA_DIR": str(tmp_path / "data"), "KB_EMBEDDER": "hash", "KB_LANG": "en", "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "kb", "explain", "--kb", "notes", "苹果 种植", "--expect", "第 9 篇讲梨子"]
    text = subprocess.run(run, cwd=REPO, env=env, capture_output=True, text=True)
    assert text.returncode == 0, text.stderr
    assert "d9.md" in text.stdout and "words of the question it lacks" in text.stdout
    data = json.loads(subprocess.run(run + ["--json"], cwd=REPO, env=env, capture_output=True, text=True).stdout)
    (target,) = data["targets"]
    assert target["chunk"]["file_name"] == "d9.md" and target["lacking_terms"][0]["term"] == "苹果"
    assert data["search"]["query"] == "苹果 种植"
