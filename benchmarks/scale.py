"""The embedded store (SQLite + FAISS) at a million chunks: latency, recall of the approximate index, load, memory.

    .venv/bin/python benchmarks/scale.py [--chunks 1000000] [--queries 200] [--keep DIR]

What is built. One knowledge base of N chunks, written through the Writer (`replace_document`, 500
chunks a document, the calls an ingest makes after parsing) and `Indexes.persist` with the default
settings, so above `[index] approximate_above` (200k) the vector index is FAISS IVF-Flat, trained and
calibrated as kb/store/dense.py says. The text is generated Chinese/English (benchmarks/scale_corpus.py:
Zipf-distributed words of jieba's dictionary and of the Qwen vocabulary); the vectors are exactly the
384-dimension `hash` embedder's (checked on a sample).

What is printed.
- build: writing the chunks (SQLite), then building and persisting the indexes (IVF training included);
- cold load: `KnowledgeBase.open` in a fresh process (the stamped index files are read) and its first
  search (which also calibrates the docs-only gate, kb/search/gate.py), timed apart;
- latency of `kb.search(k=5)` per mode (dense, bm25, hybrid), excluding query embedding (the search's
  own `embed_query` time is subtracted), p50 and p95 over the questions;
- recall@10 of the dense index against exact search: the snapshot's own top 10 for each question
  compared with an exact inner-product scan of the same vectors (1.0 when the index is exact);
- peak RSS of the build process, and RSS of the searching process after all its searches.

Target (issue 14): hybrid p95 <= 50 ms and recall@10 >= 0.95 at 1M chunks.
"""
from __future__ import annotations

import argparse
import hashlib
import json
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

from kb.embedders import HashEmbedder  # noqa: E402
from kb.store import Indexes, KBStore, utc_now  # noqa: E402
from kb.types import Chunk, Document  # noqa: E402

DIM = 384
CHUNKS_PER_DOC = 500
BATCH_DOCS = 20  # documents generated and embedded at once
SEED = 20240601


def build(folder: Path, n_chunks: int, corpus: Corpus) -> tuple[float, float, np.ndarray]:
    """Write n_chunks into a new knowledge base; (write seconds, index seconds, all vectors in row order)."""
    hv = HashVectors(DIM)
    store = KBStore.create(folder, folder.name, HashEmbedder.name, DIM)
    indexes = Indexes(store)
    started = time.perf_counter()
    mats = []
    with store.writer() as w:
        d = 0
        while d * CHUNKS_PER_DOC < n_chunks:
            n_batch = min(BATCH_DOCS * CHUNKS_PER_DOC, n_chunks - d * CHUNKS_PER_DOC)
            texts, terms = corpus.chunks(n_batch)
            vectors = hv.embed(texts)
            if d == 0:
                check_against_embedder(texts[:50], vectors[:50], DIM)
            mats.append(vectors)
            for s in range(0, n_batch, CHUNKS_PER_DOC):
                name = f"doc{d:05d}.md"
                doc_id = hashlib.sha256(name.encode()).hexdigest()[:16]
                part = range(s, min(s + CHUNKS_PER_DOC, n_batch))
                chunks = []
                for pos, i in enumerate(part):
                    h = hashlib.sha256(texts[i].encode()).hexdigest()
                    chunks.append(Chunk(id=hashlib.sha256(f"{doc_id}/{pos}/{h}".encode()).hexdigest()[:20],
                                        kb=folder.name, doc_id=doc_id, file_name=name, position=pos, text=texts[i],
                                        content_hash=h, heading_path=(f"第{pos // 20 + 1}节",)))
                doc = Document(doc_id=doc_id, kb=folder.name, file_name=name, file_hash=doc_id * 4, size_bytes=0,
                               kind="markdown", n_chunks=len(chunks), n_pages=None, ingested_at=utc_now())
                w.replace_document(doc, chunks, vectors[part.start:part.stop], [terms[i] for i in part])
                d += 1
            print(f"  written {min(d * CHUNKS_PER_DOC, n_chunks)}/{n_chunks} "
                  f"({time.perf_counter() - started:.0f}s)", flush=True)
        write_s = time.perf_counter() - started
        t = time.perf_counter()
        indexes.persist(w)
        index_s = time.perf_counter() - t
    store.close()
    return write_s, index_s, np.vstack(mats)


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

data, name, qfile = Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
spec = json.loads(qfile.read_text())
qs, truth = spec["questions"], spec["truth"]
settings = Settings.from_mapping({"storage": {"data_dir": str(data)}, "embedder": {"name": "hash"}}, env={})
embedder = HashEmbedder(384)
t = time.perf_counter()
kb = KnowledgeBase.open(settings, name, create=False, embedder=embedder)
load_s = time.perf_counter() - t
warm_up()  # jieba's dictionary: the same at every size, not the store's
t = time.perf_counter()
kb.search(qs[0], mode="hybrid", k=5)
first_s = time.perf_counter() - t
snap = kb.indexes.current
index = snap.faiss
out = {"load_s": load_s, "first_search_s": first_s, "n": int(index.ntotal), "approximate": snap.approximate,
       "nlist": int(getattr(index, "nlist", 0)), "nprobe": int(getattr(index, "nprobe", 0))}
hits = []
for q, want in zip(qs, truth):
    got = [i for i, _ in snap.dense(embedder.embed_query(q), 10)]
    hits.append(len(set(got) & set(want)) / 10)
out["recall_at_10"] = float(np.mean(hits))
out["recall_min"] = float(np.min(hits))
out.update(mode_latencies(kb, qs))  # benchmarks/latency.py
out["rss_mb"] = psutil.Process().memory_info().rss / 2**20
print(json.dumps(out))
"""


def exact_top10(mat: np.ndarray, queries: np.ndarray) -> list[list[int]]:
    """Row ids (1-based, the order they were written) of each query's 10 nearest, by an exact scan."""
    import faiss

    flat = faiss.IndexFlatIP(mat.shape[1])
    flat.add(mat)
    _, pos = flat.search(queries, 10)
    return (pos + 1).tolist()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--keep", type=Path, help="build the knowledge base here and keep it (default: a temp folder)")
    args = ap.parse_args()
    started = time.perf_counter()
    corpus = Corpus(SEED)
    tmp = Path(tempfile.mkdtemp(prefix="kbscale-")) if args.keep is None else args.keep
    try:
        data = tmp / "data"
        name = f"scale{args.chunks}"
        print(f"chunks={args.chunks} dim={DIM} embedder=hash:v1 (vectors checked against it) "
              f"questions={args.queries} k=5; latency excludes query embedding", flush=True)
        write_s, index_s, mat = build(data / "kbs" / name, args.chunks, corpus)
        build_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        qs = corpus.questions(args.queries)
        emb = HashEmbedder(DIM)
        truth = exact_top10(mat, np.vstack([emb.embed_query(q) for q in qs]))
        del mat
        qfile = tmp / "questions.json"
        qfile.write_text(json.dumps({"questions": qs, "truth": truth}, ensure_ascii=False))
        probe = subprocess.run([sys.executable, "-c", PROBE, str(REPO), str(data), name, str(qfile)],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            sys.exit(f"probe failed:\n{probe.stderr}")
        r = json.loads(probe.stdout.strip().splitlines()[-1])
        kind = f"IVF-Flat nlist={r['nlist']} nprobe={r['nprobe']}" if r["approximate"] else "exact (flat)"
        print(f"\nvector index: {kind}, {r['n']} vectors")
        print(f"build: write {write_s:.0f} s, indexes {index_s:.0f} s; build process peak RSS {build_rss:.0f} MB")
        print(f"cold load: open {r['load_s']:.2f} s, first search {r['first_search_s']:.2f} s "
              f"(calibrates the docs-only gate); search process RSS after the searches {r['rss_mb']:.0f} MB")
        print(f"recall@10 of the dense index against exact search: {r['recall_at_10']:.3f} "
              f"(worst question {r['recall_min']:.1f})")
        for mode in ("dense", "bm25", "hybrid"):
            parts = " ".join(f"{k}={v:.2f}" for k, v in r[mode]["parts"].items())
            print(f"{mode:>7} p50 {r[mode]['p50']:6.2f} ms  p95 {r[mode]['p95']:6.2f} ms   mean parts: {parts}")
        ok_lat, ok_rec = r["hybrid"]["p95"] <= 50, r["recall_at_10"] >= 0.95
        print(f"targets: hybrid p95 <= 50 ms {'ok' if ok_lat else 'MISSED'}, "
              f"recall@10 >= 0.95 {'ok' if ok_rec else 'MISSED'}")
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
