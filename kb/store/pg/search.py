"""Searching a knowledge base in PostgreSQL, inside the caller's read transaction.

`PGIndexes.at(view)` returns a `PGSearchIndex` bound to that view's connection, so dense and keyword
search see exactly the generation the rest of the read sees (kb/store/base.py SearchIndex).

- dense: pgvector's HNSW index (`<#>` is the negated inner product; vectors are unit-norm, so
  -(a <#> b) is the cosine). `hnsw.ef_search` trades recall for time: a query uses the larger of
  [storage] pg_ef_search and the breadth calibrated when the graph was last built whole (below),
  never less than k, at most pgvector's 1000 (benchmarks/pg_scale.py). A search restricted to some rows (`allowed`: a document filter, the
  gate's calibration) is exact over those rows when they are few, else HNSW with pgvector's
  iterative scan so the filter cannot starve the result.
- keyword: Okapi BM25 over the `postings` table with kb/search/bm25.py's formula and parameters (k1 1.2,
  b 0.75, Lucene's idf, N / df / avgdl over live rows). N and avgdl come from `meta`, df and the bounds
  from `terms` (both kept by the writer), cached per generation. A top k is exact MaxScore: the common
  terms that cannot lift a row into the top k by themselves are scored only for the rows that can still
  get there, so a query does not aggregate the postings of a word nearly every chunk holds.
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
# hnsw.ef_search is calibrated when the graph is built whole (kb/store/pg/store.py replace_all): the smallest
# step whose recall@10 on query-like vectors (kb/store/dense.py's: stored vectors moved to cosine 0.4 of
# themselves) reaches RECALL_TARGET against an exact scan; saved in meta as `hnsw_ef_search`
EF_STEPS = (40, 64, 100, 160, 250, 400, 640, 1000)  # pgvector's hnsw.ef_search goes up to 1000
CALIBRATION_QUERIES = 100
MAXSCORE_SAVING = 0.5  # keyword: MaxScore only when the terms it scores last hold this share of the postings


class _GenStats:
    """N and total length of the live rows, and (df, max tf, min length) of terms, for one (uuid, generation)."""

    def __init__(self, n_live: int, total_len: int, ef_calibrated: int = 0):
        self.n_live = n_live
        self.ef_calibrated = ef_calibrated
        self.avgdl = total_len / n_live if n_live and total_len else 1.0
        self.terms: dict[str, tuple[int, int, int]] = {}

    def tf_part(self, tf: float, length: float) -> float:
        return tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * length / self.avgdl))


class PGSearchIndex:
    def __init__(self, view: Any, stats: _GenStats, ef_search: int):
        self.view = view
        self.generation = view.generation()
        self.uuid = view.uuid
        self.dim = view.dim()
        self._stats = stats
        self._ef = max(int(ef_search), stats.ef_calibrated)

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
        self.view._conn.execute(f"SET LOCAL hnsw.ef_search = {self.ef_for(k)}")
        if allowed is not None:
            self.view._conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            rows = self._q("SELECT rowid, -(vec <#> %s) FROM {s}.vectors WHERE live AND rowid = ANY(%s) "
                           "ORDER BY vec <#> %s LIMIT %s", (q, [int(i) for i in allowed], q, int(k)))
            rows = sorted(rows, key=lambda r: -r[1])
        else:
            rows = self._q("SELECT rowid, -(vec <#> %s) FROM {s}.vectors WHERE live ORDER BY vec <#> %s LIMIT %s",
                           (q, q, int(k)))
        return [(int(r[0]), float(r[1])) for r in rows]

    def ef_for(self, k: int) -> int:
        """hnsw.ef_search for a top k: the configured breadth or the calibrated one, and never under k."""
        return min(1000, max(self._ef, int(k)))

    def exact_dense(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The true top k by a sequential scan (the reference for HNSW's recall)."""
        q = np.asarray(query, dtype=np.float32).ravel()
        rows = self._q("WITH c AS MATERIALIZED (SELECT rowid, vec FROM {s}.vectors WHERE live) "
                       "SELECT rowid, -(vec <#> %s) AS s FROM c ORDER BY s DESC, rowid LIMIT %s", (q, int(k)))
        return [(int(r[0]), float(r[1])) for r in rows]

    # ------------------------------------------------------------------ keyword

    def _query(self, tokens: Sequence[str]) -> list[tuple[str, float]]:
        """(term, weight = occurrences x idf) of the query's terms any live row holds, in order of first occurrence."""
        counts: dict[str, int] = {}
        for t in tokens:
            counts[t] = counts.get(t, 0) + 1
        stats = self.term_stats(list(counts))
        n = self._stats.n_live
        return [(t, c * stats[t][1]) for t, c in counts.items() if stats[t][0] > 0 and n > 0]

    def _sql(self, terms: Sequence[tuple[str, float]], k: int | None, only: Sequence[int] | None,
             allowed: Collection[int] | None, rest: Sequence[tuple[str, float]] = (), rest_bound: float = 0.0
             ) -> tuple[list[tuple], float]:
        """BM25 of the rows holding `terms` (their postings read term by term from postings_live).

        With `rest`: MaxScore (Turtle & Flood). The rows holding only `rest` terms score at most
        `rest_bound`; theta is the k-th best score over `terms`; rows whose score over `terms` plus
        `rest_bound` stays under theta cannot reach the top k, and the others get their `rest` postings by
        (term, rowid) lookups. Exact when rest_bound < theta (the caller checks): returns (rows, theta)."""
        tfp = "p.tf * %(k1p)s / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.len / %(avgdl)s))"
        args: dict[str, Any] = {"k1p": K1 + 1.0, "k1": K1, "b": B, "avgdl": float(self._stats.avgdl),
                                "t": [t for t, _ in terms], "w": [float(w) for _, w in terms]}
        where = ""
        if only is not None or allowed is not None:
            where, args["ids"] = " AND rowid = ANY(%(ids)s)", [int(i) for i in (only if only is not None else allowed)]
        if len(terms) == 1:  # one term: a row's score is its one posting's, nothing to group
            args["t1"], args["w1"] = args["t"][0], args["w"][0]
            scored = (f"SELECT p.rowid, %(w1)s * {tfp} AS s FROM {{s}}.postings p "
                      f"WHERE p.live AND p.term = %(t1)s{where.replace('rowid', 'p.rowid')}")
        else:
            scored = (f"SELECT p.rowid, sum(w.weight * {tfp}) AS s FROM unnest(%(t)s::text[], "
                      "%(w)s::float8[]) AS w(term, weight) CROSS JOIN LATERAL (SELECT rowid, tf, len FROM "
                      f"{{s}}.postings WHERE live AND term = w.term{where}) p GROUP BY p.rowid")
        if not rest:
            limit = f" LIMIT {int(k)}" if k is not None else ""
            return self._q(f"SELECT rowid, s, 0 FROM ({scored}) e ORDER BY s DESC, rowid{limit}", args), 0.0
        args.update({"rt": [t for t, _ in rest], "rw": [float(w) for _, w in rest], "rem": float(rest_bound),
                     "off": int(k) - 1, "k": int(k), "n_rest": len(rest),
                     "rest_df": sum(self._stats.terms[t][0] for t, _ in rest)})
        sql = (f"WITH e AS MATERIALIZED ({scored}), "
               "th AS (SELECT COALESCE((SELECT s FROM e ORDER BY s DESC OFFSET %(off)s LIMIT 1), 0::float8) AS t), "
               "c AS MATERIALIZED (SELECT e.rowid, e.s FROM e, th WHERE e.s + %(rem)s >= th.t), "
               "n AS (SELECT count(*) * %(n_rest)s <= %(rest_df)s / 16 AS few FROM c), "
               # the rest terms' postings of the candidates: by (term, rowid) lookups when the candidates are
               # few against those postings, else by reading the terms' ranges and joining (one branch runs:
               # each is gated by a one-time filter; OFFSET 0 keeps the lookups on the (term, rowid) key)
               f"r AS (SELECT p.rowid, sum(x.weight * {tfp}) AS s FROM unnest(%(rt)s::text[], "
               "%(rw)s::float8[]) AS x(term, weight) CROSS JOIN LATERAL (SELECT rowid, tf, len FROM {s}.postings "
               "WHERE live AND term = x.term AND rowid = ANY(ARRAY(SELECT rowid FROM c)) OFFSET 0) p "
               "WHERE (SELECT few FROM n) GROUP BY p.rowid "
               f"UNION ALL SELECT p.rowid, sum(x.weight * {tfp}) AS s FROM unnest(%(rt)s::text[], "
               "%(rw)s::float8[]) AS x(term, weight) CROSS JOIN LATERAL (SELECT rowid, tf, len FROM {s}.postings "
               "WHERE live AND term = x.term OFFSET 0) p JOIN c ON c.rowid = p.rowid "
               "WHERE NOT (SELECT few FROM n) GROUP BY p.rowid) "
               "SELECT c.rowid, c.s + COALESCE(r.s, 0), (SELECT t FROM th) "
               "FROM c LEFT JOIN r USING (rowid) ORDER BY 2 DESC, 1 LIMIT %(k)s")
        rows = self._q(sql, args)
        return rows, float(rows[0][2]) if rows else 0.0

    def _score(self, tokens: Sequence[str], k: int | None, rowids: Sequence[int] | None,
               allowed: Collection[int] | None) -> list[BM25Hit]:
        query = self._query(tokens)
        if not query:
            return []
        rows: list[tuple] | None = None
        if rowids is None and k is not None and len(query) > 1:
            rows = self._max_score(query, k, allowed)
        if rows is None:
            rows = self._sql(query, k, rowids, allowed)[0]
        if not rows:
            return []
        # which terms each returned row holds: (term, rowid) lookups for these rows only
        order_of = {t: i for i, (t, _) in enumerate(query)}
        matched: dict[int, list[str]] = {}
        for rowid, term in self._q("SELECT rowid, term FROM {s}.postings WHERE live AND term = ANY(%s) AND "
                                   "rowid = ANY(%s)", ([t for t, _ in query], [int(r[0]) for r in rows])):
            matched.setdefault(int(rowid), []).append(term)
        return [BM25Hit(int(r[0]), float(r[1]), tuple(sorted(matched.get(int(r[0]), ()), key=order_of.__getitem__)))
                for r in rows]

    def _max_score(self, query: list[tuple[str, float]], k: int, allowed: Collection[int] | None
                   ) -> list[tuple] | None:
        """The exact top k by MaxScore, or None when it would not save anything (the caller scores in full).

        theta0, the k-th best score over the rarest terms alone, is a lower bound of the k-th best full
        score; the terms with the smallest bounds (the most a term can add to a row: its weight x the tf
        part at its largest tf and shortest row) whose bounds together stay under theta0 cannot lift a row
        into the top k by themselves, so they are scored only for the rows that can still get there."""
        info = self._stats.terms
        by_df = sorted(query, key=lambda q: (info[q[0]][0], q[0]))
        seed, seen = [], 0
        for q in by_df[:-1]:
            seed.append(q)
            seen += info[q[0]][0]
            if seen >= 4 * k:
                break
        if seen < k:
            return None
        got = self._sql(seed, k, None, allowed)[0]
        theta0 = float(got[-1][1]) if len(got) >= k else 0.0
        bound = {t: w * self._stats.tf_part(info[t][1], info[t][2]) for t, w in query}
        rest: list[tuple[str, float]] = []
        rem = 0.0
        for q in sorted(query, key=lambda q: (bound[q[0]], q[0])):
            if (rem + bound[q[0]]) * (1 + 1e-9) >= theta0 or len(rest) == len(query) - 1:
                break
            rest.append(q)
            rem += bound[q[0]]
        if sum(info[t][0] for t, _ in rest) < MAXSCORE_SAVING * sum(info[t][0] for t, _ in query):
            return None  # the terms left for later hold too few of the postings to pay for two queries
        head = [q for q in query if q not in rest]
        rows, theta = self._sql(head, k, None, allowed, rest, rem * (1 + 1e-9))
        return rows if rem * (1 + 1e-9) < theta else None

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
        known = self._stats.terms
        unknown = [t for t in wanted if t not in known]
        if unknown:
            found = {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in self._q(
                "SELECT term, df, max_tf, min_len FROM {s}.terms WHERE df > 0 AND term = ANY(%s)", (unknown,))}
            for t in unknown:
                known[t] = found.get(t, (0, 0, 0))
        n = self._stats.n_live
        return {t: (known[t][0], math.log(1.0 + (n - known[t][0] + 0.5) / (known[t][0] + 0.5))) for t in wanted}

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
            meta = view.meta()  # kept by the writer in each write's transaction (kb/store/pg/store.py)
            stats = _GenStats(int(meta.get("bm25_n", 0)), int(meta.get("bm25_len", 0)),
                              int(meta.get("hnsw_ef_search", 0)))
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


def calibrate_ef_search(writer: Any, dim: int, target: float) -> tuple[int, float]:
    """(ef_search, its recall@10) chosen as the module docstring says, inside the writer's transaction.

    The exact top 10 of every calibration query comes from one pass over the live vectors (a server-side
    cursor, binary, a block at a time), not a sequential scan per query."""
    from kb.store.dense import CALIBRATION_COSINE

    rows = writer._q("SELECT rowid, vec FROM {s}.vectors WHERE live ORDER BY random() LIMIT %s",
                     (CALIBRATION_QUERIES,), binary=True)
    if len(rows) < CALIBRATION_QUERIES:
        return 0, 1.0
    rng = np.random.default_rng(20240601)
    base = np.vstack([np.asarray(r[1], np.float32) for r in rows])
    base /= np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-12)
    noise = rng.standard_normal(base.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    queries = base + math.sqrt(1 / CALIBRATION_COSINE ** 2 - 1) * noise
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    best_s = np.full((len(queries), 10), -np.inf, np.float32)
    best_i = np.zeros((len(queries), 10), np.int64)
    with writer._conn.cursor(name="kb_calibrate", binary=True) as cur:
        cur.itersize = 20_000
        cur.execute(f"SELECT rowid, vec FROM {writer.s}.vectors WHERE live")
        while True:
            block = cur.fetchmany(20_000)
            if not block:
                break
            ids = np.fromiter((r[0] for r in block), np.int64, len(block))
            mat = np.vstack([np.asarray(r[1], np.float32) for r in block])
            scores = queries @ mat.T
            all_s = np.concatenate([best_s, scores], axis=1)
            all_i = np.concatenate([best_i, np.broadcast_to(ids, scores.shape)], axis=1)
            top = np.argpartition(-all_s, 9, axis=1)[:, :10]
            best_s = np.take_along_axis(all_s, top, axis=1)
            best_i = np.take_along_axis(all_i, top, axis=1)
    truth = [set(r.tolist()) for r in best_i]
    recall = 0.0
    for ef in EF_STEPS:
        writer._conn.execute(f"SET LOCAL hnsw.ef_search = {ef}")
        found = 0
        for q, want in zip(queries, truth):
            got = writer._q("SELECT rowid FROM {s}.vectors WHERE live ORDER BY vec <#> %s LIMIT 10", (q,))
            found += len({int(r[0]) for r in got} & want)
        recall = found / (10 * len(queries))
        if recall >= target:
            return ef, recall
    return EF_STEPS[-1], recall
