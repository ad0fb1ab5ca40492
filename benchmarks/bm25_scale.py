"""How the BM25 keyword index (kb/search/bm25.py) scales: build, load, query latency and memory.

    .venv/bin/python benchmarks/bm25_scale.py [--sizes 1000,10000,100000] [--queries 300]

The corpus is generated, deterministic and Chinese-like: a fixed vocabulary of a few thousand
two- and three-character "words" drawn with a Zipf distribution (a few words are everywhere,
most are rare, as in real text), 80-150 tokens a chunk, which is what kb/search/textproc.py makes of a
150-300 character chunk. Queries are 3-8 terms drawn from the same distribution, so they hit
the common, long postings lists too (a pessimistic case).

Load time and memory are measured in a fresh subprocess that only loads the saved index, so
the figures are those of the index and not of the generated corpus.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kb.search.bm25 import BM25Index  # noqa: E402

VOCAB_SIZE = 5000
ZIPF_S = 1.05
SEED = 20240601


def vocabulary(rng: np.random.Generator) -> list[str]:
    """VOCAB_SIZE distinct 2-3 character words from the common CJK block."""
    chars = [chr(c) for c in rng.choice(np.arange(0x4E00, 0x9FA5), size=1500, replace=False)]
    words: dict[str, None] = {}
    while len(words) < VOCAB_SIZE:
        n = 2 if rng.random() < 0.8 else 3
        words["".join(rng.choice(chars, size=n))] = None
    return list(words)


def zipf_p(n: int) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** ZIPF_S
    return p / p.sum()


def corpus(n_docs: int, words: np.ndarray, p: np.ndarray, rng: np.random.Generator) -> list[list[str]]:
    lens = rng.integers(80, 151, size=n_docs)
    flat = words[rng.choice(len(words), size=int(lens.sum()), p=p)]
    ends = np.cumsum(lens)
    return [flat[e - n:e].tolist() for e, n in zip(ends, lens)]


def queries(n: int, words: np.ndarray, p: np.ndarray, rng: np.random.Generator) -> list[list[str]]:
    return [words[rng.choice(len(words), size=int(rng.integers(3, 9)), p=p)].tolist() for _ in range(n)]


LOAD_PROBE = r"""
import json, sys, time
from pathlib import Path
import psutil
sys.path.insert(0, sys.argv[1])
from kb.search.bm25 import BM25Index
proc = psutil.Process()
before = proc.memory_info().rss
t = time.perf_counter()
index, stamp = BM25Index.load(Path(sys.argv[2]))
load_s = time.perf_counter() - t
queries = json.loads(Path(sys.argv[3]).read_text())
lat = []
for q in queries:
    t = time.perf_counter()
    index.search(q, 10)
    lat.append(time.perf_counter() - t)
print(json.dumps({"load_s": load_s, "rss_mb": (proc.memory_info().rss - before) / 2**20, "lat": lat}))
"""


def measure(n_docs: int, words: np.ndarray, p: np.ndarray, n_queries: int, workdir: Path) -> dict[str, float]:
    rng = np.random.default_rng(SEED + n_docs)
    docs = corpus(n_docs, words, p, rng)
    qs = queries(n_queries, words, p, rng)

    t = time.perf_counter()
    index = BM25Index()
    index.add(list(range(1, n_docs + 1)), docs)
    build_s = time.perf_counter() - t

    lat = []
    for q in qs:
        t = time.perf_counter()
        index.search(q, 10)
        lat.append(time.perf_counter() - t)
    allowed = set(range(1, n_docs + 1, 10))  # a document filter keeping 10% of the chunks
    lat_f = []
    for q in qs[:100]:
        t = time.perf_counter()
        index.search(q, 10, allowed_ids=allowed)
        lat_f.append(time.perf_counter() - t)

    # Many small adds (an ingest of one short file at a time), then a query over all segments.
    extra = corpus(2000, words, p, rng)
    t = time.perf_counter()
    for i in range(0, 2000, 10):
        index.add(list(range(n_docs + 1 + i, n_docs + 11 + i)), extra[i:i + 10])
    small_add_ms = (time.perf_counter() - t) / 200 * 1000
    seg_lat = []
    for q in qs[:100]:
        t = time.perf_counter()
        index.search(q, 10)
        seg_lat.append(time.perf_counter() - t)
    index.remove(range(n_docs + 1, n_docs + 2001))

    folder = workdir / f"n{n_docs}"
    folder.mkdir()
    t = time.perf_counter()
    index.save(folder, "bench")
    save_s = time.perf_counter() - t
    qfile = workdir / f"q{n_docs}.json"
    qfile.write_text(json.dumps(qs, ensure_ascii=False))
    probe = subprocess.run([sys.executable, "-c", LOAD_PROBE, str(REPO), str(folder), str(qfile)],
                           capture_output=True, text=True, check=True)
    loaded = json.loads(probe.stdout.strip().splitlines()[-1])

    ms = lambda xs, q: float(np.percentile(xs, q) * 1000)  # noqa: E731
    return {
        "docs": n_docs, "build_s": build_s, "save_s": save_s, "load_s": loaded["load_s"],
        "p50_ms": ms(lat, 50), "p95_ms": ms(lat, 95), "p95_filtered_ms": ms(lat_f, 95),
        "cold_p95_ms": ms(loaded["lat"], 95), "small_add_ms": small_add_ms, "p95_after_adds_ms": ms(seg_lat, 95),
        "rss_mb": loaded["rss_mb"], "file_mb": (folder / "bm25.npz").stat().st_size / 2**20,
        "terms": len(index._vocab),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    words = np.array(vocabulary(rng), dtype=object)
    p = zipf_p(len(words))
    cols = [("docs", "{:>7d}"), ("build_s", "{:>8.2f}"), ("save_s", "{:>7.2f}"), ("load_s", "{:>7.3f}"),
            ("p50_ms", "{:>7.2f}"), ("p95_ms", "{:>7.2f}"), ("p95_filtered_ms", "{:>16.2f}"),
            ("cold_p95_ms", "{:>12.2f}"), ("small_add_ms", "{:>13.2f}"), ("p95_after_adds_ms", "{:>18.2f}"),
            ("rss_mb", "{:>7.1f}"), ("file_mb", "{:>8.1f}")]
    print(f"vocabulary={len(words)} zipf_s={ZIPF_S} tokens/doc=80-150 queries={args.queries} k=10")
    print(" ".join(f"{name:>{len(fmt.format(0) if 'd' in fmt else fmt.format(0.0))}}" for name, fmt in cols))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            row = measure(n, words, p, args.queries, Path(tmp))
            rows.append(row)
            print(" ".join(fmt.format(row[name]) for name, fmt in cols), flush=True)
    print()
    for a, b in zip(rows, rows[1:]):
        ratios = ", ".join(f"{name} x{b[name] / a[name]:.1f}" for name in
                           ("build_s", "load_s", "p50_ms", "p95_ms", "rss_mb") if a[name] > 0)
        print(f"{b['docs']}/{a['docs']}: {ratios}")
    print(f"\ntotal {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
