"""A second retrieval stage in which the Ollama model helps: both parts off unless turned on.

* **rewrite** (`[retrieval] llm_rewrite`): before searching, the model turns the question into up to
  three search queries in the words a document might use. The question and each query are searched
  with the same options (in one read view: one generation); the lists are fused by reciprocal rank
  (the question weighs as much as all rewrites together), so a rewrite can add what the question's
  own words miss but cannot push out what they found on its own.
* **rerank** (`[retrieval] llm_rerank`): the first stage returns `llm_rerank_top` candidates, the model
  orders them (listwise, one call), and the top k of that order is the answer. A candidate's scores
  stay the first stage's; `first_stage_rank` shows where it was.

The docs-only gate is always the first stage's, on the question itself: a rewrite cannot make an
off-topic question pass, and a declined question is not sent to be reranked.

Time: one budget (`llm_budget` seconds) covers every model call of a search; each call gets what is
left of it as its deadline. Ollama absent, an error, a reply that cannot be used, or the budget spent:
the stage reports why (`StageReport.code`) and the first stage's results stand. Nothing is retried.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol, Sequence

from kb.errors import KBError
from kb.messages import render

RRF_K = 60


class Stages(Protocol):
    """What the model is asked (kb/llm/stages.py LLMStages)."""

    def rewrite(self, question: str, previous: str, seconds: float) -> list[str]: ...
    def rerank(self, question: str, passages: Sequence[str], seconds: float) -> list[int]: ...


@dataclass(frozen=True)
class StageReport:
    stage: str  # "rewrite" | "rerank"
    applied: bool
    ms: float
    code: str = ""  # kb.messages code of why it was not applied ("" when applied)
    params: dict[str, Any] = field(default_factory=dict)
    queries: tuple[str, ...] = ()  # rewrite: the model's queries
    moved: int = 0  # rerank: results of the top k that the model put elsewhere than the first stage

    def message(self, lang: str | None = None) -> str:
        return render(self.code, self.params, lang) if self.code else ""

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "applied": self.applied, "ms": round(self.ms, 1), "code": self.code,
                "params": self.params, "message": self.message("en"), "queries": list(self.queries),
                "moved": self.moved}


Search = Callable[[Sequence[tuple[str, Any, Sequence[dict[str, str]]]]], list[Any]]


def previous_turn(history: Sequence[dict[str, str]]) -> str:
    """The last user turn before this question (what a follow-up refers to), cut short."""
    users = [m.get("content", "") for m in history if m.get("role") == "user"]
    return users[-1][:200] if users else ""


def rrf_merge(results: Sequence[Any]) -> list[Any]:
    """The results of the question (first) and its rewrites, fused by reciprocal rank: the question
    weighs 1, the rewrites 1 together. Each chunk keeps the ScoredChunk of the first list that has it,
    its fused_score becomes the RRF score; ranks are renumbered."""
    weights = [1.0] + [1.0 / (len(results) - 1)] * (len(results) - 1) if len(results) > 1 else [1.0]
    score: dict[str, float] = {}
    first: dict[str, Any] = {}
    for weight, result in zip(weights, results):
        for rank, r in enumerate(result.results, start=1):
            cid = r.chunk.id
            score[cid] = score.get(cid, 0.0) + weight / (RRF_K + rank)
            first.setdefault(cid, r)
    order = sorted(score, key=lambda c: (-score[c], c))
    question_passed = results[0].gate_passed
    return [replace(first[c], fused_score=score[c], fused_rank=n, passed=first[c].passed and question_passed)
            for n, c in enumerate(order, start=1)]


def two_stage_search(question: str, options: Any, history: Sequence[dict[str, str]], search: Search,
                     stages: Stages, clock: Callable[[], float] = time.monotonic) -> Any:
    """The first stage via `search` (a list of (query, options, history) searched in one read view),
    with the model's rewrite and rerank as `options` asks; a SearchResult with `stages` filled in."""
    start = clock()
    budget = float(options.llm_budget)
    reports: list[StageReport] = []

    def left() -> float:
        return budget - (clock() - start)

    queries: list[str] = []
    if options.llm_rewrite:
        queries = _stage(reports, "rewrite", clock, left, budget,
                         lambda s: stages.rewrite(question, previous_turn(history), s)) or []
    width = max(options.k, options.llm_rerank_top) if options.llm_rerank else options.k
    first_options = replace(options, k=min(100, width))
    asked = [(question, first_options, history)] + [(q, replace(first_options, use_history=False), ())
                                                     for q in queries]
    found = search(asked)
    base = found[0]
    merged = rrf_merge(found) if len(found) > 1 else list(base.results)
    if options.llm_rerank and len(merged) > 1:
        if not base.gate_passed:
            reports.append(StageReport("rerank", False, 0.0, "stage.rerank.declined"))
        else:
            order = _stage(reports, "rerank", clock, left, budget,
                           lambda s: stages.rerank(question, [r.chunk.text for r in merged], s))
            if order is not None:
                reranked = [replace(merged[i], fused_rank=n, first_stage_rank=merged[i].fused_rank)
                            for n, i in enumerate(order, start=1)]
                moved = sum(1 for r in reranked[:options.k] if r.first_stage_rank != r.fused_rank)
                reports[-1] = replace(reports[-1], moved=moved)
                merged = reranked
    timings = dict(base.timings_ms)
    for r in reports:
        timings[f"llm_{r.stage}"] = round(r.ms, 3)
    return replace(base, options=options, results=tuple(merged[:options.k]), stages=tuple(reports),
                   timings_ms=timings)


def _stage(reports: list[StageReport], name: str, clock: Callable[[], float], left: Callable[[], float],
           budget: float, call: Callable[[float], Any]) -> Any:
    """Run one model call with the time left; record what happened; None when it gave nothing."""
    t = clock()
    if left() <= 0:
        reports.append(StageReport(name, False, 0.0, f"stage.{name}.no_time", {"budget": budget}))
        return None
    try:
        value = call(left())
    except KBError as exc:
        code = exc.code if exc.code.startswith(f"stage.{name}.") else f"stage.{name}.failed"
        params = exc.params if code == exc.code else {"error": exc.message()}
        reports.append(StageReport(name, False, (clock() - t) * 1000, code, dict(params)))
        return None
    ms = (clock() - t) * 1000
    if left() < 0:  # answered, but after the deadline (a clock that jumps): not used, said so
        reports.append(StageReport(name, False, ms, f"stage.{name}.no_time", {"budget": budget}))
        return None
    reports.append(StageReport(name, True, ms, queries=tuple(value) if name == "rewrite" else ()))
    return value
