"""What changed in a knowledge base lately: documents added, replaced and removed, chunks curated.

Every document commit writes a line to the `activity` table in the same transaction (kb/store/
curation.py), so the digest is exact and needs nothing but the database. A new document gets a short
summary from the model when Ollama answers, and otherwise its first heading (or first line): the
digest is useful without a model, and never waits long for one (a single short request, its errors
caught and reported as "no summary").
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from kb.errors import KBError

if TYPE_CHECKING:
    from kb.knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)
_SINCE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class DigestEntry:
    action: str  # added | replaced | removed
    file_name: str
    at: str
    n_chunks: int
    summary: str = ""
    summary_from: str = ""  # model | heading | ""


@dataclass(frozen=True)
class Digest:
    kb: str
    since: str
    entries: tuple[DigestEntry, ...]
    n_edits: int
    model_used: bool
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"kb": self.kb, "since": self.since, "n_edits": self.n_edits, "model_used": self.model_used,
                "entries": [e.__dict__ for e in self.entries], "notes": list(self.notes)}


def parse_since(text: str) -> str:
    """`24h`, `30m`, `7d`, `2w` → the ISO time that long ago."""
    m = _SINCE.match(text or "")
    if not m:
        raise KBError("digest.since_invalid", value=str(text)[:40])
    delta = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    return (datetime.now(timezone.utc) - delta).isoformat(timespec="seconds")


def digest(kb: "KnowledgeBase", since: str = "24h", use_model: bool = True) -> Digest:
    start = parse_since(since)
    with kb.store.read() as view:
        events = view.activity(start)
        n_edits = len(view.edits(start))
        current = {d.file_name: d for d in view.documents()}
        first: dict[str, str] = {}
        for name in {e["file_name"] for e in events if e["action"] != "removed"}:
            doc = current.get(name)
            if doc is not None:
                chunks = view.chunks(doc.doc_id)
                first[name] = _first_heading(chunks)
    last: dict[str, dict[str, Any]] = {}
    for e in events:  # one line per document: its latest event
        last[e["file_name"]] = e
    entries = []
    model_ok = use_model
    notes: list[str] = []
    for name, e in last.items():
        summary, source = "", ""
        if e["action"] != "removed" and name in current:
            if model_ok:
                summary = _model_summary(kb, name)
                if summary:
                    source = "model"
                else:
                    model_ok = False  # Ollama is not answering: do not try again for each document
                    notes.append("digest.no_model")
            if not summary:
                summary, source = first.get(name, ""), "heading"
        entries.append(DigestEntry(e["action"], name, e["at"], e["n_chunks"], summary, source))
    return Digest(kb.name, start, tuple(entries), n_edits, model_ok and any(x.summary_from == "model" for x in entries),
                  tuple(notes))


def _first_heading(chunks) -> str:
    for c in chunks:
        if c.heading_path:
            return c.heading_path[0]
    return chunks[0].text.strip().splitlines()[0][:120] if chunks else ""


def _model_summary(kb: "KnowledgeBase", file_name: str) -> str:
    import httpx
    import ollama

    from kb.errors import OllamaError

    text = "\n".join(c.text for c in kb.chunks(file_name))[:3000]
    try:
        from langchain_core.messages import HumanMessage

        from kb.factory import build_chat_model

        reply = build_chat_model(kb.settings).invoke([HumanMessage(
            content=f"用一两句话概括下面这份文档的要点（不超过 80 字）：\n\n{text}")])
        return str(reply.content).strip()[:400]
    except (OllamaError, ollama.ResponseError, httpx.HTTPError, OSError) as exc:
        log.info("digest without model summary kb=%s reason=%s: %s", kb.name, type(exc).__name__, exc)
        return ""
