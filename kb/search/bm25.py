"""Keyword search: an Okapi BM25 index over sparse, term-major postings.

Why not rank_bm25: it scores every document in Python for every query, which is seconds at
100k chunks. Here a query only reads the postings of its own terms (numpy slices of a CSR
matrix whose rows are terms), so its cost follows how common the query's terms are, not the
corpus size.

Scoring, for a query term t occurring in document d::

    idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))        (Lucene; never negative)
    score(t, d) = idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))

N, df and avgdl are taken over the live documents only, and idf is corpus-wide even when a
search is restricted to some ids, so scores do not change with the filter. A term repeated in
the query counts once per occurrence (as in rank_bm25), so ``向量 向量 检索`` weighs 向量 twice.

Layout: documents get consecutive row numbers in the order they are added. Postings live in
segments, each a CSR matrix (terms x rows of one contiguous row range) holding term
frequencies. Every add() writes a new small segment, and adjacent segments are merged when the
older is no bigger than the newer (a binary counter), so many small adds stay cheap and a
query sees only O(log n) segments. remove() only marks rows dead; dead rows are skipped when
scoring and dropped, together with terms no live row uses, once they pass 20% of the rows or
when the index is saved.

On disk: one ``bm25.npz`` (no pickle) holding the postings, ids, lengths and, as a JSON byte
array, the vocabulary, parameters and the caller's stamp. One file means one os.replace, so a
reader sees the old index or the new one, never half of each.
"""
from __future__ import annotations

import copy
import json
import logging
import math
import os
import threading
import zipfile
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import scipy.sparse as sp

log = logging.getLogger(__name__)

__all__ = ["BM25Hit", "BM25Index"]

FILE_NAME = "bm25.npz"
_FORMAT = "kb-bm25"
_VERSION = 1
_DEAD_FRACTION = 0.2  # compact once this share of rows is dead


@dataclass(frozen=True)
class BM25Hit:
    id: int  # the caller's id for the document (chunk row id)
    score: float  # BM25 score: higher is better, always > 0 for a hit
    matched: tuple[str, ...]  # query terms found in the document, in query order


@dataclass
class _Segment:
    """Postings of the rows row0 .. row0 + postings.shape[1] - 1; matrix rows are term ids.

    A segment only knows the terms that existed when it was built, so term ids beyond
    postings.shape[0] simply have no postings in it.
    """

    row0: int
    postings: sp.csr_matrix

    @property
    def n_rows(self) -> int:
        return self.postings.shape[1]

    def term_rows(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(global rows, term frequencies) of one term, rows ascending."""
        if term >= self.postings.shape[0]:
            return _EMPTY_ROWS, _EMPTY_TF
        p = self.postings
        lo, hi = p.indptr[term], p.indptr[term + 1]
        return p.indices[lo:hi].astype(np.int64) + self.row0, p.data[lo:hi]

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(term ids, global rows, tf) of every posting, the COO view used for merging."""
        p = self.postings
        terms = np.repeat(np.arange(p.shape[0], dtype=np.int64), np.diff(p.indptr))
        return terms, p.indices.astype(np.int64) + self.row0, p.data


_EMPTY_ROWS = np.zeros(0, dtype=np.int64)
_EMPTY_TF = np.zeros(0, dtype=np.int32)


def _postings(terms: np.ndarray, rows: np.ndarray, tf: np.ndarray, n_terms: int, n_rows: int) -> sp.csr_matrix:
    """Term-major CSR from COO entries; repeated (term, row) pairs are summed into one tf."""
    m = sp.csr_matrix((tf.astype(np.int64), (terms, rows)), shape=(n_terms, n_rows))
    m.sum_duplicates()  # also sorts each term's rows, which search() relies on
    if m.nnz and m.data.max() <= np.iinfo(np.uint16).max:
        m.data = m.data.astype(np.uint16)  # tf rarely exceeds a few dozen; halve the memory
    else:
        m.data = m.data.astype(np.int32)
    return m


def _new_vocab(terms: Iterable[str] = ()) -> defaultdict[str, int]:
    """term -> id, ids in insertion order. Looking up an unknown term with [] adds it.

    That makes mapping a whole batch of tokens one C-level map() call. Read paths must use
    .get() so a query never adds terms.
    """
    vocab: defaultdict[str, int] = defaultdict()
    vocab.default_factory = vocab.__len__
    for term in terms:
        vocab[term]  # noqa: B018 - inserts with the next id
    return vocab


def _grown(arr: np.ndarray, need: int) -> np.ndarray:
    """`arr` with capacity for at least `need` items (doubling, so appends are amortised O(1))."""
    if need <= len(arr):
        return arr
    out = np.zeros(max(need, 2 * len(arr), 64), dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


class BM25Index:
    """A BM25 keyword index over caller-supplied token lists, keyed by int64 ids.

    Thread-safe: every public method holds the index's lock.
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75):
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1} b={b}")
        self.k1 = float(k1)
        self.b = float(b)
        self._lock = threading.RLock()
        self._vocab = _new_vocab()
        self._segments: list[_Segment] = []
        # Per row (capacity-grown; only the first _n_rows entries are meaningful).
        self._ids = np.zeros(0, dtype=np.int64)
        self._lens = np.zeros(0, dtype=np.int32)
        self._alive = np.zeros(0, dtype=bool)
        self._n_rows = 0
        self._row_of: dict[int, int] = {}  # live id -> row
        self._total_len = 0  # tokens in live documents, for avgdl

    # ------------------------------------------------------------------ contents

    def __len__(self) -> int:
        return len(self._row_of)

    def ids(self) -> np.ndarray:
        """Live ids, ascending."""
        with self._lock:
            return np.sort(self._ids[: self._n_rows][self._alive[: self._n_rows]])

    def add(self, ids: Sequence[int], docs_tokens: Sequence[Sequence[str]]) -> None:
        """Append documents. Ids must be new (an id that was removed may come back)."""
        if len(ids) != len(docs_tokens):
            raise ValueError(f"add() got {len(ids)} ids but {len(docs_tokens)} token lists")
        new_ids = [int(i) for i in ids]
        if not new_ids:
            return
        with self._lock:
            if len(set(new_ids)) != len(new_ids) or any(i in self._row_of for i in new_ids):
                raise ValueError("add() got an id that is repeated or already in the index")
            lens = np.fromiter(map(len, docs_tokens), dtype=np.int64, count=len(docs_tokens))
            flat = list(chain.from_iterable(docs_tokens))
            terms = np.fromiter(map(self._vocab.__getitem__, flat), dtype=np.int64, count=len(flat))
            local_rows = np.repeat(np.arange(len(new_ids), dtype=np.int64), lens)
            tf = np.ones(len(flat), dtype=np.int64)
            segment = _Segment(self._n_rows, _postings(terms, local_rows, tf, len(self._vocab), len(new_ids)))

            start, end = self._n_rows, self._n_rows + len(new_ids)
            self._ids = _grown(self._ids, end)
            self._lens = _grown(self._lens, end)
            self._alive = _grown(self._alive, end)
            self._ids[start:end] = new_ids
            self._lens[start:end] = lens
            self._alive[start:end] = True
            self._row_of.update(zip(new_ids, range(start, end)))
            self._n_rows = end
            self._total_len += int(lens.sum())

            self._segments.append(segment)
            while len(self._segments) >= 2 and self._segments[-2].n_rows <= self._segments[-1].n_rows:
                last = self._segments.pop()
                self._segments[-1] = self._merged([self._segments[-1], last])

    def remove(self, ids: Iterable[int]) -> None:
        """Delete documents; ids not in the index are ignored."""
        with self._lock:
            rows = [r for r in (self._row_of.pop(int(i), None) for i in ids) if r is not None]
            if not rows:
                return
            rows_arr = np.array(rows, dtype=np.int64)
            self._alive[rows_arr] = False
            self._total_len -= int(self._lens[rows_arr].sum())
            if self._n_rows - len(self._row_of) > _DEAD_FRACTION * self._n_rows:
                self._compact()

    # ------------------------------------------------------------------ search

    def search(self, query_tokens: Sequence[str], k: int,
               allowed_ids: Collection[int] | None = None) -> list[BM25Hit]:
        """The k best documents with score > 0, best first; equal scores by id ascending.

        `allowed_ids` restricts which documents may be returned (a document filter); it does not
        change the statistics, so a document scores the same with or without a filter.
        """
        if k <= 0 or not query_tokens or (allowed_ids is not None and len(allowed_ids) == 0):
            return []
        with self._lock:
            scored = self._accumulate(query_tokens)
            if scored is None:
                return []
            scores, term_rows = scored
            cand = np.flatnonzero(scores > 0)
            if allowed_ids is not None and len(cand):
                if isinstance(allowed_ids, np.ndarray):
                    allowed = allowed_ids.astype(np.int64, copy=False).ravel()
                else:
                    allowed = np.fromiter(allowed_ids, dtype=np.int64, count=len(allowed_ids))
                cand = cand[np.isin(self._ids[cand], allowed)]
            top = self._top(cand, scores, k)
            ids = self._ids[top]
            matched = self._matched(top, term_rows)
            return [BM25Hit(int(i), float(scores[r]), m) for i, r, m in zip(ids, top, matched)]

    def score_ids(self, query_tokens: Sequence[str], ids: Iterable[int]) -> dict[int, BM25Hit]:
        """The score of each given live document that matches at least one query term.

        The same numbers `search` gives, for documents it may not have ranked high enough to
        return: hybrid search uses it so every candidate has an exact keyword score.
        """
        with self._lock:
            scored = self._accumulate(query_tokens) if query_tokens else None
            if scored is None:
                return {}
            scores, term_rows = scored
            rows = np.array([r for r in (self._row_of.get(int(i)) for i in ids) if r is not None], dtype=np.int64)
            rows = np.sort(rows[scores[rows] > 0]) if len(rows) else rows
            matched = self._matched(rows, term_rows)
            return {int(self._ids[r]): BM25Hit(int(self._ids[r]), float(scores[r]), m)
                    for r, m in zip(rows, matched)}

    def term_stats(self, terms: Iterable[str]) -> dict[str, tuple[int, float]]:
        """(document frequency, idf) of each distinct term over the live documents.

        A term no live document holds has df 0 and the largest idf the corpus allows, the
        natural weight of a word the knowledge base has never seen.
        """
        with self._lock:
            n_live = len(self._row_of)
            has_dead = n_live < self._n_rows
            out: dict[str, tuple[int, float]] = {}
            for text in dict.fromkeys(terms):
                term = self._vocab.get(text)
                df = 0
                if term is not None:
                    rows, _ = self._term_postings(term)
                    df = int(self._alive[rows].sum()) if has_dead else len(rows)
                out[text] = (df, math.log(1.0 + (n_live - df + 0.5) / (df + 0.5)))
            return out

    def _accumulate(self, query_tokens: Sequence[str]) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]] | None:
        """BM25 score of every row for the query, and each known term's (live) rows; None if none match.

        Only the postings of the query's own terms are read. Caller holds the lock.
        """
        n_live = len(self._row_of)
        if n_live == 0:
            return None
        query = self._query_terms(query_tokens)
        if not query:
            return None
        avgdl = self._total_len / n_live if self._total_len else 1.0
        has_dead = n_live < self._n_rows
        lens = self._lens[: self._n_rows]
        scores = np.zeros(self._n_rows, dtype=np.float64)
        term_rows: list[tuple[str, np.ndarray]] = []
        for text, term, count in query:
            rows, tf = self._term_postings(term)
            if has_dead:
                live = self._alive[rows]
                rows, tf = rows[live], tf[live]
            df = len(rows)
            if df == 0:
                continue
            idf = math.log(1.0 + (n_live - df + 0.5) / (df + 0.5))
            tf = tf.astype(np.float64)
            norm = self.k1 * (1.0 - self.b + self.b * lens[rows] / avgdl)
            scores[rows] += (count * idf) * tf * (self.k1 + 1.0) / (tf + norm)
            term_rows.append((text, rows))
        return scores, term_rows

    def _query_terms(self, query_tokens: Sequence[str]) -> list[tuple[str, int, int]]:
        """(text, term id, occurrences) of the known query terms, in order of first occurrence."""
        counts: dict[str, int] = {}
        for token in query_tokens:
            counts[token] = counts.get(token, 0) + 1
        out = []
        for text, count in counts.items():
            term = self._vocab.get(text)  # .get: never add query terms to the vocabulary
            if term is not None:
                out.append((text, term, count))
        return out

    def _term_postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        parts = [seg.term_rows(term) for seg in self._segments]
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _top(self, cand: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
        """Rows of the k best candidates, by score descending then id ascending."""
        if len(cand) > k:
            cand_scores = scores[cand]
            kth = np.partition(cand_scores, len(cand) - k)[len(cand) - k]
            cand = cand[cand_scores >= kth]  # keeps every row tied with the k-th
        order = np.lexsort((self._ids[cand], -scores[cand]))
        return cand[order[:k]]

    @staticmethod
    def _matched(top: np.ndarray, term_rows: list[tuple[str, np.ndarray]]) -> list[tuple[str, ...]]:
        """For each top row, the query terms whose (ascending) postings contain it."""
        if not len(top):
            return []
        found = np.zeros((len(term_rows), len(top)), dtype=bool)
        for j, (_, rows) in enumerate(term_rows):
            pos = np.minimum(np.searchsorted(rows, top), len(rows) - 1)
            found[j] = rows[pos] == top
        texts = [t for t, _ in term_rows]
        return [tuple(texts[j] for j in np.flatnonzero(found[:, c])) for c in range(len(top))]

    # ------------------------------------------------------------------ maintenance

    def _merged(self, segments: list[_Segment]) -> _Segment:
        """One segment holding the postings of adjacent segments (dead rows included)."""
        parts = [s.entries() for s in segments]
        row0 = segments[0].row0
        n_rows = sum(s.n_rows for s in segments)
        terms, rows, tf = (np.concatenate([p[i] for p in parts]) for i in range(3))
        return _Segment(row0, _postings(terms, rows - row0, tf, len(self._vocab), n_rows))

    def _compact(self) -> None:
        """Rewrite as one segment without dead rows or unused terms. Scores are unchanged."""
        if self._n_rows == len(self._row_of) and len(self._segments) <= 1:
            return
        n_old = self._n_rows
        alive = self._alive[:n_old]
        new_row = np.cumsum(alive) - 1
        if self._segments:
            parts = [s.entries() for s in self._segments]
            terms, rows, tf = (np.concatenate([p[i] for p in parts]) for i in range(3))
        else:
            terms, rows, tf = _EMPTY_ROWS, _EMPTY_ROWS, _EMPTY_TF
        keep = alive[rows]
        terms, rows, tf = terms[keep], new_row[rows[keep]], tf[keep]
        used = np.bincount(terms, minlength=len(self._vocab)) > 0
        new_term = np.cumsum(used) - 1
        old_terms = list(self._vocab)  # insertion order == id order
        self._vocab = _new_vocab(t for t, u in zip(old_terms, used.tolist()) if u)

        ids, lens = self._ids[:n_old][alive], self._lens[:n_old][alive]
        n = len(ids)
        self._ids, self._lens, self._alive = ids.copy(), lens.copy(), np.ones(n, dtype=bool)
        self._n_rows = n
        self._row_of = dict(zip(ids.tolist(), range(n)))
        self._segments = [_Segment(0, _postings(new_term[terms], rows, tf, len(self._vocab), n))] if n else []
        log.debug("bm25 compacted rows=%d->%d terms=%d->%d", n_old, n, len(old_terms), len(self._vocab))

    def copy(self) -> "BM25Index":
        """An independent copy: kb/store/snapshot.py builds each new index generation from a copy of the
        last, so searches still running on the old one are never disturbed."""
        with self._lock:
            other = BM25Index.__new__(BM25Index)
            for key, value in self.__dict__.items():
                if key == "_lock":
                    value = threading.RLock()
                elif key == "_vocab":  # its default factory is its own __len__: make a new one
                    value = _new_vocab(value)
                else:
                    value = copy.deepcopy(value)
                other.__dict__[key] = value
            return other

    # ------------------------------------------------------------------ persistence

    def save(self, folder: Path, stamp: str) -> None:
        """Write the index to folder/bm25.npz atomically; `stamp` comes back from load()."""
        folder = Path(folder)
        with self._lock:
            self._compact()
            n_terms = len(self._vocab)
            if self._segments:
                seg = self._segments[0].postings
                if seg.shape[0] < n_terms:  # terms left by an add() that failed part-way
                    seg.resize((n_terms, seg.shape[1]))
            else:
                seg = sp.csr_matrix((n_terms, 0), dtype=np.int32)
            meta = {"format": _FORMAT, "version": _VERSION, "stamp": stamp, "k1": self.k1, "b": self.b,
                    "terms": list(self._vocab)}
            arrays = {
                "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), dtype=np.uint8),
                "ids": self._ids[: self._n_rows],
                "lens": self._lens[: self._n_rows],
                "indptr": seg.indptr,
                "indices": seg.indices,
                "data": seg.data,
            }
            tmp = folder / f".{FILE_NAME}.{os.getpid()}.{threading.get_ident()}.tmp"
            try:
                with open(tmp, "wb") as fh:
                    np.savez(fh, allow_pickle=False, **arrays)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, folder / FILE_NAME)
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(folder)
        log.debug("bm25 saved folder=%s docs=%d terms=%d stamp=%s", folder, self._n_rows, len(self._vocab), stamp)

    @classmethod
    def load(cls, folder: Path) -> tuple[BM25Index, str] | None:
        """(index, stamp) from folder/bm25.npz; None if there is none or it is unreadable.

        Never raises for a bad file: the index is derived data, and the caller rebuilds it.
        """
        path = Path(folder) / FILE_NAME
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(z["meta"].tobytes().decode())
                arrays = {name: z[name] for name in ("ids", "lens", "indptr", "indices", "data")}
            return cls._from_arrays(meta, **arrays)
        # MemoryError: a damaged array header can claim an absurd shape.
        except (OSError, ValueError, KeyError, TypeError, EOFError, MemoryError, zipfile.BadZipFile) as exc:
            log.warning("bm25 index unreadable path=%s reason=%s: %s; it will be rebuilt",
                        path, type(exc).__name__, exc)
            return None

    @classmethod
    def _from_arrays(cls, meta: dict, ids: np.ndarray, lens: np.ndarray, indptr: np.ndarray,
                     indices: np.ndarray, data: np.ndarray) -> tuple[BM25Index, str]:
        """Rebuild from saved arrays, checking they are consistent (ValueError if not)."""
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT or meta.get("version") != _VERSION:
            raise ValueError(f"not a version {_VERSION} {_FORMAT} file")
        terms, stamp = meta["terms"], meta["stamp"]
        if (not isinstance(terms, list) or not all(isinstance(t, str) for t in terms)
                or not isinstance(stamp, str)):
            raise ValueError("bad metadata")
        if not all(np.issubdtype(a.dtype, np.integer) for a in (ids, lens, indptr, indices, data)):
            raise ValueError("arrays of the wrong type")
        index = cls(float(meta["k1"]), float(meta["b"]))
        n, n_terms = len(ids), len(terms)
        if (len(lens) != n or len(indptr) != n_terms + 1 or indptr[0] != 0 or indptr[-1] != len(indices)
                or len(data) != len(indices) or np.any(np.diff(indptr) < 0)
                or (len(indices) and (indices.min() < 0 or indices.max() >= n))
                or (len(data) and data.min() < 1)):
            raise ValueError("postings arrays do not fit together")
        if len(np.unique(ids)) != n:
            raise ValueError("repeated document ids")
        if not np.array_equal(np.bincount(indices, weights=data, minlength=n), lens):
            raise ValueError("document lengths do not match the postings")
        index._vocab = _new_vocab(terms)
        if len(index._vocab) != n_terms:
            raise ValueError("repeated terms in the vocabulary")
        if not _rows_ascending(indptr, indices):
            raise ValueError("postings are not sorted")
        postings = sp.csr_matrix((data, indices, indptr), shape=(n_terms, n))
        postings.has_sorted_indices = True  # just checked, and search() relies on it
        if n:
            index._segments = [_Segment(0, postings)]
        index._ids = ids.astype(np.int64)
        index._lens = lens.astype(np.int32)
        index._alive = np.ones(n, dtype=bool)
        index._n_rows = n
        index._row_of = dict(zip(index._ids.tolist(), range(n)))
        index._total_len = int(index._lens.sum())
        return index, stamp


def _rows_ascending(indptr: np.ndarray, indices: np.ndarray) -> bool:
    """Whether every term's rows are strictly ascending (a vectorised check, cheaper than sorting)."""
    ok = np.diff(indices.astype(np.int64)) > 0
    starts = indptr[1:-1]
    ok[starts[(starts > 0) & (starts < len(indices))] - 1] = True  # pairs across two terms
    return bool(ok.all())


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); Windows cannot open a directory, and needs not."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
