"""Curating chunks by hand: edit, disable, enable, add, and keeping all of it when chunks are re-made.

Each verb is one write under the knowledge base's writer (kb/store/__init__.py): the new text is
embedded, then one transaction changes the chunk row, its vector and keyword terms, its curation row
and the edit log, and records the row id in the changelog so every reader's index snapshot follows.

`apply` is what makes curation survive re-chunking (re-ingest of a changed file, reindex, rebuild,
repair): the fresh chunks of a document are matched to the curation rows by the hash of the text
the chunker made (`orig_hash`), the edit and the disabled flag are carried over under the same chunk
id, and hand-written chunks are appended. An edited chunk whose original text is gone from the new
file is kept as written and flagged for review (never dropped, never silently kept); a disable of a
chunk whose text is gone has nothing left to apply to and is logged as dropped.
"""
from __future__ import annotations

import dataclasses
import hashlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from kb.errors import KBError
from kb.ingest.pipeline import Prepared, embed_input, prepared_from_chunks
from kb.store.curation import Curation, Edit
from kb.search.textproc import tokenize
from kb.types import Chunk

if TYPE_CHECKING:
    from kb.knowledge_base import KnowledgeBase
    from kb.store import ReadView, Writer

MAX_TEXT = 20_000  # characters of one hand-written chunk; more is a document, not a chunk


@dataclass(frozen=True)
class ChunkState:
    """A chunk as the Chunks page shows it: the chunk and what was done to it by hand."""

    chunk: Chunk
    disabled: bool = False
    edited: bool = False
    manual: bool = False
    review: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**self.chunk.to_dict(), "disabled": self.disabled, "edited": self.edited, "manual": self.manual,
                "review": self.review}


def states(view: "ReadView | Writer", doc_id: str | None = None) -> list[ChunkState]:
    rows = {r.chunk_id: r for r in view.curation(doc_id)}
    out = []
    for chunk in view.chunks(doc_id):
        r = rows.get(chunk.id)
        out.append(ChunkState(chunk) if r is None else
                   ChunkState(chunk, r.disabled, r.edited, r.manual, r.review))
    return out


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _clean_text(kb: str, text: str | None) -> str:
    if text is None or not text.strip():
        raise KBError("curate.text_empty", kb=kb)
    if len(text) > MAX_TEXT:
        raise KBError("curate.text_too_long", kb=kb, chars=len(text), limit=MAX_TEXT)
    return text.strip()


def _find(kb: "KnowledgeBase", w: "Writer", chunk_id: str) -> tuple[int, Chunk, Curation]:
    found = w.chunk_row((chunk_id or "").strip())
    if found is None:
        raise KBError("curate.chunk_not_found", kb=kb.name, id=chunk_id)
    rowid, chunk = found
    rows = {r.chunk_id: r for r in w.curation(chunk.doc_id)}
    row = rows.get(chunk.id) or Curation(chunk.id, chunk.doc_id, chunk.content_hash, chunk.position, None,
                                         chunk.heading_path)
    return rowid, chunk, row


def _embed(kb: "KnowledgeBase", chunk: Chunk) -> tuple[Any, list[str]]:
    text = embed_input(chunk)
    return kb.embedder.embed_passages([text])[0], tokenize(text)


def edit(kb: "KnowledgeBase", chunk_id: str, text: str) -> ChunkState:
    text = _clean_text(kb.name, text)
    with kb._writer() as w:
        rowid, chunk, row = _find(kb, w, chunk_id)
        if text == chunk.text:
            raise KBError("curate.text_unchanged", kb=kb.name, id=chunk.id)
        new = dataclasses.replace(chunk, text=text, content_hash=_digest(text))
        vector, terms = _embed(kb, new)
        row = dataclasses.replace(row, text=text, review=False)
        w.edit_chunk(rowid, text, new.content_hash, vector, terms, row,
                     Edit("edit", chunk.id, chunk.doc_id, chunk.file_name, chunk.text, text))
        kb._persist(w)
        return ChunkState(new, row.disabled, row.edited, row.manual, row.review)


def set_disabled(kb: "KnowledgeBase", chunk_id: str, disabled: bool) -> ChunkState:
    with kb._writer() as w:
        rowid, chunk, row = _find(kb, w, chunk_id)
        if row.disabled != disabled:
            row = dataclasses.replace(row, disabled=disabled)
            w.set_curation(rowid, row, Edit("disable" if disabled else "enable", chunk.id, chunk.doc_id,
                                            chunk.file_name))
            kb._persist(w)
        return ChunkState(chunk, row.disabled, row.edited, row.manual, row.review)


def add(kb: "KnowledgeBase", document: str, text: str) -> ChunkState:
    text = _clean_text(kb.name, text)
    with kb._writer() as w:
        doc = kb._require(w, document)
        position = max((c.position for c in w.chunks(doc.doc_id)), default=-1) + 1
        chunk_id = hashlib.sha256(f"{doc.doc_id}/manual/{uuid.uuid4().hex}".encode()).hexdigest()[:20]
        chunk = Chunk(id=chunk_id, kb=kb.name, doc_id=doc.doc_id, file_name=doc.file_name, position=position,
                      text=text, content_hash=_digest(text))
        vector, terms = _embed(kb, chunk)
        row = Curation(chunk_id, doc.doc_id, None, position, text)
        w.add_chunk(chunk, vector, terms, row, Edit("add", chunk_id, doc.doc_id, doc.file_name, None, text))
        kb._persist(w)
        return ChunkState(chunk, manual=True)


def apply(prepared: Prepared, rows: Sequence[Curation]) -> tuple[Prepared, list[Curation], list[Edit]]:
    """The curation rows applied to a freshly prepared document: (prepared, the rows to store, log lines).

    Without rows the prepared document is returned as it is (no extra work on the common path)."""
    if not rows:
        return prepared, [], []
    doc = prepared.document
    chunks = list(prepared.chunks)
    by_hash: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        by_hash.setdefault(c.content_hash, []).append(i)
    used: set[int] = set()
    kept: list[Curation] = []
    extra: list[Curation] = []
    log: list[Edit] = []
    for row in sorted(rows, key=lambda r: r.position):
        free = [i for i in by_hash.get(row.orig_hash or "", []) if i not in used]
        if not row.manual and free:
            i = min(free, key=lambda j: abs(chunks[j].position - row.position))
            used.add(i)
            c = chunks[i]
            text = row.text if row.text is not None else c.text
            chunks[i] = dataclasses.replace(c, id=row.chunk_id, text=text, content_hash=_digest(text))
            kept.append(dataclasses.replace(row, position=c.position, heading_path=c.heading_path))
        elif row.manual or row.text is not None:
            if not row.manual and not row.review:
                log.append(Edit("review", row.chunk_id, doc.doc_id, doc.file_name, None, row.text))
            extra.append(row if row.manual else dataclasses.replace(row, review=True))
        else:
            log.append(Edit("dropped", row.chunk_id, doc.doc_id, doc.file_name))
    # ids of fresh chunks must not collide with an id a curation row keeps elsewhere
    taken = {r.chunk_id for r in (*kept, *extra)}
    for i, c in enumerate(chunks):
        if i not in used and c.id in taken:
            chunks[i] = dataclasses.replace(c, id=hashlib.sha256(f"{c.id}/moved".encode()).hexdigest()[:20])
    for row in extra:
        position = len(chunks)
        chunks.append(Chunk(id=row.chunk_id, kb=doc.kb, doc_id=doc.doc_id, file_name=doc.file_name,
                            position=position, text=row.text or "", content_hash=_digest(row.text or ""),
                            heading_path=row.heading_path))
        kept.append(dataclasses.replace(row, position=position))
    warnings = doc.warnings
    n_review = sum(1 for r in kept if r.review)
    if n_review:
        from kb.messages import render

        warnings = (*warnings, render("curate.review_needed", {"file": doc.file_name, "n": n_review}))
    document = dataclasses.replace(doc, n_chunks=len(chunks), warnings=tuple(warnings))
    return prepared_from_chunks(document, chunks), kept, log
