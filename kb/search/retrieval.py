"""Dense, keyword and hybrid retrieval with a per-result score breakdown and a relevance gate.

Score directions (all "higher is better"):
- dense: cosine similarity of e5/Ollama vectors, in [-1, 1]; computed for every candidate, so a
  chunk found only by keywords still shows its dense similarity (its dense rank stays None);
- bm25: Okapi BM25 over jieba tokens, >= 0, unbounded, comparable only within one query; also
  computed for every candidate that holds a query term (None if it holds none);
- fused (hybrid): with `fusion = "zscore"` (the default) the weighted sum of the two scores
  after each is standardised over the pooled candidates (z = (s - mean) / std), so about 0 is
  "an average candidate" and +2 "stands well out"; with `fusion = "rrf"`, weighted reciprocal
  rank fusion, sum of w / (rrf_k + rank). In single-retriever modes it is that retriever's score.
- keyword_coverage: the share, 0..1, of the question's keyword weight (BM25 idf of each
  distinct term, an unseen term weighing the most) that the chunk contains.

Why z-scores rather than ranks: RRF throws away how far a hit stands out. A chunk that holds
every rare word of the question and one that barely beats the 40th candidate get similar
credit if both are ranked first by one retriever. Standardising keeps the margins and puts a
cosine (e5 squeezes everything into 0.80-0.95) and an unbounded BM25 score on one scale
without any per-model constant.

The gate decides whether anything is relevant enough to answer from (docs-only mode). By default
it is calibrated on the knowledge base's own chunks (kb/search/gate.py): no cosine constant is written
down for any embedder. `calibrated_gate = False`, or a `threshold` set by hand, gives the manual
gate: dense similarity >= `threshold` and >= best * `relative_cutoff`. Either way the reason for
a decline is kept (`SearchResult.gate_code`, `gate_params`, `gate_message()`).
"""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Collection, Sequence

import numpy as np

from kb.config import RetrievalSettings
from kb.search.gate import GateDecision, calibration_for, decide, missing_names, name_terms
from kb.messages import render
from kb.search.textproc import FIELD_PREFIX, tokenize
from kb.types import Chunk

MODES = ("dense", "bm25", "hybrid")
FUSIONS = ("zscore", "rrf")


@dataclass(frozen=True)
class SearchOptions:
    mode: str = "hybrid"
    k: int = 5
    candidates: int = 40
    fusion: str = "zscore"
    rrf_k: int = 60
    dense_weight: float = 0.6
    bm25_weight: float = 0.4
    mmr: bool = False
    mmr_lambda: float = 0.7
    threshold: float = 0.86
    relative_cutoff: float = 0.93
    calibrated_gate: bool = True  # gate on this knowledge base's calibration (kb/search/gate.py), not `threshold`
    gate_names: bool = True  # names a Chinese question hinges on that no chunk holds can decline it
    documents: tuple[str, ...] = ()  # restrict to these documents (file names or ids)
    # Mechanism switches: each one can be turned off by name (`kb eval --ablate NAME`), see ABLATIONS.
    use_history: bool = True
    # A follow-up's query vector is the expanded text's plus the question's own (normalised sum):
    # the history says what the conversation is about, the question what is asked now.
    own_question_vector: bool = True
    # File name and title as keyword fields. Off: measured on both public sets it gained no
    # question on one and cost one on the other (README, "Retrieval"); the field terms are indexed.
    fields: bool = False
    # Second stage (kb/search/second_stage.py): the Ollama model rewrites the question / orders the top.
    llm_rewrite: bool = False
    llm_rerank: bool = False
    llm_rerank_top: int = 10
    llm_budget: float = 8.0  # seconds for every model call of one search together

    @classmethod
    def from_settings(cls, r: RetrievalSettings, **overrides: Any) -> "SearchOptions":
        """Options from the settings. A `threshold` other than the shipped default, in the settings
        or passed per search, is a manual gate and replaces the calibration (`calibrated_gate`)."""
        base = cls(**{f.name: getattr(r, f.name) for f in fields(cls) if hasattr(r, f.name)})
        given = {k: v for k, v in overrides.items() if v is not None}
        manual = given.get("threshold", r.threshold)
        if manual != type(r)().threshold and "calibrated_gate" not in given:
            given["calibrated_gate"] = False
        if "documents" in given:
            given["documents"] = tuple(given["documents"])
        out = replace(base, **given)
        out.validate()
        return out

    def validate(self) -> None:
        from kb.errors import KBError

        if self.mode not in MODES:
            raise KBError("search.bad_mode", mode=self.mode)
        if self.fusion not in FUSIONS:
            raise KBError("search.bad_fusion", fusion=self.fusion)
        if not 1 <= self.k <= 100:
            raise KBError("search.bad_k", k=self.k)
        if not 0 <= self.mmr_lambda <= 1:
            raise KBError("search.bad_mmr_lambda", value=self.mmr_lambda)
        if not 2 <= self.llm_rerank_top <= 40:
            raise KBError("search.bad_rerank_top", value=self.llm_rerank_top)
        if not 0 < self.llm_budget <= 600:
            raise KBError("search.bad_llm_budget", value=self.llm_budget)


# name -> (SearchOptions field, value that turns the mechanism off, what it does)
ABLATIONS: dict[str, tuple[str, Any, str]] = {
    "history": ("use_history", False, "a follow-up question is searched together with the previous turn"),
    "own_question": ("own_question_vector", False, "a follow-up's query vector adds the question's own vector "
                     "to the vector of the question expanded with the previous turn"),
    "calibration": ("calibrated_gate", False, "docs-only gate from this knowledge base's pseudo-questions "
                    "(off: the fixed threshold and relative cutoff)"),
    "gate_names": ("gate_names", False, "the gate declines a question whose names no chunk holds, unless a "
                   "chunk matches it better than a typical off-document question"),
}


def ablated(options: SearchOptions, names: Collection[str]) -> SearchOptions:
    """`options` with the named mechanisms turned off (an unknown name is an error, not a no-op)."""
    from kb.errors import KBError

    changes: dict[str, Any] = {}
    for name in names:
        if name not in ABLATIONS:
            raise KBError("search.unknown_ablation", name=name, known=", ".join(ABLATIONS))
        field_name, off, _ = ABLATIONS[name]
        changes[field_name] = off
    return replace(options, **changes)


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
    keyword_coverage: float = 0.0  # share of the question's keyword weight found in this chunk, 0..1
    matched_fields: tuple[str, ...] = ()  # where query terms matched besides the text: file, title, heading
    first_stage_rank: int | None = None  # where the first stage ranked it, when the model reranked

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["chunk"] = self.chunk.to_dict()
        d["locator"] = self.chunk.locator
        d["matched_terms"] = list(self.matched_terms)
        d["matched_fields"] = list(self.matched_fields)
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
    missing_names: tuple[str, ...] = ()  # Latin-script names in the question that no chunk contains
    gate_reason: str = ""  # why nothing passed the gate, in English ("" when something did); see gate_message
    gate_code: str = ""  # kb.messages code of that reason
    gate_params: dict[str, Any] = field(default_factory=dict)
    gate_floor: float | None = None  # the dense similarity a result needed to pass
    calibration: dict[str, Any] | None = None  # the knowledge base's gate calibration (kb/search/gate.py)
    stages: tuple[Any, ...] = ()  # what the model's second stage did (kb/search/second_stage.py StageReport)

    def gate_message(self, lang: str | None = None) -> str:
        """Why the gate declined, in `lang` (zh / en); "" when something passed."""
        return render(self.gate_code, self.gate_params, lang) if self.gate_code else ""

    @property
    def relevant(self) -> tuple[ScoredChunk, ...]:
        return tuple(r for r in self.results if r.passed)

    @property
    def gate_passed(self) -> bool:
        return any(r.passed for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "retrieval_query": self.retrieval_query, "options": asdict(self.options),
                "query_terms": list(self.query_terms), "best_dense": self.best_dense,
                "used_history": self.used_history, "gate_passed": self.gate_passed, "gate_reason": self.gate_reason,
                "missing_names": list(self.missing_names), "timings_ms": self.timings_ms,
                "gate_code": self.gate_code, "gate_params": self.gate_params, "gate_floor": self.gate_floor,
                "calibration": self.calibration, "stages": [r.to_dict() for r in self.stages],
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


_FIELD_OF = {prefix: name for name, prefix in FIELD_PREFIX.items()}


def own_and_expanded(expanded: np.ndarray, own: np.ndarray) -> np.ndarray:
    """The normalised sum of a follow-up's expanded and own query vectors (both unit length)."""
    v = np.asarray(expanded, dtype=np.float32) + np.asarray(own, dtype=np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else np.asarray(expanded, dtype=np.float32)


def with_fields(terms: Sequence[str]) -> list[str]:
    """The query's terms, then each again in every field (file name, title)."""
    return [*terms, *(prefix + t for prefix in FIELD_PREFIX.values() for t in terms)]


def split_matched(matched: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(body terms, fields) of a hit's matched terms: field terms name their field, once each."""
    body, found = [], []
    for term in matched:
        name = _FIELD_OF.get(term[:3])
        if name is None:
            body.append(term)
        elif name not in found:
            found.append(name)
    order = list(FIELD_PREFIX)
    return tuple(body), tuple(sorted(found, key=order.index))


def query_terms(question: str, text: str, used_history: bool) -> list[str]:
    """Keyword terms of the searched text. For a follow-up the question's own terms count twice:
    the history says what the conversation is about, the follow-up says what is asked now."""
    terms = tokenize(text)
    return terms + tokenize(question) if used_history else terms


# ---------------------------------------------------------------- fusion, gate features

def rrf_fuse(rankings: Sequence[tuple[Sequence[int], float]], rrf_k: int) -> dict[int, float]:
    """Weighted reciprocal rank fusion: {id: sum(weight / (rrf_k + rank))}; ranks are 1-based."""
    fused: dict[int, float] = {}
    for ids, weight in rankings:
        if weight <= 0:
            continue
        for rank, i in enumerate(ids, start=1):
            fused[i] = fused.get(i, 0.0) + weight / (rrf_k + rank)
    return fused


def zscores(values: Sequence[float]) -> np.ndarray:
    """(v - mean) / std over the given values; all zeros when they do not vary."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return v
    std = v.std()
    return (v - v.mean()) / std if std > 1e-12 else np.zeros_like(v)


def zscore_fuse(ids: Sequence[int], dense: Sequence[float], bm25: Sequence[float], dense_weight: float,
                bm25_weight: float) -> dict[int, float]:
    """Convex combination of the standardised scores of one candidate pool: {id: fused}.

    `bm25` is 0 for a candidate that holds no query term (its true score). The weights are
    normalised to sum to 1, so only their ratio matters.
    """
    total = dense_weight + bm25_weight
    wd, wb = (dense_weight / total, bm25_weight / total) if total > 0 else (0.5, 0.5)
    fused = wd * zscores(dense) + wb * zscores(bm25)
    return {i: float(f) for i, f in zip(ids, fused)}


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


def keyword_coverage(matched: Sequence[str], stats: dict[str, tuple[int, float]]) -> float:
    """Share of the query's idf mass (distinct terms) that `matched` holds, 0..1."""
    total = sum(idf for _, idf in stats.values())
    return sum(stats[t][1] for t in set(matched) if t in stats) / total if total > 0 else 0.0


def fuse(options: SearchOptions, pool: Sequence[int], dense_hits: Sequence[tuple[int, float]],
         bm25_hits: Sequence[Any], dense_all: dict[int, float], keyword: dict[int, Any]) -> dict[int, float]:
    """{id: fused score} for the mode and fusion in `options` (higher is better)."""
    if options.mode == "dense":
        return {i: s for i, s in dense_hits}
    if options.mode == "bm25":
        return {h.id: h.score for h in bm25_hits}
    if options.fusion == "rrf":
        return rrf_fuse([([i for i, _ in dense_hits], options.dense_weight),
                         ([h.id for h in bm25_hits], options.bm25_weight)], options.rrf_k)
    return zscore_fuse(pool, [dense_all[i] for i in pool], [keyword[i].score if i in keyword else 0.0 for i in pool],
                       options.dense_weight, options.bm25_weight)


# ---------------------------------------------------------------- the search itself

@dataclass
class _Ranking:
    """One query's first stage before the gate: what search and explain both read."""

    text: str  # what was searched (the question, expanded with history for a follow-up)
    terms: list[str]
    searched: list[str]  # terms as given to the keyword index (with field terms when `fields` is on)
    qvec: np.ndarray
    used_history: bool
    pool: list[int]
    dense_rank: dict[int, int]
    bm25_rank: dict[int, int]
    keyword: dict[int, Any]
    dense_all: dict[int, float]
    fused: dict[int, float]
    order: list[int]  # the whole pool, best first
    picked: list[int]  # the top k (MMR when on)
    timings: dict[str, float]


class Retriever:
    """Runs one search over a knowledge base's indexes. Built by the facade; holds no per-user state."""

    def __init__(self, indexes: Any, store: Any, embedder: Any, cache_dir: Any = None):
        self.indexes = indexes
        self.store = store
        self.embedder = embedder
        self.cache_dir = cache_dir  # where the gate's calibration is kept between processes (None: memory only)

    def _rank(self, query: str, options: SearchOptions, history: Sequence[dict[str, str]],
              allowed: Collection[int] | None) -> "_Ranking":
        """Both retrievers, the pool, every pooled chunk's exact scores of both kinds, and the fused order."""
        timings: dict[str, float] = {}
        used_history = options.use_history and bool(history) and is_follow_up(query, history)
        text = expand_with_history(query, history) if used_history else query
        terms = query_terms(query, text, used_history)
        searched = with_fields(terms) if options.fields else terms
        n = options.candidates
        dense_hits: list[tuple[int, float]] = []
        bm25_hits = []
        # The query vector is needed in every mode: for the gate and the dense column.
        t = time.perf_counter()
        qvec = self.embedder.embed_query(text)
        if used_history and options.own_question_vector:
            qvec = own_and_expanded(qvec, self.embedder.embed_query(query))
        timings["embed_query"] = _ms(t)
        if options.mode in ("dense", "hybrid"):
            t = time.perf_counter()
            dense_hits = self.indexes.dense(qvec, n, allowed)
            timings["dense"] = _ms(t)
        if options.mode in ("bm25", "hybrid"):
            t = time.perf_counter()
            bm25_hits = self.indexes.keyword(searched, n, allowed)
            timings["bm25"] = _ms(t)

        t = time.perf_counter()
        pool = list(dict.fromkeys([i for i, _ in dense_hits] + [h.id for h in bm25_hits]))
        dense_rank = {i: r for r, (i, _) in enumerate(dense_hits, start=1)}
        bm25_rank = {h.id: r for r, h in enumerate(bm25_hits, start=1)}
        # Exact scores of both kinds for the whole pool: a chunk one retriever missed still
        # gets its true score from the other one's point of view.
        keyword = {h.id: h for h in bm25_hits}
        missed = [i for i in pool if i not in keyword]
        if missed and terms:
            keyword.update(self.indexes.keyword_scores(searched, missed))
        vectors = self.indexes.vectors_for(pool) if pool else None
        dense_all = {i: float(s) for i, s in zip(pool, vectors @ qvec)} if vectors is not None else {}
        fused = fuse(options, pool, dense_hits, bm25_hits, dense_all, keyword)
        order = sorted(fused, key=lambda i: (-fused[i], i))
        if options.mmr and vectors is not None and len(order) > options.k:
            row = {i: j for j, i in enumerate(pool)}
            picked = mmr_select(order, [fused[i] for i in order], vectors[[row[i] for i in order]], options.k,
                                options.mmr_lambda)
        else:
            picked = order[:options.k]
        timings["fuse"] = _ms(t)
        return _Ranking(text, terms, searched, qvec, used_history, pool, dense_rank, bm25_rank, keyword, dense_all,
                        fused, order, picked, timings)

    def search(self, query: str, options: SearchOptions, history: Sequence[dict[str, str]] = (),
               allowed: Collection[int] | None = None) -> SearchResult:
        return self._result(query, options, self._rank(query, options, history, allowed))

    def _result(self, query: str, options: SearchOptions, ranked: _Ranking) -> SearchResult:
        """The gate's decision and the returned results, with every score, of one ranking."""
        text, terms, used_history, timings = ranked.text, ranked.terms, ranked.used_history, ranked.timings
        dense_rank, bm25_rank, keyword, dense_all = ranked.dense_rank, ranked.bm25_rank, ranked.keyword, ranked.dense_all
        fused, picked = ranked.fused, ranked.picked

        t = time.perf_counter()
        names = name_terms(query) if options.gate_names else []
        stats = self.indexes.term_stats(list(dict.fromkeys([*terms, *names])))
        missing, names_block = missing_names(names, stats)
        stats = {term: stats[term] for term in terms}  # coverage is over the searched terms
        best = max(dense_all.values()) if dense_all else None
        cal = (calibration_for(self.indexes, self.store, self.embedder, self.cache_dir)
               if options.calibrated_gate else None)
        if options.calibrated_gate:
            decision = decide(best, cal, missing, names_block, options.gate_names, options.threshold)
        else:
            decision = _fixed_decision(best, missing, names_block, options)
        chunks = self.store.chunks_by_rowid(picked)
        results = []
        for rank, i in enumerate(picked, start=1):
            if i not in chunks:  # deleted by another writer between search and fetch
                continue
            hit = keyword.get(i)
            body, in_fields = split_matched(hit.matched) if hit else ((), ())
            if body and chunks[i].heading_path and set(body) & set(tokenize(chunks[i].heading)):
                in_fields += ("heading",)
            results.append(ScoredChunk(
                chunk=chunks[i], fused_score=float(fused[i]), fused_rank=rank,
                dense_score=dense_all.get(i), dense_rank=dense_rank.get(i),
                bm25_score=hit.score if hit else None, bm25_rank=bm25_rank.get(i),
                matched_terms=body, matched_fields=in_fields,
                passed=_passes(dense_all.get(i), best, decision, options),
                keyword_coverage=round(keyword_coverage(body, stats), 4)))
        timings["gate_fetch"] = _ms(t)
        passed = any(r.passed for r in results)
        code = decision.reason_code if not passed else ""
        if not passed and not code:  # the question passed, yet no returned result reaches the floor
            code, decision = "gate.below_fixed", replace(decision, params={"best": best or 0.0,
                                                                             "threshold": decision.floor or 0.0})
        return SearchResult(query, text, options, tuple(results), tuple(terms), best, used_history,
                            {k: round(v, 3) for k, v in timings.items()}, missing,
                            render(code, decision.params) if code else "", code,
                            dict(decision.params) if code else {}, decision.floor,
                            cal.to_dict() if cal else None)


    def explain(self, query: str, options: SearchOptions, history: Sequence[dict[str, str]],
                targets: Sequence[int], allowed: Collection[int] | None = None
                ) -> tuple[SearchResult, list["MissExplanation"]]:
        """The search, and for each target chunk (rowid) where each retriever put it and why it is or is
        not among the results: ranks counted EXPLAIN_DEPTH deep, its scores, the question's words it lacks."""
        ranked = self._rank(query, options, history, allowed)
        result = self._result(query, options, ranked)
        live = self.indexes.ids()
        depth = max(EXPLAIN_DEPTH, options.candidates)
        dense_deep = {i: r for r, (i, _) in enumerate(self.indexes.dense(ranked.qvec, depth, allowed), start=1)}
        bm25_deep = {h.id: r for r, h in enumerate(self.indexes.keyword(ranked.searched, depth, allowed), start=1)
                     } if ranked.searched else {}
        stats = self.indexes.term_stats(list(dict.fromkeys(ranked.terms)))
        chunks = self.store.chunks_by_rowid(list(targets))
        picked = {i: r for r, i in enumerate(ranked.picked, start=1)}
        pool_rank = {i: r for r, i in enumerate(ranked.order, start=1)}
        kth = ranked.fused[ranked.picked[-1]] if ranked.picked else None
        out = []
        for rowid in targets:
            chunk = chunks.get(rowid)
            if chunk is None:
                continue
            indexed = rowid in live
            dense = float(self.indexes.vectors_for([rowid])[0] @ ranked.qvec) if indexed else None
            hit = self.indexes.keyword_scores(ranked.searched, [rowid]).get(rowid) if indexed and ranked.searched \
                else None
            body = split_matched(hit.matched)[0] if hit else ()
            lacking = sorted((t for t in stats if t not in set(body)), key=lambda t: (-stats[t][1], t))
            ranks = {"dense_rank": dense_deep.get(rowid), "bm25_rank": bm25_deep.get(rowid)}
            if not indexed:
                verdict, params = "explain.disabled", {}
            elif allowed is not None and rowid not in allowed:
                verdict, params = "explain.filtered", {"file": chunk.file_name}
            elif rowid in picked:
                verdict, params = "explain.returned", {"rank": picked[rowid], "k": options.k}
            elif rowid in pool_rank:
                verdict, params = "explain.below_k", {"rank": pool_rank[rowid], "k": options.k,
                                                      "score": ranked.fused[rowid], "kth": kth or 0.0}
            else:
                verdict, params = "explain.not_candidate", {
                    "candidates": options.candidates, "dense": _rank_text(ranks["dense_rank"], depth),
                    "bm25": _rank_text(ranks["bm25_rank"], depth) if body else "—"}
            out.append(MissExplanation(
                chunk=chunk, verdict=verdict, params=params, dense_score=dense, bm25_score=hit.score if hit else None,
                fused_rank=pool_rank.get(rowid), fused_score=ranked.fused.get(rowid), kth_fused=kth,
                matched_terms=body, lacking_terms=tuple((t, round(stats[t][1], 3), stats[t][0]) for t in lacking),
                passes_floor=None if dense is None or result.gate_floor is None else dense >= result.gate_floor,
                **ranks))
        return result, out


EXPLAIN_DEPTH = 1000  # explain counts each retriever's ranks this deep; beyond it says "> 1000"


def _rank_text(rank: int | None, depth: int) -> str:
    return str(rank) if rank is not None else f"> {depth}"


@dataclass(frozen=True)
class MissExplanation:
    """Why one chunk a person expected is, or is not, among a search's results."""

    chunk: Chunk
    verdict: str  # kb.messages code: explain.returned | below_k | not_candidate | disabled | filtered
    params: dict[str, Any]
    dense_score: float | None  # cosine with the query vector (None: the chunk is not in the index)
    dense_rank: int | None  # among all chunks the search may return (None: beyond EXPLAIN_DEPTH)
    bm25_score: float | None
    bm25_rank: int | None  # None: no word in common, or beyond EXPLAIN_DEPTH
    fused_rank: int | None  # in the candidate pool (None: not in it)
    fused_score: float | None
    kth_fused: float | None  # the fused score of the last returned result: what it had to beat
    matched_terms: tuple[str, ...]
    lacking_terms: tuple[tuple[str, float, int], ...]  # (term, idf, chunks holding it) the chunk lacks
    passes_floor: bool | None  # its similarity reaches the gate's floor

    def message(self, lang: str | None = None) -> str:
        return render(self.verdict, self.params, lang)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["chunk"] = self.chunk.to_dict()
        d["locator"] = self.chunk.locator
        d["message"] = self.message("en")
        d["lacking_terms"] = [{"term": t, "idf": idf, "df": df} for t, idf, df in self.lacking_terms]
        return d


@dataclass(frozen=True)
class Explanation:
    """A search and, for each chunk someone expected it to find, why it is or is not in the results."""

    result: SearchResult
    expected: str  # the chunk id or the passage that was asked about
    targets: tuple[MissExplanation, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"expected": self.expected, "targets": [t.to_dict() for t in self.targets],
                "search": self.result.to_dict()}


_WS = re.compile(r"\s+")
EXPLAIN_MATCHES = 5  # a passage found in more chunks than this: the first ones, in reading order


def chunks_holding(rows: Sequence[tuple[int, Chunk]], expected: str) -> list[int]:
    """Rowids of the chunks whose text holds `expected` (whitespace ignored, as `kb eval` matches evidence)."""
    want = _WS.sub("", expected).lower()
    if not want:
        return []
    return [rowid for rowid, c in rows if want in _WS.sub("", c.text).lower()][:EXPLAIN_MATCHES]


def _fixed_decision(best: float | None, missing: Sequence[str], names_block: bool,
                    options: SearchOptions) -> GateDecision:
    """The manual gate (`calibrated_gate` off): `threshold` and `relative_cutoff` on the cosine scale."""
    if best is None:
        return GateDecision(False, "gate.nothing_found", {}, None)
    if options.gate_names and names_block:
        return GateDecision(False, "gate.unknown_names_fixed", {"names": ", ".join(missing)}, options.threshold)
    if best < options.threshold:
        return GateDecision(False, "gate.below_fixed", {"best": best, "threshold": options.threshold},
                            options.threshold)
    return GateDecision(True, "", {}, options.threshold)


def _passes(dense: float | None, best: float | None, decision: GateDecision, options: SearchOptions) -> bool:
    """Whether one result may be answered from: the question passed and the result reaches the floor
    (and, with the manual gate, is within `relative_cutoff` of the best result)."""
    if not decision.passed or dense is None or best is None or decision.floor is None:
        return False
    if options.calibrated_gate:
        return dense >= decision.floor
    return dense >= decision.floor and dense >= best * options.relative_cutoff


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
