"""The approximate vector index (kb/store/dense.py): used above `[index] approximate_above`, close to
exact, and kept by every guarantee of the store (incremental changes, persisted files, check)."""
from __future__ import annotations

import numpy as np

from kb import KnowledgeBase
from kb.store import dense

from ..conftest import make_settings


def _unit(rng, n, dim=64):
    m = rng.standard_normal((n, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_ivf_is_used_above_the_threshold_and_finds_what_exact_finds():
    rng = np.random.default_rng(7)
    mat, ids = _unit(rng, 3000), np.arange(10, 3010, dtype=np.int64)
    assert not dense.is_approximate(dense.build(ids, mat, 64, approximate_above=5000))
    index = dense.build(ids, mat, 64, approximate_above=1000)
    assert dense.is_approximate(index) and 1 <= index.nprobe <= index.nlist
    exact = dense.build(ids, mat, 64, approximate_above=10**9)
    queries = mat[:100] + 0.5 * _unit(rng, 100)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recall = []
    for q in queries:
        _, a = dense.search(index, q[None, :], 10, None)
        _, e = dense.search(exact, q[None, :], 10, None)
        recall.append(len(set(a[0]) & set(e[0])) / 10)
    assert np.mean(recall) >= 0.9
    assert sorted(dense.all_ids(index).tolist()) == ids.tolist()
    index.remove_ids(np.array([10, 11], dtype=np.int64))
    assert {10, 11}.isdisjoint(dense.all_ids(index).tolist()) and index.ntotal == 2998
    _, only = dense.search(index, mat[100][None, :], 5, allowed={110, 2000})
    assert set(only[0].tolist()) - {-1} == {110, 2000}  # a narrow filter is exact: both allowed ids come back


def test_a_knowledge_base_above_the_threshold_keeps_every_store_guarantee(tmp_path):
    settings = make_settings(tmp_path / "data", index={"approximate_above": 600},
                             retrieval={"threshold": 0.0, "relative_cutoff": 0.0})
    lines = [f"## 第 {i} 节\n\n条目 {i} 的说明：编号 A{i:04d} 的零件放在第 {i % 37} 号柜子里。\n" for i in range(900)]
    note = tmp_path / "清单.md"
    note.write_text("# 清单\n\n" + "\n".join(lines), encoding="utf-8")
    with KnowledgeBase.open(settings, "big", create=True) as kb:
        assert kb.ingest([note]).ok
        n = len(kb.chunks())
        assert n >= 600
        with kb.store.read() as view:
            assert kb.indexes.at(view).approximate
        target = kb.search("编号 A0421 的零件", k=1).results[0].chunk
        kb.disable_chunk(target.id)  # an incremental change on the approximate index
        assert target.id not in [r.chunk.id for r in kb.search("编号 A0421 的零件", k=10).results]
        assert kb.check().ok
        before = [r.chunk.id for r in kb.search("A0421", k=3, mode="dense").results]
    with KnowledgeBase.open(settings, "big") as kb:  # from the persisted index files
        with kb.store.read() as view:
            assert kb.indexes.at(view).approximate
        assert [r.chunk.id for r in kb.search("A0421", k=3, mode="dense").results] == before
        assert kb.check().ok
