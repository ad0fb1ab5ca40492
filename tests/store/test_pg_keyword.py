"""The shared store's keyword search is exactly kb/search/bm25.py's: the same top k and the same scores,
whether a query is scored in full or by MaxScore (common terms scored only for the rows that can still
reach the top k), after a bulk load, single writes, deletes and a disabled chunk, and after a knowledge
base of format 1 (no `terms` table) is upgraded on open."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from kb import KnowledgeBase
from kb.search.bm25 import BM25Index
from kb.store.files import utc_now
from kb.types import Chunk, Document

from ..pg_server import pg_server, pg_settings, pg_url  # noqa: F401 (fixtures)

VOCAB = [f"w{i}" for i in range(300)]
P = 1.0 / np.arange(1, len(VOCAB) + 1) ** 1.1
P /= P.sum()


def doc_items(kb_name: str, n_docs: int, per_doc: int, rng: np.random.Generator, start: int = 0):
    out = []
    for d in range(start, start + n_docs):
        name = f"d{d}.md"
        doc_id = hashlib.sha256(name.encode()).hexdigest()[:16]
        terms = [list(rng.choice(VOCAB, size=int(rng.integers(5, 40)), p=P)) for _ in range(per_doc)]
        chunks = [Chunk(id=f"{doc_id}{i:04d}", kb=kb_name, doc_id=doc_id, file_name=name, position=i,
                        text=" ".join(t), content_hash=hashlib.sha256(" ".join(t).encode()).hexdigest())
                  for i, t in enumerate(terms)]
        vecs = rng.standard_normal((per_doc, 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        out.append((Document(doc_id=doc_id, kb=kb_name, file_name=name, file_hash=doc_id * 4, size_bytes=0,
                             kind="markdown", n_chunks=per_doc, n_pages=None, ingested_at=utc_now()),
                    chunks, vecs, terms))
    return out


QUERIES = [["w0", "w1", "w250"], ["w3", "w120", "w2", "w0"], ["w0", "w1"], ["w299", "w298", "w0", "w0", "w5"],
           ["w40", "w41", "w42", "w1"], ["w7"]]


def assert_same_as_bm25py(kb: KnowledgeBase) -> None:
    with kb.store.read() as view:
        ids, terms = view.terms()
        ref = BM25Index()
        ref.add(ids, terms)
        index = kb.indexes.at(view)
        assert any(index._max_score(index._query(q), 5, None) is not None for q in QUERIES)  # MaxScore was used
        for q in QUERIES:
            for k in (5, 40):
                got, want = index.keyword(q, k), ref.search(q, k)
                assert [h.id for h in got] == [h.id for h in want], q
                assert np.allclose([h.score for h in got], [h.score for h in want], rtol=1e-9), q
                assert [h.matched for h in got] == [h.matched for h in want], q
        some = ids[::7]
        got, want = index.keyword_scores(QUERIES[1], some), ref.score_ids(QUERIES[1], some)
        assert sorted(got) == sorted(want)
        assert all(abs(got[i].score - want[i].score) < 1e-9 * want[i].score for i in got)
    report = kb.check()  # the documents were written without originals: only that may be reported
    assert [p for p in report.problems if p.code != "check.pg_original_missing"] == []


def test_keyword_top_k_equals_bm25_py_through_bulk_and_single_writes(tmp_path, pg_url):
    rng = np.random.default_rng(5)
    settings = pg_settings(tmp_path / "data", pg_url)
    with KnowledgeBase.open(settings, "kw") as kb:
        with kb.store.writer() as w:
            w.replace_all(doc_items("kw", 12, 100, rng), kb.store.embedder_name, 384)
        assert_same_as_bm25py(kb)
        with kb.store.writer() as w:
            for doc, chunks, vecs, terms in doc_items("kw", 3, 50, rng, start=12):
                w.replace_document(doc, chunks, vecs, terms)
            w.delete_document(hashlib.sha256(b"d3.md").hexdigest()[:16])
        target = kb.chunks()[17]
        kb.disable_chunk(target.id)
        assert_same_as_bm25py(kb)


def test_a_format_1_knowledge_base_gets_its_term_statistics_on_open(tmp_path, pg_url):
    from kb.store.pg.schema import FORMAT_VERSION

    settings = pg_settings(tmp_path / "data", pg_url)
    with KnowledgeBase.open(settings, "old") as kb:
        with kb.store.writer() as w:
            w.replace_all(doc_items("old", 4, 60, np.random.default_rng(9)), kb.store.embedder_name, 384)
            w._q("DROP TABLE {s}.terms")
            w._q("DELETE FROM {s}.meta WHERE key IN ('bm25_n', 'bm25_len')")
            w._q("UPDATE {s}.meta SET value = '1' WHERE key = 'format_version'")
    with KnowledgeBase.open(settings, "old") as kb:
        with kb.store.read() as view:
            assert view.meta()["format_version"] == str(FORMAT_VERSION)
        assert_same_as_bm25py(kb)
