"""Searching a knowledge base in PostgreSQL, inside the caller's read transaction.

`PGIndexes.at(view)` returns a `PGSearchIndex` bound to that view's connection, so dense and keyword
search see exactly the generation the rest of the read sees (kb/store/base.py SearchIndex).

- dense: pgvector's HNSW index (`<#>` is the negated inner product; vectors are unit-norm, so
  -(a <#> b) is the cosine). `hnsw.ef_search` ([storage] pg_ef_search) trades recall for time
  (benchmarks/pg_scale.py). A search restricted to some rows (`allowed`: a document filter, the
  gate's calibration) is exact over those rows when they are few, else HNSW with pgvector's
  iterative scan so the filter cannot starve the result.
- keyword: Okapi BM25 over the `postings` table with kb/search/bm25.py's formula and parameters (k1 1.2,
  b 0.75, Lucene's idf, N / df / avgdl over live rows). N and avgdl are read once per generation and
  cached here (one scan), df per term likewise.
"""
from __future__ import annotations

import math
import threading
from typing import Any, Collection, Sequence

import numpy as np

from kb.search.bm25 import BM25Hit
from kb.errors import EmbedderMismatch

K1, B = 1.2, 0.75
EXACT_LIMIT = 20_000  # a filter of at most this many rows is searched exactly


class _GenStats:
    """N and total length of the live rows, and df of terms, for one (uuid, generation)."""

    def __init__(self, n_live: int, total_len: int):
        self.n_live = n_live
        self.avgdl = total_len / n_live if n_live and total_len else 1.0
        self.df: dict[str, int] = {}


class PGSearchIndex:
    def __init__(self, view: Any, stats: _GenStats, ef_search: int):
        self.view = view
        self.generation = view.generation()
        self.uuid = view.uuid
        self.dim = view.dim()
        self._stats = stats
        self._ef = int(ef_search)

    @property
    def ntotal(self) -> int:
        return self._stats.n_live

    def _q(self, sql: str, args: Sequence[Any] = (), binary: bool = False) -> list[tuple]:
        return self.view._q(sql, args, binary)

    def dense(self, query: np.ndarray, k: int, allowed: Collection[int] | None = None) -> list[tuple[int, float]]:
        q = np.asarray(query, dtype=np.float32).ravel()
        if q.shape[0] != self.dim:
            raise EmbedderMismatch("store.query_dim", dim=int(q.shape[0]), expected=self.dim)
        if k <= 0 or (allowed is not None and not allowed):
            return []
        if allowed is not None and len(allowed) <= EXACT_LIMIT:
            rows = self._q("WITH c AS MATERIALIZED (SELECT rowid, vec FROM {s}.vectors WHERE live AND "
                           "rowid = ANY(%s)) SELECT rowid, -(vec <#> %s) AS s FROM c ORDER BY s DESC, rowid LIMIT %s",
                           ([int(i) for i in allowed], q, int(k)))
            return [(int(r[0]), float(r[1])) for r in rows]
        self.view._conn.execute(f"SET LOCAL hnsw.ef_search = {max(self._ef, int(k))}")
        if allowed is not None:
            self.view._conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            rows = self._q("SELECT rowid, -(vec <#> %s) FROM {s}.vectors WHERE live AND rowid = ANY(%s) "
                           "ORDER BY vec <#> %s LIMIT %s", (q, [int(i) for i in allowed], q, int(k)))
            rows = sorted(rows, key=lambda r: -r[1])
        else:
            rows = self._q("SELECT rowid, -(vec <#> %s) FROM {s}.vectors WHERE live ORDER BY vec <#> %s LIMIT %s",
                           (q, q, int(k)))
        return [(int(r[0]), float(r[1])) for r in rows]

    def exact_dense(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The true top k by a sequential scan (the reference for HNSW's recall)."""
        q = np.asarray(query, dtype=np.float32).ravel()
        rows = self._q("WITH c AS MATERIALIZED (SELECT rowid, vec FROM {s}.vectors WHERE live) "
                       "SELECT rowid, -(vec <#> %s) AS s FROM c ORDER BY s DESC, rowid LIMIT %s", (q, int(k)))
        return [(int(r[0]), float(r[1])) for r in rows]

    # ------------------------------------------------------------------ keyword

    def _query(self, tokens: Sequence[str]) -> list[tuple[str, int, float]]:
        """(term, occurrences, idf) of the query's terms any live row holds, in order of first occurrence."""
        counts: dict[str, int] = {}
        for t in tokens:
            counts[t] = counts.get(t, 0) + 1
        stats = self.term_stats(list(counts))
        n = self._stats.n_live
        return [(t, c, stats[t][1]) for t, c in counts.items() if stats[t][0] > 0 and n > 0]

    def _score(self, tokens: Sequence[str], k: int | None, rowids: Sequence[int] | None,
               allowed: Collection[int] | None) -> list[BM25Hit]:
        query = self._query(tokens)
        if not query:
            return []
        terms = [t for t, _, _ in query]
        weights = [c * idf for _, c, idf in query]
        where, args = "", []
        if rowids is not None:
            where, args = " AND p.rowid = ANY(%s)", [[int(i) for i in rowids]]
        elif allowed is not None:
            where, args = " AND p.rowid = ANY(%s)", [[int(i) for i in allowed]]
        limit = f" LIMIT {int(k)}" if k is not None else ""
        rows = self._q(
            "SELECT p.rowid, sum(w.weight * p.tf * %s / (p.tf + %s * (1 - %s + %s * p.len / %s))) AS score, "
            "array_agg(w.term) FROM {s}.postings p JOIN unnest(%s::text[], %s::float8[]) AS w(term, weight) "
            f"ON p.term = w.term WHERE p.live{where} GROUP BY p.rowid ORDER BY score DESC, p.rowid{limit}",
            [K1 + 1.0, K1, B, B, self._stats.avgdl, terms, weights, *args])
        order = {t: i for i, t in enumerate(terms)}
        return [BM25Hit(int(r[0]), float(r[1]), tuple(sorted(r[2], key=order.__getitem__))) for r in rows]

    def keyword(self, tokens: Sequence[str], k: int, allowed: Collection[int] | None = None) -> list[BM25Hit]:
        if k <= 0 or not tokens or (allowed is not None and not allowed):
            return []
        return self._score(tokens, k, None, allowed)

    def keyword_scores(self, tokens: Sequence[str], rowids: Sequence[int]) -> dict[int, BM25Hit]:
        if not tokens or not rowids:
            return {}
        return {h.id: h for h in self._score(tokens, None, rowids, None)}

    def term_stats(self, terms: Sequence[str]) -> dict[str, tuple[int, float]]:
        wanted = list(dict.fromkeys(terms))
        unknown = [t for t in wanted if t not in self._stats.df]
        if unknown:
            found = dict(self._q("SELECT term, count(*) FROM {s}.postings WHERE live AND term = ANY(%s) "
                                 "GROUP BY term", (unknown,)))
            for t in unknown:
                self._stats.df[t] = int(found.get(t, 0))
        n = self._stats.n_live
        return {t: (self._stats.df[t], math.log(1.0 + (n - self._stats.df[t] + 0.5) / (self._stats.df[t] + 0.5)))
                for t in wanted}

    def vectors_for(self, rowids: Sequence[int]) -> np.ndarray:
        if not rowids:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = dict(self._q("SELECT rowid, vec FROM {s}.vectors WHERE rowid = ANY(%s)",
                            ([int(i) for i in rowids],), binary=True))
        return np.vstack([rows[int(i)] for i in rowids]).astype(np.float32)

    def ids(self) -> set[int]:
        return {int(r[0]) for r in self._q("SELECT rowid FROM {s}.vectors WHERE live")}


class PGIndexes:
    """The Indexes of kb/store/base.py for PostgreSQL: nothing derived lives outside the database."""

    def __init__(self, store: Any, ef_search: int = 100):
        self.store = store
        self.ef_search = ef_search
        self._stats: tuple[str, int, _GenStats] | None = None
        self._lock = threading.Lock()
        self.current: PGSearchIndex | None = None

    def at(self, view: Any) -> PGSearchIndex:
        key = (view.uuid, view.generation())
        with self._lock:
            cached = self._stats
        if cached is None or (cached[0], cached[1]) != key:
            # a chunk's length is its number of terms (kb/search/bm25.py): spaces in `terms` plus one
            row = view._q("SELECT count(*), COALESCE(sum(CASE WHEN c.terms = '' THEN 0 ELSE length(c.terms) - "
                          "length(replace(c.terms, ' ', '')) + 1 END), 0) FROM {s}.chunks c JOIN {s}.vectors v "
                          "USING (rowid) WHERE v.live")[0]
            stats = _GenStats(int(row[0]), int(row[1]))
            with self._lock:
                self._stats = (key[0], key[1], stats)
        else:
            stats = cached[2]
        index = PGSearchIndex(view, stats, self.ef_search)
        self.current = index
        return index

    def files_state(self, view: Any) -> str:
        return "current"

    def persist(self, writer: Any) -> None:
        """Nothing to write: the indexes are maintained by the writer's own transactions."""
