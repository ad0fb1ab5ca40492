"""Dense, keyword and hybrid retrieval with a per-result score breakdown and a relevance gate.

Score directions (all "higher is better"):
- dense: cosine similarity of e5/Ollama vectors, in [-1, 1]; computed for every candidate, so a
  chunk found only by keywords still shows its dense similarity (its dense rank stays None);
- bm25: Okapi BM25 over jieba tokens, >= 0, unbounded, comparable only within one query;
- fused: weighted reciprocal rank fusion, sum of w / (rrf_k + rank) over the retrievers that
  ranked the chunk; in single-retriever modes it equals that retriever's score.

The gate decides whether anything is relevant enough to answer from (docs-only mode):
a result passes when its dense similarity reaches `threshold` and is within
`relative_cutoff` of the best one (`dense >= best * relative_cutoff`).
"""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Collection, Sequence

import numpy as np

from .config import RetrievalSettings
from .textproc import tokenize
from .types import Chunk

MODES = ("dense", "bm25", "hybrid")


@dataclass(frozen=True)
class SearchOptions:
    mode: str = "hybrid"
    k: int = 5
    candidates: int = 40
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    mmr: bool = False
    mmr_lambda: float = 0.7
    threshold: float = 0.80
    relative_cutoff: float = 0.90
    documents: tuple[str, ...] = ()  # restrict to these documents (file names or ids)

    @classmethod
    def from_settings(cls, r: RetrievalSettings, **overrides: Any) -> "SearchOptions":
        base = cls(mode=r.mode, k=r.k, candidates=r.candidates, rrf_k=r.rrf_k, dense_weight=r.dense_weight,
                   bm25_weight=r.bm25_weight, mmr=r.mmr, mmr_lambda=r.mmr_lambda, threshold=r.threshold,
                   relative_cutoff=r.relative_cutoff)
        given = {k: v for k, v in overrides.items() if v is not None}
        if "documents" in given:
            given["documents"] = tuple(given["documents"])
        out = replace(base, **given)
        out.validate()
        return out

    def validate(self) -> None:
        from .errors import KBError

        if self.mode not in MODES:
            raise KBError(f"Unknown search mode {self.mode!r}: use dense, bm25 or hybrid")
        if not 1 <= self.k <= 100:
            raise KBError("k must be between 1 and 100")
        if not 0 <= self.mmr_lambda <= 1:
            raise KBError("mmr_lambda must be between 0 and 1")


@dataclass(frozen=True)
class ScoredChunk:
    chunk: Chunk
    fused_score: float
    fused_rank: int
    dense_score: float | None = None
    dense_rank: int | None = None
    bm25_score: float | None = None
    bm25_rank: int | None = None
    matched_terms: tuple[str, ...] = ()
    passed: bool = False  # passed the relevance gate

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["chunk"] = self.chunk.to_dict()
        d["locator"] = self.chunk.locator
        d["matched_terms"] = list(self.matched_terms)
        return d


@dataclass(frozen=True)
class SearchResult:
    query: str
    retrieval_query: str  # the query actually searched (the question, expanded with history for follow-ups)
    options: SearchOptions
    results: tuple[ScoredChunk, ...]
    query_terms: tuple[str, ...]
    best_dense: float | None
    used_history: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def relevant(self) -> tuple[ScoredChunk, ...]:
        return tuple(r for r in self.results if r.passed)

    @property
    def gate_passed(self) -> bool:
        return any(r.passed for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "retrieval_query": self.retrieval_query, "options": asdict(self.options),
                "query_terms": list(self.query_terms), "best_dense": self.best_dense,
                "used_history": self.used_history, "gate_passed": self.gate_passed, "timings_ms": self.timings_ms,
                "results": [r.to_dict() for r in self.results]}


# ---------------------------------------------------------------- history without an LLM

_REFERENCE = re.compile(r"(它|他|她|其|该|这个|那个|这些|那些|这种|那种|上述|前者|后者|第[一二三四五六七八九十\d]+[个种点条]|"
                        r"^那|^这|此|\bit\b|\bthey\b|\bthat\b|\bthis\b)", re.I)


def is_follow_up(question: str, history: Sequence[dict[str, str]]) -> bool:
    """A question that leans on earlier turns: it has history and a pronoun-like reference,
    or it is very short. Such questions are expanded (here) or rewritten (by the LLM in chat)."""
    if not any(t.get("role") == "user" for t in history):
        return False
    return bool(_REFERENCE.search(question)) or len(question.strip()) <= 8


def expand_with_history(question: str, history: Sequence[dict[str, str]]) -> str:
    """Without an LLM: prefix the follow-up with the last user question and the start of the last answer."""
    last_user = next((t["content"] for t in reversed(history) if t.get("role") == "user"), "")
    last_answer = next((t["content"] for t in reversed(history) if t.get("role") == "assistant"), "")
    parts = [last_user.strip(), last_answer.strip()[:160], question.strip()]
    return " ".join(p for p in parts if p)


# ---------------------------------------------------------------- fusion and gate

def rrf_fuse(rankings: Sequence[tuple[Sequence[int], float]], rrf_k: int) -> dict[int, float]:
    """Weighted reciprocal rank fusion: {id: sum(weight / (rrf_k + rank))}; ranks are 1-based."""
    fused: dict[int, float] = {}
    for ids, weight in rankings:
        if weight <= 0:
            continue
        for rank, i in enumerate(ids, start=1):
            fused[i] = fused.get(i, 0.0) + weight / (rrf_k + rank)
    return fused


def mmr_select(ids: Sequence[int], relevance: Sequence[float], vectors: np.ndarray, k: int,
               lam: float) -> list[int]:
    """Maximal marginal relevance: trade relevance (min-max scaled) against similarity to picks so far."""
    if not len(ids):
        return []
    rel = np.asarray(relevance, dtype=np.float64)
    span = rel.max() - rel.min()
    rel = (rel - rel.min()) / span if span > 0 else np.ones_like(rel)
    sims = vectors @ vectors.T
    chosen: list[int] = []
    left = list(range(len(ids)))
    while left and len(chosen) < k:
        if chosen:
            penalty = sims[np.ix_(left, chosen)].max(axis=1)
        else:
            penalty = np.zeros(len(left))
        scores = lam * rel[left] - (1 - lam) * penalty
        pick = left[int(np.argmax(scores))]
        chosen.append(pick)
        left.remove(pick)
    return [ids[i] for i in chosen]


def gate(dense: float | None, best: float | None, options: SearchOptions) -> bool:
    if dense is None or best is None:
        return False
    return dense >= options.threshold and dense >= best * options.relative_cutoff


# ---------------------------------------------------------------- the search itself

class Retriever:
    """Runs one search over a knowledge base's indexes. Built by the facade; holds no per-user state."""

    def __init__(self, indexes: Any, store: Any, embedder: Any):
        self.indexes = indexes
        self.store = store
        self.embedder = embedder

    def search(self, query: str, options: SearchOptions, history: Sequence[dict[str, str]] = (),
               allowed: Collection[int] | None = None) -> SearchResult:
        timings: dict[str, float] = {}
        used_history = bool(history) and is_follow_up(query, history)
        text = expand_with_history(query, history) if used_history else query
        terms = tokenize(text)
        n = options.candidates
        dense_hits: list[tuple[int, float]] = []
        bm25_hits = []
        # The query vector is needed in every mode: for the gate and the dense column.
        t = time.perf_counter()
        qvec = self.embedder.embed_query(text)
        timings["embed_query"] = _ms(t)
        if options.mode in ("dense", "hybrid"):
            t = time.perf_counter()
            dense_hits = self.indexes.dense(qvec, n, allowed)
            timings["dense"] = _ms(t)
        if options.mode in ("bm25", "hybrid"):
            t = time.perf_counter()
            bm25_hits = self.indexes.keyword(terms, n, allowed)
            timings["bm25"] = _ms(t)
        t = time.perf_counter()
        dense_rank = {i: r for r, (i, _) in enumerate(dense_hits, start=1)}
        bm25_rank = {h.id: r for r, h in enumerate(bm25_hits, start=1)}
        bm25_by_id = {h.id: h for h in bm25_hits}
        if options.mode == "dense":
            fused = {i: s for i, s in dense_hits}
        elif options.mode == "bm25":
            fused = {h.id: h.score for h in bm25_hits}
        else:
            fused = rrf_fuse([([i for i, _ in dense_hits], options.dense_weight),
                              ([h.id for h in bm25_hits], options.bm25_weight)], options.rrf_k)
        order = sorted(fused, key=lambda i: (-fused[i], i))
        dense_all: dict[int, float] = dict(dense_hits)
        vectors = None
        if qvec is not None and order:
            vectors = self.indexes.vectors_for(order)
            dense_all = {i: float(s) for i, s in zip(order, vectors @ qvec)}
        if options.mmr and vectors is not None and len(order) > options.k:
            picked = mmr_select(order, [fused[i] for i in order], vectors, options.k, options.mmr_lambda)
        else:
            picked = order[:options.k]
        best = max(dense_all.values()) if dense_all else None
        chunks = self.store.chunks_by_rowid(picked)
        results = []
        for rank, i in enumerate(picked, start=1):
            if i not in chunks:  # deleted by another writer between search and fetch
                continue
            hit = bm25_by_id.get(i)
            results.append(ScoredChunk(
                chunk=chunks[i], fused_score=float(fused[i]), fused_rank=rank,
                dense_score=dense_all.get(i), dense_rank=dense_rank.get(i),
                bm25_score=hit.score if hit else None, bm25_rank=bm25_rank.get(i),
                matched_terms=hit.matched if hit else (), passed=gate(dense_all.get(i), best, options)))
        timings["fuse"] = _ms(t)
        return SearchResult(query, text, options, tuple(results), tuple(terms), best, used_history,
                            {k: round(v, 3) for k, v in timings.items()})


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
