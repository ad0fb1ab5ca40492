"""In-memory search indexes, one immutable snapshot per database generation.

An `IndexSnapshot` holds the FAISS vector index and the BM25 keyword index of exactly one committed
generation and is never changed after it is built. `Indexes.at(view)` returns the snapshot of the
generation a read transaction sees, building it if needed:
1. from the previous snapshot plus the database's changelog (a copy, so searches running on the
   previous one are undisturbed), when the log reaches back that far;
2. else from the index files, when they are stamped with that generation and their checksums hold;
3. else from the database itself.
The new snapshot is swapped in whole. The vector index is exact or approximate by size
(kb/store/dense.py, `[index] approximate_above`); a change that moves it across a bound builds it
again from the database's vectors of that same generation. The writer persists the snapshot of its final generation at
the end of every write operation (`persist`), aside and renamed, with checksums in `index.json`.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Sequence

import faiss
import numpy as np

from kb.search.bm25 import FILE_NAME as BM25_FILE
from kb.search.bm25 import BM25Hit, BM25Index
from kb.store import dense as dense_index
from kb.store.files import fsync_dir, sha256_file, write_atomic
from kb.store.sqlite import KBStore, ReadView, Writer

log = logging.getLogger(__name__)

STAMP = "index.json"
FAISS_FILE = "index.faiss"
BM25_DIR = "bm25"


def _single_query_threads() -> None:
    """Let FAISS scan with one thread: every search is one query vector against a flat index, and
    OpenMP threads cost more to start and join than they save (8 ms vs 15 ms p50 at 100k chunks on
    two busy cores, benchmarks/retrieval.py)."""
    faiss.omp_set_num_threads(1)


TERMS_BATCH = 50_000  # chunks whose keyword terms are read and indexed at once by a whole build


@dataclass(frozen=True)
class IndexSnapshot:
    """The search indexes of one generation. Read-only; safe to share between threads."""

    generation: int
    uuid: str
    dim: int
    faiss: faiss.Index
    bm25: BM25Index

    @property
    def ntotal(self) -> int:
        return int(self.faiss.ntotal)

    def dense(self, query: np.ndarray, k: int, allowed: Collection[int] | None = None) -> list[tuple[int, float]]:
        """(row id, cosine) best first. `allowed` restricts the search to some row ids."""
        if self.faiss.ntotal == 0:
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if q.shape[1] != self.dim:
            from kb.errors import EmbedderMismatch

            raise EmbedderMismatch("store.query_dim", dim=int(q.shape[1]), expected=self.dim)
        k = min(k, self.faiss.ntotal)
        scores, ids = dense_index.search(self.faiss, q, k, allowed)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    def keyword(self, tokens: Sequence[str], k: int, allowed: Collection[int] | None = None) -> list[BM25Hit]:
        return self.bm25.search(tokens, k, allowed_ids=allowed)

    def keyword_scores(self, tokens: Sequence[str], rowids: Sequence[int]) -> dict[int, BM25Hit]:
        """Exact BM25 scores of some chunks (those holding no query term are left out)."""
        return self.bm25.score_ids(tokens, rowids)

    def term_stats(self, terms: Sequence[str]) -> dict[str, tuple[int, float]]:
        """(document frequency, idf) of each term in the keyword index."""
        return self.bm25.term_stats(terms)

    def vectors_for(self, rowids: Sequence[int]) -> np.ndarray:
        if not rowids:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self.faiss.reconstruct(int(i)) for i in rowids])

    @property
    def approximate(self) -> bool:
        return dense_index.is_approximate(self.faiss)

    def ids(self) -> set[int]:
        return set(dense_index.all_ids(self.faiss).tolist())


def _full(view: ReadView | Writer, uuid: str, approximate_above: int) -> IndexSnapshot:
    dim = view.dim()
    ids, mat = view.vectors()
    index = dense_index.build(ids, mat, dim, approximate_above)
    del mat
    bm25 = BM25Index()
    # the terms a batch at a time: a million chunks' terms as Python strings at once would be ~10 GB
    for start in range(0, len(ids), TERMS_BATCH):
        tids, terms = view.terms(ids[start:start + TERMS_BATCH].tolist())
        if tids:
            bm25.add(tids, terms)
    return IndexSnapshot(view.generation(), uuid, dim, index, bm25)


def _delta(base: IndexSnapshot, view: ReadView | Writer, changes: list[tuple[int, bool]],
           approximate_above: int) -> IndexSnapshot:
    removed = {rowid for rowid, added in changes if not added}
    added = sorted({rowid for rowid, was_added in changes if was_added} - removed)
    # a row id removed and then added again in the log (vectors repaired) counts as both
    readded = sorted({rowid for rowid, was_added in changes if was_added} & removed)
    index = faiss.clone_index(base.faiss)
    bm25 = base.bm25.copy()
    gone = np.array(sorted(removed), dtype=np.int64)
    if len(gone):
        index.remove_ids(gone)
        bm25.remove(gone.tolist())
    fresh = sorted([*added, *readded])
    if fresh:
        ids, mat = view.vectors(fresh)  # rows deleted later in the log are simply not there any more
        if len(ids):
            index.add_with_ids(np.ascontiguousarray(mat), ids)
        tids, terms = view.terms(ids.tolist())
        if tids:
            bm25.add(tids, terms)
    if not dense_index.fits(index, index.ntotal, approximate_above):
        # crossed a bound (kb/store/dense.py): the vector index of this generation, built again
        log.info("vector index rebuilt at n=%d (approximate above %d)", index.ntotal, approximate_above)
        all_ids, mat = view.vectors()
        index = dense_index.build(all_ids, mat, base.dim, approximate_above)
    return IndexSnapshot(view.generation(), base.uuid, base.dim, index, bm25)


def read_stamp(folder: Path) -> dict | None:
    try:
        stamp = json.loads((folder / STAMP).read_text(encoding="utf-8"))
        return stamp if isinstance(stamp, dict) else None
    except (OSError, ValueError):
        return None


def index_files_state(folder: Path, uuid: str, generation: int) -> tuple[str, str]:
    """(state, file): 'current', 'stale' (stamped with another generation), 'missing', or 'damaged' with the
    file whose checksum differs."""
    stamp = read_stamp(folder)
    if stamp is None:
        return ("missing" if not (folder / STAMP).exists() else "damaged"), STAMP
    if stamp.get("uuid") != uuid or stamp.get("generation") != generation:
        return "stale", STAMP
    files = stamp.get("files")
    if not isinstance(files, dict) or not files:
        return "damaged", STAMP
    for rel, digest in files.items():
        try:
            if sha256_file(folder / rel) != digest:
                return "damaged", str(rel)
        except OSError:
            return "damaged", str(rel)
    return "current", STAMP


class Indexes:
    """The snapshots of one knowledge base in this process."""

    def __init__(self, store: KBStore, approximate_above: int = 200_000):
        """`approximate_above`: chunks from which the vector index is approximate ([index] in settings)."""
        _single_query_threads()
        self.store = store
        self.approximate_above = approximate_above
        self._current: IndexSnapshot | None = None
        self._build_lock = threading.Lock()

    @property
    def folder(self) -> Path:
        return self.store.folder

    @property
    def current(self) -> IndexSnapshot | None:
        return self._current

    def at(self, view: ReadView | Writer) -> IndexSnapshot:
        """The snapshot of the generation `view` sees (moving the view forward if it is older than the
        newest snapshot: a reader always gets the newest state it can see whole)."""
        while True:
            cur = self._current
            gen = view.generation()
            if cur is not None and cur.uuid == view.uuid:
                if cur.generation == gen:
                    return cur
                if cur.generation > gen:
                    view.renew()
                    if view.generation() == gen:  # a nested read inside an older transaction: it cannot
                        return self._build(view, None)  # move, so it gets a snapshot of its own
                    continue
            with self._build_lock:
                cur = self._current
                if cur is not None and cur.uuid == view.uuid and cur.generation >= gen:
                    continue
                snapshot = self._build(view, cur)
                self._current = snapshot
                return snapshot

    def _build(self, view: ReadView | Writer, base: IndexSnapshot | None) -> IndexSnapshot:
        if base is not None and base.uuid == view.uuid and base.dim == view.dim():
            changes = view.changes_since(base.generation)
            if changes is not None:
                return _delta(base, view, changes, self.approximate_above)
        loaded = self._load_files(view)
        if loaded is not None:
            return loaded
        log.info("indexes built from the database kb=%s generation=%d", self.store.name, view.generation())
        return _full(view, view.uuid, self.approximate_above)

    # ------------------------------------------------------------------ files

    def files_state(self, view: ReadView | Writer) -> str:
        return index_files_state(self.folder, view.uuid, view.generation())[0]

    def _load_files(self, view: ReadView | Writer) -> IndexSnapshot | None:
        if self.files_state(view) != "current":
            return None
        try:
            index = faiss.read_index(str(self.folder / FAISS_FILE))
            loaded = BM25Index.load(self.folder / BM25_DIR)
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("index files unusable kb=%s reason=%s; building from the database", self.store.name, exc)
            return None
        stamp = read_stamp(self.folder) or {}
        if loaded is None or index.d != view.dim() or index.ntotal != stamp.get("ntotal"):
            return None
        if not dense_index.fits(index, index.ntotal, self.approximate_above):
            log.info("index file of the other kind for its size kb=%s n=%d; building from the database",
                     self.store.name, index.ntotal)
            return None
        return IndexSnapshot(view.generation(), view.uuid, view.dim(), index, loaded[0])

    def persist(self, writer: Writer) -> None:
        """Write the snapshot of the writer's generation to the index files (writer lock held)."""
        snapshot = self.at(writer)
        if self.files_state(writer) == "current":
            return
        folder = self.folder
        stamp_path = folder / STAMP
        stamp_path.unlink(missing_ok=True)  # while the files change, no stamp claims them
        tmp = folder / f".{FAISS_FILE}.{os.getpid()}.tmp"
        try:
            faiss.write_index(snapshot.faiss, str(tmp))
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, folder / FAISS_FILE)
        finally:
            tmp.unlink(missing_ok=True)
        (folder / BM25_DIR).mkdir(exist_ok=True)
        snapshot.bm25.save(folder / BM25_DIR, str(snapshot.generation))
        fsync_dir(folder)
        files = {FAISS_FILE: sha256_file(folder / FAISS_FILE),
                 f"{BM25_DIR}/{BM25_FILE}": sha256_file(folder / BM25_DIR / BM25_FILE)}
        write_atomic(stamp_path, json.dumps({"generation": snapshot.generation, "uuid": snapshot.uuid,
                                             "ntotal": int(snapshot.faiss.ntotal), "dim": snapshot.dim,
                                             "vectors": "ivf" if snapshot.approximate else "flat",
                                             "files": files}).encode())
