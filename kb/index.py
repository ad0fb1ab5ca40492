"""The in-memory search indexes of one knowledge base (FAISS for vectors, BM25 for keywords).

They are derived from the database (kb/store.py) and stamped with the database generation
they reflect. `sync()` brings them up to date after another process (or another browser
session) wrote; `persist()` writes them aside and renames them into place.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Collection, Sequence

import faiss
import numpy as np

from .bm25 import BM25Hit, BM25Index
from .store import KBStore, write_atomic

log = logging.getLogger(__name__)


def _single_query_threads() -> None:
    """Let FAISS scan with one thread.

    Every search here is one query vector against a flat index. FAISS's OpenMP threads cost
    more to start and join than they save on such a scan, and on a busy two-core machine they
    wait for each other: at 100k chunks one thread measured 8 ms p50 / 9 ms p95 against
    15 ms / 48 ms with two (benchmarks/retrieval.py). The setting belongs to FAISS's own
    OpenMP runtime (its wheel bundles one), so the embedder's threads are untouched.
    """
    faiss.omp_set_num_threads(1)


class Indexes:
    def __init__(self, store: KBStore):
        _single_query_threads()
        self.store = store
        self.dim = int(store.manifest["dim"])
        self.generation = -1
        self.faiss = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self.bm25 = BM25Index()
        self._lock = threading.RLock()

    @property
    def folder(self) -> Path:
        return self.store.folder

    # ------------------------------------------------------------------ loading

    def load(self) -> None:
        """Load the index files if they match the database; otherwise rebuild from the database."""
        with self._lock:
            gen = self.store.generation()
            loaded_faiss = self._load_faiss(gen)
            loaded_bm25 = BM25Index.load(self.folder / "bm25")
            if loaded_faiss is None:
                self._rebuild_faiss()
            else:
                self.faiss = loaded_faiss
            if loaded_bm25 is None or loaded_bm25[1] != str(gen):
                self._rebuild_bm25()
            else:
                self.bm25 = loaded_bm25[0]
            self.generation = gen
            rebuilt = loaded_faiss is None or loaded_bm25 is None or loaded_bm25[1] != str(gen)
        if rebuilt and not self.store.read_only and gen > 0:
            log.info("indexes rebuilt from database kb=%s generation=%d", self.store.name, gen)
            self.persist()

    def _load_faiss(self, gen: int) -> faiss.Index | None:
        stamp_path, index_path = self.folder / "index.json", self.folder / "index.faiss"
        try:
            stamp = json.loads(stamp_path.read_text())
            if stamp.get("generation") != gen:
                return None
            index = faiss.read_index(str(index_path))
            if index.ntotal != stamp.get("ntotal") or index.d != self.dim:
                return None
            return index
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RuntimeError) as exc:
            if gen > 0:
                log.warning("faiss index not usable kb=%s reason=%s; rebuilding", self.store.name, exc)
            return None

    def _rebuild_faiss(self) -> None:
        ids, mat = self.store.vectors()
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        if len(ids):
            index.add_with_ids(mat, ids)
        self.faiss = index

    def _rebuild_bm25(self) -> None:
        ids, terms = self.store.terms()
        bm25 = BM25Index()
        if ids:
            bm25.add(ids, terms)
        self.bm25 = bm25

    def sync(self) -> bool:
        """Reload when the database moved on (another writer). Returns True if anything changed."""
        gen = self.store.generation()
        if gen == self.generation:
            return False
        with self._lock:
            if gen == self.generation:
                return False
            self._rebuild_faiss()
            self._rebuild_bm25()
            self.generation = gen
        return True

    # ------------------------------------------------------------------ updates

    def apply(self, added: Sequence[int], vectors: np.ndarray, terms: Sequence[Sequence[str]],
              removed: Sequence[int], generation: int) -> None:
        """Mirror one committed database change in memory."""
        with self._lock:
            if removed:
                rm = np.array(removed, dtype=np.int64)
                self.faiss.remove_ids(rm)
                self.bm25.remove(rm.tolist())
            if len(added):
                self.faiss.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                        np.array(added, dtype=np.int64))
                self.bm25.add(list(added), terms)
            self.generation = generation

    def persist(self) -> None:
        with self._lock:
            gen = self.generation
            tmp = self.folder / f".index.faiss.{os.getpid()}.tmp"
            faiss.write_index(self.faiss, str(tmp))
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.folder / "index.faiss")
            write_atomic(self.folder / "index.json",
                         json.dumps({"generation": gen, "ntotal": int(self.faiss.ntotal)}).encode())
            (self.folder / "bm25").mkdir(exist_ok=True)
            self.bm25.save(self.folder / "bm25", str(gen))

    # ------------------------------------------------------------------ queries

    def dense(self, query: np.ndarray, k: int, allowed: Collection[int] | None = None) -> list[tuple[int, float]]:
        """(row id, cosine) best first. `allowed` restricts the search to some row ids."""
        with self._lock:
            if self.faiss.ntotal == 0:
                return []
            q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
            params = None
            if allowed is not None:
                sel = faiss.IDSelectorBatch(np.array(sorted(allowed), dtype=np.int64))
                params = faiss.SearchParameters(sel=sel)
            k = min(k, self.faiss.ntotal)
            scores, ids = self.faiss.search(q, k, params=params) if params else self.faiss.search(q, k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    def keyword(self, tokens: Sequence[str], k: int, allowed: Collection[int] | None = None) -> list[BM25Hit]:
        with self._lock:
            return self.bm25.search(tokens, k, allowed_ids=allowed)

    def keyword_scores(self, tokens: Sequence[str], rowids: Sequence[int]) -> dict[int, BM25Hit]:
        """Exact BM25 scores of some chunks (those holding no query term are left out)."""
        with self._lock:
            return self.bm25.score_ids(tokens, rowids)

    def term_stats(self, terms: Sequence[str]) -> dict[str, tuple[int, float]]:
        """(document frequency, idf) of each term in the keyword index."""
        with self._lock:
            return self.bm25.term_stats(terms)

    def vectors_for(self, rowids: Sequence[int]) -> np.ndarray:
        with self._lock:
            return np.vstack([self.faiss.reconstruct(int(i)) for i in rowids]) if rowids else \
                np.zeros((0, self.dim), dtype=np.float32)

    def ids(self) -> set[int]:
        with self._lock:
            if self.faiss.ntotal == 0:
                return set()
            return set(faiss.vector_to_array(self.faiss.id_map).tolist())
