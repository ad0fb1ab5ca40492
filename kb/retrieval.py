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

- answer type: a question asking for a year or a number (哪一年, 多少, how many) adds
  `answer_type_boost` to the fused z-score of chunks that hold one (hybrid, zscore fusion).

Why z-scores rather than ranks: RRF throws away how far a hit stands out. A chunk that holds
every rare word of the question and one that barely beats the 40th candidate get similar
credit if both are ranked first by one retriever. Standardising keeps the margins and puts a
cosine (e5 squeezes everything into 0.80-0.95) and an unbounded BM25 score on one scale
without any per-model constant.

The gate decides whether anything is relevant enough to answer from (docs-only mode). A
result passes when
1. its dense similarity reaches `threshold` (absolute, in the embedder's cosine scale: the
   builtin e5 puts unrelated Chinese text at 0.80-0.87 and real matches above 0.87), and
2. it is within `relative_cutoff` of the best one (`dense >= best * relative_cutoff`), and
3. (`name_check`) the question does not hinge on names the knowledge base has never seen: in a
   Chinese question, Latin-script words are almost always names (FedAvg, Neo4j, Kubernetes);
   when most of them occur in no chunk at all, the documents cannot be about the question,
   however close the embedding looks. Purely Latin questions are exempt (their words are not
   names). The names found missing are reported in `SearchResult.missing_names`.
"""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Collection, Sequence

import numpy as np

from .config import RetrievalSettings
from .textproc import tokenize
from .types import Chunk

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
    name_check: bool = True
    answer_type_boost: float = 0.3
    documents: tuple[str, ...] = ()  # restrict to these documents (file names or ids)
    # Mechanism switches: each one can be turned off by name (`kb eval --ablate NAME`), see ABLATIONS.
    use_history: bool = True

    @classmethod
    def from_settings(cls, r: RetrievalSettings, **overrides: Any) -> "SearchOptions":
        base = cls(**{f.name: getattr(r, f.name) for f in fields(cls) if hasattr(r, f.name)})
        given = {k: v for k, v in overrides.items() if v is not None}
        if "documents" in given:
            given["documents"] = tuple(given["documents"])
        out = replace(base, **given)
        out.validate()
        return out

    def validate(self) -> None:
        from .errors import KBError

        if self.mode not in MODES:
            raise KBError("search.bad_mode", mode=self.mode)
        if self.fusion not in FUSIONS:
            raise KBError("search.bad_fusion", fusion=self.fusion)
        if not 1 <= self.k <= 100:
            raise KBError("search.bad_k", k=self.k)
        if not 0 <= self.mmr_lambda <= 1:
            raise KBError("search.bad_mmr_lambda", value=self.mmr_lambda)


# name -> (SearchOptions field, value that turns the mechanism off, what it does)
ABLATIONS: dict[str, tuple[str, Any, str]] = {
    "history": ("use_history", False, "a follow-up question is searched together with the previous turn"),
    "name_check": ("name_check", False, "decline when a Chinese question's Latin names occur in no chunk"),
    "answer_type": ("answer_type_boost", 0.0, "'which year / how many' questions lift chunks holding a number"),
}


def ablated(options: SearchOptions, names: Collection[str]) -> SearchOptions:
    """`options` with the named mechanisms turned off (an unknown name is an error, not a no-op)."""
    from .errors import KBError

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
    answer_type_match: bool = False  # holds what the question asks for (a year, a number); see answer_type()

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
    missing_names: tuple[str, ...] = ()  # Latin-script names in the question that no chunk contains
    gate_reason: str = ""  # why nothing passed the gate ("" when something did)
    answer_type: str | None = None  # "year" or "number" when the question asks for one

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


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_NAME_TERM = re.compile(r"[a-z][a-z0-9]*(?:[._\-][a-z0-9]+)*")


def name_terms(question: str) -> list[str]:
    """The Latin-script words of a mostly-Chinese question: in such a question they are names.

    Empty unless the question is mostly Chinese (4+ Han characters, at least two per Latin
    word): in an English question ordinary words would pass for names. Whole words only
    (`llama.cpp`, not also `llama` and `cpp`), 3 characters or more.
    """
    n_han = len(_HAN.findall(question))
    if n_han < 4 or n_han < 2 * len(_LATIN_WORD.findall(question)):
        return []
    names = [t for t in dict.fromkeys(tokenize(question)) if len(t) >= 3 and _NAME_TERM.fullmatch(t)]
    return [t for t in names if not any(t != o and t in re.split(r"[._\-]", o) for o in names)]


def names_unknown(names: Sequence[str], stats: dict[str, tuple[int, float]]) -> tuple[tuple[str, ...], bool]:
    """(names no chunk holds, whether they are at least half of the question's names)."""
    missing = tuple(n for n in names if stats.get(n, (0, 0.0))[0] == 0)
    return missing, bool(names) and 2 * len(missing) >= len(names)


def keyword_coverage(matched: Sequence[str], stats: dict[str, tuple[int, float]]) -> float:
    """Share of the query's idf mass (distinct terms) that `matched` holds, 0..1."""
    total = sum(idf for _, idf in stats.values())
    return sum(stats[t][1] for t in set(matched) if t in stats) / total if total > 0 else 0.0


def gate(dense: float | None, best: float | None, options: SearchOptions, names_missing: bool = False) -> bool:
    if dense is None or best is None or (options.name_check and names_missing):
        return False
    return dense >= options.threshold and dense >= best * options.relative_cutoff


def gate_reason(best: float | None, missing: Sequence[str], names_block: bool, options: SearchOptions,
                passed: bool) -> str:
    if passed:
        return ""
    if best is None:
        return "nothing was found"
    if options.name_check and names_block:
        return f"the knowledge base never mentions {', '.join(missing)}"
    return f"best dense similarity {best:.3f} is below the threshold {options.threshold:.2f}"


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


# ---------------------------------------------------------------- expected answer type

_ASKS_YEAR = re.compile(r"哪一年|哪年|什么时候|何时|哪个年代|年份|\bwhich year\b|\bwhen\b", re.I)
_ASKS_NUMBER = re.compile(r"多少|几(?!乎)[个种项步层次天位条类版倍]?|多大|多久|多长|多高|多远|概率|比例|百分之|"
                          r"\bhow (?:many|much|long|big)\b", re.I)
# A year as prose states one ("1950 年", "in 1950"), not any four digits (dates, versions, sizes).
_YEAR = re.compile(r"(?<!\d)(?:1[5-9]\d{2}|20\d{2})\s*年|\b(?:in|since|by|from)\s+(?:1[5-9]\d{2}|20\d{2})\b", re.I)
_NUMBER = re.compile(r"\d|[一二三四五六七八九十百千万亿两]+\s*[个种项步层次年天位条类倍%]")


def answer_type(question: str) -> str | None:
    """What a question asks for, when it is a year or a number (a classic QA signal: the answer
    must contain one, and paraphrased questions rarely share the answer's words)."""
    if _ASKS_YEAR.search(question):
        return "year"
    if _ASKS_NUMBER.search(question):
        return "number"
    return None


def holds_answer_type(text: str, kind: str | None) -> bool:
    if kind == "year":
        return bool(_YEAR.search(text))
    if kind == "number":
        return bool(_NUMBER.search(text))
    return False


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
        used_history = options.use_history and bool(history) and is_follow_up(query, history)
        text = expand_with_history(query, history) if used_history else query
        terms = query_terms(query, text, used_history)
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
        pool = list(dict.fromkeys([i for i, _ in dense_hits] + [h.id for h in bm25_hits]))
        dense_rank = {i: r for r, (i, _) in enumerate(dense_hits, start=1)}
        bm25_rank = {h.id: r for r, h in enumerate(bm25_hits, start=1)}
        # Exact scores of both kinds for the whole pool: a chunk one retriever missed still
        # gets its true score from the other one's point of view.
        keyword = {h.id: h for h in bm25_hits}
        missed = [i for i in pool if i not in keyword]
        if missed and terms:
            keyword.update(self.indexes.keyword_scores(terms, missed))
        vectors = self.indexes.vectors_for(pool) if pool else None
        dense_all = {i: float(s) for i, s in zip(pool, vectors @ qvec)} if vectors is not None else {}
        fused = fuse(options, pool, dense_hits, bm25_hits, dense_all, keyword)
        kind = answer_type(query)
        typed: set[int] = set()
        fetched: dict[int, Chunk] = {}
        if kind and fused:
            fetched = self.store.chunks_by_rowid(list(fused))
            typed = {i for i, c in fetched.items() if holds_answer_type(c.text, kind)}
            if options.mode == "hybrid" and options.fusion == "zscore" and options.answer_type_boost:
                fused = {i: v + (options.answer_type_boost if i in typed else 0.0) for i, v in fused.items()}
        order = sorted(fused, key=lambda i: (-fused[i], i))
        if options.mmr and vectors is not None and len(order) > options.k:
            row = {i: j for j, i in enumerate(pool)}
            picked = mmr_select(order, [fused[i] for i in order], vectors[[row[i] for i in order]], options.k,
                                options.mmr_lambda)
        else:
            picked = order[:options.k]
        timings["fuse"] = _ms(t)

        t = time.perf_counter()
        names = name_terms(query) if options.name_check else []
        stats = self.indexes.term_stats(list(dict.fromkeys([*terms, *names])))
        missing, names_block = names_unknown(names, stats)
        stats = {term: stats[term] for term in terms}  # coverage is over the searched terms
        best = max(dense_all.values()) if dense_all else None
        chunks = {i: fetched[i] for i in picked if i in fetched} if fetched else self.store.chunks_by_rowid(picked)
        results = []
        for rank, i in enumerate(picked, start=1):
            if i not in chunks:  # deleted by another writer between search and fetch
                continue
            hit = keyword.get(i)
            results.append(ScoredChunk(
                chunk=chunks[i], fused_score=float(fused[i]), fused_rank=rank,
                dense_score=dense_all.get(i), dense_rank=dense_rank.get(i),
                bm25_score=hit.score if hit else None, bm25_rank=bm25_rank.get(i),
                matched_terms=hit.matched if hit else (),
                passed=gate(dense_all.get(i), best, options, names_block),
                keyword_coverage=round(keyword_coverage(hit.matched if hit else (), stats), 4),
                answer_type_match=i in typed))
        timings["gate_fetch"] = _ms(t)
        passed = any(r.passed for r in results)
        return SearchResult(query, text, options, tuple(results), tuple(terms), best, used_history,
                            {k: round(v, 3) for k, v in timings.items()}, missing,
                            gate_reason(best, missing, names_block, options, passed), kind)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
