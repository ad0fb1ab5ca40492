"""The FAISS vector index of a snapshot: exact below a size, approximate (IVF-Flat) above it.

Why IVF-Flat and not HNSW. Measured on hash-embedder vectors (benchmarks/scale.py's corpus, 384 dims):
HNSW (M=32, efConstruction=64) took 20 s to add 50k vectors on two cores and reached recall@10 0.65 at
efSearch=256, and FAISS's HNSW cannot remove vectors; IVF-Flat trains in a second at 200k, removes ids
(`remove_ids`, so deletes and edits apply incrementally like the flat index), and reaches recall@10
0.95 by scanning about a quarter of its lists. The vectors are stored uncompressed, so `reconstruct`
(the dense column of every hybrid candidate) is exact.

Exact (`IndexIDMap2(IndexFlatIP)`) below `approximate_above` chunks, IVF at or above it. The index
changes kind only when a snapshot is built whole from the database, or when a change crosses a
bound (see `fits`): there is a band between half the threshold and the threshold where either kind
stays, so a knowledge base that hovers around the threshold does not retrain at every write.

Training. An IVF index needs its coarse centroids trained on a sample of the vectors. It is trained
on the vectors the knowledge base holds when the index is built (about sqrt(N) lists, 64 vectors a
list sampled), and trained again when it is rebuilt from the database (rebuild, repair, index files
that are stale or damaged, or a size that crossed a bound). Between two trainings new vectors go into
the nearest existing list: fine while the content's distribution holds, and the lists only get
longer; past 4x the size it was trained for (`fits`) it is retrained, so a search's cost stays near
the fraction of the collection it scans.

Search breadth. `nprobe` (lists scanned per query) is chosen when the index is trained, on the index
itself: 200 stored vectors moved away from themselves by random noise (cosine 0.4 to their origin,
about how far a real question lies from its best passage) are searched exactly and with the IVF,
and the smallest nprobe whose recall@10 reaches `RECALL_TARGET` is kept (`index.nprobe`, saved with
the index). On the hash corpus at 200k chunks this estimate was within 0.04 of, and below, the
recall measured with real questions (benchmarks/scale.py prints the latter).
"""
from __future__ import annotations

import logging
import math
from typing import Collection

import faiss
import numpy as np

log = logging.getLogger(__name__)

RECALL_TARGET = 0.96
CALIBRATION_QUERIES = 200
CALIBRATION_COSINE = 0.4
POINTS_PER_LIST = 64  # training sample per list: enough for k-means to place it, a second at 200k
MIN_LISTS = 8
GROWTH_RETRAIN = 4


def is_approximate(index: faiss.Index) -> bool:
    return isinstance(index, faiss.IndexIVF)


def empty_exact(dim: int) -> faiss.Index:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def build(ids: np.ndarray, mat: np.ndarray, dim: int, approximate_above: int) -> faiss.Index:
    """The index for these vectors: exact below `approximate_above`, else a freshly trained IVF."""
    mat = np.ascontiguousarray(mat, dtype=np.float32)
    if len(ids) < approximate_above or len(ids) < MIN_LISTS * POINTS_PER_LIST:
        index = empty_exact(dim)
        if len(ids):
            index.add_with_ids(mat, ids)
        return index
    return train_ivf(ids, mat, dim)


def fits(index: faiss.Index, n: int, approximate_above: int) -> bool:
    """Whether an index of this kind may keep holding n vectors (False: build it again)."""
    if not is_approximate(index):
        return n < max(approximate_above, MIN_LISTS * POINTS_PER_LIST)
    trained_for = index.nlist ** 2  # nlist is about sqrt(N) at training
    return n >= approximate_above // 2 and n <= GROWTH_RETRAIN * trained_for


def train_ivf(ids: np.ndarray, mat: np.ndarray, dim: int) -> faiss.Index:
    n = len(ids)
    nlist = max(MIN_LISTS, int(math.sqrt(n)))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.max_points_per_centroid = POINTS_PER_LIST
    index.cp.seed = 1234
    index.train(mat)
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct by id, and remove_ids with it
    index.add_with_ids(mat, ids)
    index.nprobe = calibrate_nprobe(index, ids, mat)
    log.info("approximate index trained n=%d nlist=%d nprobe=%d", n, nlist, index.nprobe)
    return index


def calibrate_nprobe(index: faiss.IndexIVF, ids: np.ndarray, mat: np.ndarray, k: int = 10) -> int:
    """The smallest nprobe whose recall@k on query-like vectors reaches RECALL_TARGET (module docstring)."""
    rng = np.random.default_rng(20240601)
    rows = rng.choice(len(mat), size=min(CALIBRATION_QUERIES, len(mat)), replace=False)
    noise = rng.standard_normal((len(rows), mat.shape[1])).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    base = mat[np.sort(rows)]
    base = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-12)
    queries = base + math.sqrt(1 / CALIBRATION_COSINE ** 2 - 1) * noise
    queries = np.ascontiguousarray(queries / np.linalg.norm(queries, axis=1, keepdims=True), dtype=np.float32)
    exact = faiss.IndexFlatIP(mat.shape[1])
    exact.add(mat)
    _, positions = exact.search(queries, k)
    del exact
    truth = ids[positions]
    nprobe = 1
    while True:
        _, found = index.search(queries, k, params=faiss.SearchParametersIVF(nprobe=nprobe))
        recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(truth, found)])
        if recall >= RECALL_TARGET or nprobe >= index.nlist:
            return nprobe
        nprobe = min(index.nlist, max(nprobe + 1, int(nprobe * 1.5)))


def search(index: faiss.Index, q: np.ndarray, k: int, allowed: Collection[int] | None) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of one query, best first, -1 ids for missing places."""
    sel = faiss.IDSelectorBatch(np.array(sorted(allowed), dtype=np.int64)) if allowed is not None else None
    if not is_approximate(index):
        return index.search(q, k, params=faiss.SearchParameters(sel=sel)) if sel is not None else index.search(q, k)
    nprobe = index.nprobe
    if allowed is not None and len(allowed) * index.nlist <= index.ntotal * nprobe:
        # a narrow filter (a few documents): scan every list, scoring only the allowed ids. That costs
        # about what an ordinary search scores anyway, and is exact, where the nearest lists may hold
        # none of the allowed vectors.
        nprobe = index.nlist
    scores, ids = index.search(q, k, params=faiss.SearchParametersIVF(nprobe=nprobe, sel=sel))
    if allowed is not None and nprobe < index.nlist and (ids[0] == -1).any():
        scores, ids = index.search(q, k, params=faiss.SearchParametersIVF(nprobe=index.nlist, sel=sel))
    return scores, ids


def all_ids(index: faiss.Index) -> np.ndarray:
    if index.ntotal == 0:
        return np.zeros(0, dtype=np.int64)
    if not is_approximate(index):
        return faiss.vector_to_array(index.id_map)
    invlists = index.invlists
    parts = []
    for lst in range(index.nlist):
        size = invlists.list_size(lst)
        if size:
            parts.append(faiss.rev_swig_ptr(invlists.get_ids(lst), size).copy())
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
