"""The knowledge base's own question set, grown while debugging retrieval.

"This is the right chunk" on a search result stores the question with that chunk's text as evidence
(`mark_relevant`), in the knowledge base's database: it travels with exports, and it is the user's
questions, not a benchmark's. `items()` hands them to kb/search/evaluate.py as ordinary eval items, so
`python -m kb eval --kb K` without a file scores hit@k / MRR on them after any setting change.

Evidence is a prefix of the chunk's text (whitespace-insensitive containment is what evaluate
matches on), so the item still counts as found after a re-chunking that keeps that passage whole.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.errors import KBError

if TYPE_CHECKING:
    from kb.search.evaluate import EvalItem
    from kb.knowledge_base import KnowledgeBase

EVIDENCE_CHARS = 120


def mark_relevant(kb: "KnowledgeBase", question: str, chunk_id: str) -> bool:
    """Add (question, chunk) to the personal set; False when that pair was already there."""
    question = (question or "").strip()
    if not question:
        raise KBError("kb.question_empty")
    with kb._writer() as w:
        found = w.chunk_row((chunk_id or "").strip())
        if found is None:
            raise KBError("curate.chunk_not_found", kb=kb.name, id=chunk_id)
        chunk = found[1]
        added = w.add_question(question, chunk.id, chunk.file_name, " ".join(chunk.text.split())[:EVIDENCE_CHARS])
        kb._persist(w)
    return added


def questions(kb: "KnowledgeBase") -> list[dict[str, Any]]:
    with kb.store.read() as view:
        return view.questions()


def items(kb: "KnowledgeBase") -> list["EvalItem"]:
    from kb.search.evaluate import EvalItem

    return [EvalItem(f"q{q['id']}", q["question"], (q["evidence"],), "personal", (), q["file_name"])
            for q in questions(kb)]


def write_jsonl(kb: "KnowledgeBase") -> Path:
    """The personal set as a JSONL question set in a temporary file (what `eval` reads)."""
    rows = questions(kb)
    if not rows:
        raise KBError("eval.personal_empty", kb=kb.name)
    fh = tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".jsonl", prefix=f"kb-{kb.name}-questions-",
                                     delete=False)
    with fh:
        for q in rows:
            fh.write(json.dumps({"id": f"q{q['id']}", "question": q["question"], "evidence": [q["evidence"]],
                                 "source": q["file_name"], "kind": "personal"}, ensure_ascii=False) + "\n")
    return Path(fh.name)
