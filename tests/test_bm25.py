import logging
import math
import random
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from kb.search.bm25 import FILE_NAME, BM25Hit, BM25Index

WORDS = [f"w{i}" for i in range(40)] + ["向量", "检索", "延迟", "索引", "chunk_size", "7860"]


def make_corpus(n: int, seed: int = 7, empty_every: int = 0) -> dict[int, list[str]]:
    """Deterministic docs with a skewed word distribution (some words common, most rare)."""
    rng = random.Random(seed)
    weights = [1 / (r + 1) for r in range(len(WORDS))]
    docs = {}
    for j in range(n):
        doc_id = 1000 + 7 * j  # ids unrelated to positions
        if empty_every and j % empty_every == 0:
            docs[doc_id] = []
        else:
            docs[doc_id] = rng.choices(WORDS, weights, k=rng.randint(3, 30))
    return docs


def make_queries(seed: int = 11) -> list[list[str]]:
    rng = random.Random(seed)
    queries = [rng.sample(WORDS, rng.randint(1, 5)) for _ in range(25)]
    queries += [["向量", "检索"], ["w0"], ["w39", "w39", "w1"], ["unknown", "w5"], ["向量", "向量"]]
    return queries


def reference_scores(docs: dict[int, list[str]], query: list[str], k1: float = 1.2,
                     b: float = 0.75) -> dict[int, float]:
    """Plain-loop BM25 with the Lucene idf; each query token occurrence adds its term's score."""
    n = len(docs)
    avgdl = sum(len(t) for t in docs.values()) / n
    df = Counter(term for tokens in docs.values() for term in set(tokens))
    scores = {}
    for doc_id, tokens in docs.items():
        tf = Counter(tokens)
        score = 0.0
        for term in query:
            if tf[term]:
                idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
                score += idf * tf[term] * (k1 + 1) / (tf[term] + k1 * (1 - b + b * len(tokens) / avgdl))
        if score > 0:
            scores[doc_id] = score
    return scores


def build(docs: dict[int, list[str]], **params) -> BM25Index:
    index = BM25Index(**params)
    index.add(list(docs), list(docs.values()))
    return index


def assert_same_results(a: list[BM25Hit], b: list[BM25Hit]) -> None:
    assert [h.id for h in a] == [h.id for h in b]
    assert [h.matched for h in a] == [h.matched for h in b]
    np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------- scoring


@pytest.mark.parametrize("k1,b", [(1.2, 0.75), (1.5, 0.3), (0.9, 1.0), (2.0, 0.0)])
def test_scores_match_a_plain_reference_implementation(k1, b):
    docs = make_corpus(80, empty_every=13)
    index = build(docs, k1=k1, b=b)
    for query in make_queries():
        expected = reference_scores(docs, query, k1, b)
        hits = index.search(query, k=len(docs))
        assert {h.id for h in hits} == set(expected)
        for hit in hits:
            assert hit.score == pytest.approx(expected[hit.id], abs=1e-6)
            assert hit.score > 0
            assert set(hit.matched) == {t for t in query if t in docs[hit.id]}
        order = sorted(expected, key=lambda i: (-expected[i], i))
        assert [h.id for h in hits] == order


def test_agrees_with_rank_bm25_once_the_idf_is_converted():
    docs = make_corpus(60, seed=3)
    ids, corpus = list(docs), list(docs.values())
    okapi = BM25Okapi(corpus, k1=1.2, b=0.75)
    index = build(docs)
    n = len(corpus)
    df = Counter(t for tokens in corpus for t in set(tokens))
    # rank_bm25 uses ln((N - df + 0.5) / (df + 0.5)) (floored when negative); ours adds 1 inside
    # the log. The tf part is the same, so per term: ours = okapi * our_idf / okapi_idf.
    terms = [t for t in df if abs(okapi.idf[t]) > 1e-9]
    assert len(terms) > 20
    for query in make_queries():
        query = [t for t in query if t in terms]
        if not query:
            continue
        expected = np.zeros(n)
        for term in query:
            ours = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            expected += okapi.get_scores([term]) * ours / okapi.idf[term]
        got = np.zeros(n)
        for hit in index.search(query, k=n):
            got[ids.index(hit.id)] = hit.score
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_single_term_ranking_equals_rank_bm25():
    docs = make_corpus(60, seed=5)
    ids, corpus = list(docs), list(docs.values())
    okapi = BM25Okapi(corpus, k1=1.2, b=0.75)
    index = build(docs)
    for term in ["w3", "w10", "向量", "chunk_size"]:
        assert okapi.idf[term] > 0  # both idfs positive: same order
        scores = okapi.get_scores([term])
        expected = sorted((i for i, s in zip(ids, scores) if s > 0), key=lambda i: (-scores[ids.index(i)], i))
        assert [h.id for h in index.search([term], k=len(ids))] == expected


def test_repeated_query_terms_count_once_per_occurrence():
    index = build(make_corpus(30))
    once = {h.id: h.score for h in index.search(["w4"], 50)}
    twice = {h.id: h.score for h in index.search(["w4", "w4"], 50)}
    assert once.keys() == twice.keys() and once
    for doc_id in once:
        assert twice[doc_id] == pytest.approx(2 * once[doc_id])


def test_ties_are_broken_by_id_ascending_and_k_cuts_after_ordering():
    index = BM25Index()
    index.add([50, 3, 9, 41], [["a", "b"], ["a", "b"], ["a", "b"], ["c"]])
    assert [h.id for h in index.search(["a"], 10)] == [3, 9, 50]
    assert [h.id for h in index.search(["a"], 2)] == [3, 9]
    assert index.search(["a", "c"], 10)[0].matched == ("c",)


def test_matched_lists_query_terms_in_query_order():
    index = BM25Index()
    index.add([1, 2], [["向量", "检索", "延迟"], ["检索"]])
    hits = index.search(["延迟", "检索", "索引", "向量"], 5)
    assert hits[0] == BM25Hit(1, hits[0].score, ("延迟", "检索", "向量"))
    assert hits[1].matched == ("检索",)


# ---------------------------------------------------------------------- edge cases


def test_empty_index_empty_query_and_unknown_terms_return_nothing():
    empty = BM25Index()
    assert empty.search(["a"], 5) == []
    assert len(empty) == 0 and empty.ids().tolist() == []
    index = build(make_corpus(10))
    assert index.search([], 5) == []
    assert index.search(["nope", "zzz"], 5) == []
    assert index.search(["w0"], 0) == []


def test_add_rejects_bad_input():
    index = BM25Index()
    index.add([1], [["a"]])
    with pytest.raises(ValueError):
        index.add([1], [["b"]])
    with pytest.raises(ValueError):
        index.add([2, 2], [["b"], ["c"]])
    with pytest.raises(ValueError):
        index.add([3], [["b"], ["c"]])
    assert len(index) == 1 and index.search(["b"], 5) == []
    with pytest.raises(ValueError):
        BM25Index(k1=-1)


def test_allowed_ids_filter_results_without_changing_scores():
    docs = make_corpus(80)
    index = build(docs)
    allowed = set(list(docs)[::3]) | {999_999}
    for query in make_queries():
        everything = index.search(query, k=len(docs))
        filtered = index.search(query, k=5, allowed_ids=allowed)
        assert filtered == [h for h in everything if h.id in allowed][:5]
    assert index.search(["w0"], 5, allowed_ids=set()) == []
    assert index.search(["w0"], 5, allowed_ids=np.array(list(docs)[:2])) != []


# ---------------------------------------------------------------------- incremental updates


def test_incremental_adds_and_removes_equal_a_fresh_build():
    docs = make_corpus(120, seed=21)
    ids = list(docs)
    index = BM25Index()
    pos = 0
    for size in [40, 20, 10, 5, 5, 1, 1, 1, 7, 30]:  # several segments, some merges
        batch = ids[pos:pos + size]
        index.add(batch, [docs[i] for i in batch])
        pos += size
    assert len(index._segments) > 1  # the multi-segment path is what this test is about
    live = dict(docs)

    def check() -> None:
        fresh = build(dict(sorted(live.items(), key=lambda kv: -kv[0])))  # order must not matter
        assert len(index) == len(live)
        assert index.ids().tolist() == sorted(live)
        for query in make_queries():
            assert_same_results(index.search(query, 20), fresh.search(query, 20))
            expected = reference_scores(live, query)
            assert {h.id for h in index.search(query, len(live))} == set(expected)

    check()
    index.remove([ids[3]])  # a few dead rows: kept, skipped when scoring
    del live[ids[3]]
    check()
    index.remove([ids[3], 424242])  # unknown or already removed ids are ignored
    gone = ids[10:50]  # past 20% dead: compaction
    index.remove(gone)
    for i in gone:
        del live[i]
    check()
    readd = {ids[10]: ["w1", "brand_new"], 5: ["w2", "w2", "7860"]}
    index.add(list(readd), list(readd.values()))
    live.update(readd)
    check()
    assert index.search(["brand_new"], 3)[0].id == ids[10]


def test_removing_everything_then_adding_again():
    docs = make_corpus(20)
    index = build(docs)
    index.remove(list(docs))
    assert len(index) == 0 and index.search(["w0"], 5) == []
    index.add([1], [["w0"]])
    assert [h.id for h in index.search(["w0"], 5)] == [1]


def test_concurrent_searches_and_adds_do_not_break():
    docs = make_corpus(200)
    items = list(docs.items())
    index = build(dict(items[:50]))
    errors = []

    def writer() -> None:
        for j in range(50, 200, 5):
            index.add([i for i, _ in items[j:j + 5]], [t for _, t in items[j:j + 5]])

    def reader() -> None:
        try:
            for _ in range(200):
                for hit in index.search(["w1", "w7", "向量"], 5):
                    assert hit.score > 0
        except Exception as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert_same_results(index.search(["w1", "w7"], 10), build(docs).search(["w1", "w7"], 10))


# ---------------------------------------------------------------------- persistence


def test_save_load_round_trip(tmp_path: Path):
    docs = make_corpus(90, empty_every=17)
    ids = list(docs)
    index = BM25Index(k1=1.4, b=0.6)
    index.add(ids[:60], [docs[i] for i in ids[:60]])
    index.add(ids[60:], [docs[i] for i in ids[60:]])
    index.remove(ids[:2])
    for i in ids[:2]:
        del docs[i]
    before = {tuple(q): index.search(q, 10) for q in make_queries()}

    index.save(tmp_path, "generation-42")
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]  # no temp files left behind
    loaded = BM25Index.load(tmp_path)
    assert loaded is not None
    copy, stamp = loaded
    assert stamp == "generation-42"
    assert (copy.k1, copy.b) == (1.4, 0.6)
    assert len(copy) == len(docs) and copy.ids().tolist() == sorted(docs)
    for query, hits in before.items():
        assert_same_results(copy.search(list(query), 10), hits)
        assert_same_results(index.search(list(query), 10), hits)  # saving did not change the original

    copy.add([1], [["w3", "w3", "w3"]])  # a loaded index keeps working
    docs[1] = ["w3", "w3", "w3"]
    assert_same_results(copy.search(["w3"], 10), build(docs, k1=1.4, b=0.6).search(["w3"], 10))

    copy.save(tmp_path, "generation-43")  # overwrite
    assert BM25Index.load(tmp_path)[1] == "generation-43"


def test_a_failed_add_leaves_a_usable_index(tmp_path: Path):
    index = build({1: ["a"]})
    with pytest.raises(TypeError):
        index.add([2], [["b", ["not", "a", "string"]]])
    assert len(index) == 1 and index.search(["b"], 3) == []
    index.save(tmp_path, "s")
    copy, _ = BM25Index.load(tmp_path)
    assert [h.id for h in copy.search(["a"], 3)] == [1]


def test_empty_index_round_trip(tmp_path: Path):
    BM25Index().save(tmp_path, "0")
    index, stamp = BM25Index.load(tmp_path)
    assert stamp == "0" and len(index) == 0 and index.search(["a"], 3) == []


def test_load_of_a_missing_file_returns_none_quietly(tmp_path: Path, caplog):
    with caplog.at_level(logging.WARNING, logger="kb.search.bm25"):
        assert BM25Index.load(tmp_path) is None
        assert BM25Index.load(tmp_path / "nowhere") is None
    assert not caplog.records


def _damaged_files(good: bytes) -> dict[str, bytes]:
    return {
        "garbage": b"this is not an npz file at all",
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "bit flip": good[:200] + bytes([good[200] ^ 0xFF]) + good[201:],
    }


@pytest.mark.parametrize("kind", ["garbage", "empty", "truncated", "bit flip"])
def test_load_of_a_damaged_file_returns_none_and_warns(tmp_path: Path, caplog, kind):
    build(make_corpus(50)).save(tmp_path, "1")
    path = tmp_path / FILE_NAME
    path.write_bytes(_damaged_files(path.read_bytes())[kind])
    with caplog.at_level(logging.WARNING, logger="kb.search.bm25"):
        assert BM25Index.load(tmp_path) is None
    assert any("unreadable" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("tamper", ["lens", "indices", "unsorted", "meta", "missing"])
def test_load_of_inconsistent_arrays_returns_none(tmp_path: Path, tamper):
    build(make_corpus(30)).save(tmp_path, "1")
    path = tmp_path / FILE_NAME
    with np.load(path) as z:
        arrays = {name: z[name] for name in z.files}
    if tamper == "lens":
        arrays["lens"] = arrays["lens"] + 1
    elif tamper == "indices":
        arrays["indices"] = arrays["indices"].copy()
        arrays["indices"][0] = len(arrays["ids"]) + 5
    elif tamper == "unsorted":
        start = arrays["indptr"][np.argmax(np.diff(arrays["indptr"]))]  # the longest postings list
        arrays["indices"] = arrays["indices"].copy()
        arrays["indices"][start:start + 2] = arrays["indices"][start:start + 2][::-1]
    elif tamper == "meta":
        arrays["meta"] = np.frombuffer(b'{"format": "other"}', dtype=np.uint8)
    else:
        del arrays["data"]
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    assert BM25Index.load(tmp_path) is None
