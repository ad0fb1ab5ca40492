"""Retrieval evaluation over a JSONL question set (format and scoring rule: shared/eval/README.md).

An answerable item is a hit@k when any of the top-k chunk texts contains any evidence string
after removing all whitespace from both. Multi-turn items are searched with their history.
Unanswerable items (no evidence) are scored apart: the docs-only gate should decline them.
"""
from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from kb.errors import KBError

_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    evidence: tuple[str, ...]
    kind: str
    history: tuple[dict[str, str], ...] = ()
    source: str | None = None

    @property
    def answerable(self) -> bool:
        return bool(self.evidence)


@dataclass
class EvalReport:
    n_answerable: int
    hit_at: dict[int, float]
    mrr_at_10: float
    hit5_by_kind: dict[str, float]
    missed_at_5: list[str]
    declined_unanswerable: int
    n_unanswerable: int
    wrongly_declined: list[str]
    mean_chunk_chars: float
    mean_result_chars: float
    ranks: dict[str, int | None] = field(default_factory=dict)
    max_chunk_chars: int = 0  # with the heading path: what five results can cost in the prompt
    gate_reasons: dict[str, str] = field(default_factory=dict)  # why the gate declined, per item ("" = passed)

    @property
    def declined_share(self) -> float:
        """Share of unanswerable items the docs-only gate declined (1.0 when there are none)."""
        return self.declined_unanswerable / self.n_unanswerable if self.n_unanswerable else 1.0

    @property
    def wrongly_declined_share(self) -> float:
        return len(self.wrongly_declined) / self.n_answerable if self.n_answerable else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"n_answerable": self.n_answerable, "hit@1": self.hit_at[1], "hit@3": self.hit_at[3],
                "hit@5": self.hit_at[5], "mrr@10": self.mrr_at_10, "hit@5_by_kind": self.hit5_by_kind,
                "missed@5": self.missed_at_5, "declined_unanswerable": self.declined_unanswerable,
                "n_unanswerable": self.n_unanswerable, "wrongly_declined": self.wrongly_declined,
                "mean_chunk_chars": self.mean_chunk_chars, "mean_result_chars": self.mean_result_chars,
                "max_chunk_chars": self.max_chunk_chars, "ranks": self.ranks,
                "declined_share": round(self.declined_share, 4),
                "wrongly_declined_share": round(self.wrongly_declined_share, 4),
                "gate_reasons": {k: v for k, v in self.gate_reasons.items() if v}}


def load_items(path: Path) -> list[EvalItem]:
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise KBError("eval.unreadable", path=str(path), reason=exc.strerror or str(exc)) from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            items.append(EvalItem(str(d["id"]), d["question"], tuple(d.get("evidence") or ()), d.get("kind", ""),
                                  tuple(d.get("history") or ()), d.get("source")))
        except (ValueError, KeyError, TypeError) as exc:
            raise KBError("eval.bad_item", path=str(path), line=n, reason=str(exc)) from exc
    return items


def first_hit_rank(texts: Sequence[str], evidence: Sequence[str]) -> int | None:
    """1-based rank of the first text containing any evidence string, whitespace ignored."""
    wanted = [_WS.sub("", e) for e in evidence]
    for rank, text in enumerate(texts, start=1):
        flat = _WS.sub("", text)
        if any(w and w in flat for w in wanted):
            return rank
    return None


def evaluate(kb: Any, items: Sequence[EvalItem], mode: str | None = None, k: int = 10,
             ablate: Sequence[str] = ()) -> EvalReport:
    """Score `kb` on `items`; `ablate` names mechanisms to turn off (see kb.search.retrieval.ABLATIONS)."""
    from kb.search.retrieval import ablated

    options = ablated(kb.search_options(mode=mode, k=max(k, 10)), ablate)
    ranks: dict[str, int | None] = {}
    declined: dict[str, bool] = {}
    gate_reasons: dict[str, str] = {}
    result_chars: list[int] = []
    for item in items:
        result = kb.search(item.question, options=options, history=list(item.history))
        gate_reasons[item.id] = result.gate_reason
        texts = [r.chunk.text for r in result.results]
        result_chars += [len(t) for t in texts[:5]]
        declined[item.id] = not result.gate_passed
        if item.answerable:
            ranks[item.id] = first_hit_rank(texts[:10], item.evidence)
    answerable = [i for i in items if i.answerable]
    n = max(len(answerable), 1)

    def hit(item: EvalItem, at: int) -> bool:
        r = ranks[item.id]
        return r is not None and r <= at

    by_kind: dict[str, list[bool]] = {}
    for item in answerable:
        by_kind.setdefault(item.kind, []).append(hit(item, 5))
    chunks = kb.chunks()
    return EvalReport(
        n_answerable=len(answerable),
        hit_at={at: round(sum(hit(i, at) for i in answerable) / n, 4) for at in (1, 3, 5, 10)},
        mrr_at_10=round(sum(1 / ranks[i.id] for i in answerable if ranks[i.id]) / n, 4),
        hit5_by_kind={kind: round(sum(v) / len(v), 4) for kind, v in sorted(by_kind.items())},
        missed_at_5=[i.id for i in answerable if not hit(i, 5)],
        declined_unanswerable=sum(declined[i.id] for i in items if not i.answerable),
        n_unanswerable=sum(1 for i in items if not i.answerable),
        wrongly_declined=[i.id for i in answerable if declined[i.id]],
        mean_chunk_chars=round(statistics.mean(len(c.text) for c in chunks), 1) if chunks else 0.0,
        mean_result_chars=round(statistics.mean(result_chars), 1) if result_chars else 0.0,
        ranks=ranks,
        max_chunk_chars=max((len(c.text) + len(c.heading) for c in chunks), default=0),
        gate_reasons=gate_reasons,
    )


def format_report(r: EvalReport, docs_only: bool = False) -> str:
    lines = [f"answerable items: {r.n_answerable}",
             f"hit@1 {r.hit_at[1]:.3f}  hit@3 {r.hit_at[3]:.3f}  hit@5 {r.hit_at[5]:.3f}  MRR@10 {r.mrr_at_10:.3f}",
             "hit@5 by kind: " + ", ".join(f"{k} {v:.2f}" for k, v in r.hit5_by_kind.items()),
             f"missed@5: {' '.join(r.missed_at_5) or '-'}",
             f"mean chunk length: {r.mean_chunk_chars:.0f} chars, longest {r.max_chunk_chars} with its heading "
             f"(top-5 results: {r.mean_result_chars:.0f})"]
    if docs_only:
        lines.append(f"docs-only gate: declined {r.declined_unanswerable} of {r.n_unanswerable} unanswerable; "
                     f"wrongly declined {len(r.wrongly_declined)} of {r.n_answerable} answerable "
                     f"({' '.join(r.wrongly_declined) or '-'})")
    return "\n".join(lines)


# ---------------------------------------------------------------- several sets at once

@dataclass(frozen=True)
class EvalSpec:
    """One question set and the knowledge base it is asked of: `questions.jsonl:KB`."""

    path: Path
    kb: str

    @staticmethod
    def parse(text: str, default_kb: str | None) -> "EvalSpec":
        path, sep, kb = text.rpartition(":")
        if not sep or not path or "/" in kb or not kb:
            path, kb = text, default_kb or ""
        if not kb:
            raise KBError("eval.no_kb", spec=text)
        return EvalSpec(Path(path), kb)

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.kb}"


_MEAN_KEYS = ("hit@1", "hit@3", "hit@5", "mrr@10", "declined_share", "wrongly_declined_share", "mean_result_chars")


def mean_of(reports: Sequence[EvalReport]) -> dict[str, float]:
    """The unweighted mean of each headline figure over the sets (each set counts once)."""
    dicts = [r.to_dict() for r in reports]
    return {key: round(statistics.mean(d[key] for d in dicts), 4) for key in _MEAN_KEYS} if dicts else {}


def format_table(labels: Sequence[str], reports: Sequence[EvalReport]) -> str:
    """One line a set, then the mean: what `kb eval A:KB_A B:KB_B` prints."""
    head = f"{'set':<28} {'hit@1':>6} {'hit@3':>6} {'hit@5':>6} {'MRR@10':>7} {'declined':>9} {'wrongly':>8} {'top5len':>8}"
    lines = [head]
    for label, r in zip(labels, reports):
        lines.append(f"{label[:28]:<28} {r.hit_at[1]:>6.3f} {r.hit_at[3]:>6.3f} {r.hit_at[5]:>6.3f} "
                     f"{r.mrr_at_10:>7.3f} {f'{r.declined_unanswerable}/{r.n_unanswerable}':>9} "
                     f"{f'{len(r.wrongly_declined)}/{r.n_answerable}':>8} {r.mean_result_chars:>8.0f}")
    if len(reports) > 1:
        m = mean_of(reports)
        lines.append(f"{'mean':<28} {m['hit@1']:>6.3f} {m['hit@3']:>6.3f} {m['hit@5']:>6.3f} {m['mrr@10']:>7.3f} "
                     f"{m['declined_share']:>9.2f} {m['wrongly_declined_share']:>8.3f} {m['mean_result_chars']:>8.0f}")
    for label, r in zip(labels, reports):
        lines.append(f"{label}: missed@5 {' '.join(r.missed_at_5) or '-'}; wrongly declined "
                     f"{' '.join(r.wrongly_declined) or '-'}; by kind " +
                     ", ".join(f"{k} {v:.2f}" for k, v in r.hit5_by_kind.items()))
    return "\n".join(lines)
