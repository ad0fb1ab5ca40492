"""`python -m kb migrate --kb K --to postgres`: copy a knowledge base from the embedded store into the
shared one, verified.

What is copied is the truth, not derived files: documents, chunks (row by row, disabled ones with their
vectors too), curation, the edit log, the personal question set and the stored originals. The vectors are
copied as they are (no re-embedding: the same embedder name goes with them), the keyword terms too.
Order: the source must pass its `check` (nothing is copied from a damaged one); the target must not
exist; everything goes in under the target's writer lock in one `replace_all` transaction, then the
originals; then the target's `check` and a row-by-row comparison (ids, content hashes, vectors). Any
failure after the target was created removes it again, so a migration leaves either a whole verified
copy or nothing.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from kb.config import Settings
from kb.errors import KBError, StoreError
from kb.types import CheckReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MigrateReport:
    name: str
    target: str  # where it went, password left out
    n_documents: int
    n_chunks: int
    n_originals: int
    check: CheckReport

    def to_dict(self) -> dict[str, Any]:
        return {"kb": self.name, "target": self.target, "documents": self.n_documents, "chunks": self.n_chunks,
                "originals": self.n_originals, "check": self.check.to_dict()}


def migrate_to_postgres(settings: Settings, name: str, url: str) -> MigrateReport:
    from kb.factory import kbs_dir
    from kb.store.integrity import check
    from kb.store.local import SQLiteBackend
    from kb.store.pg.backend import PGBackend
    from kb.store.pg.schema import shown_url

    source_backend = SQLiteBackend(kbs_dir(settings))
    if not source_backend.exists(name):
        raise source_backend.not_found(name)
    before = check(source_backend.folder(name), name)
    if not before.ok:
        raise KBError("pg.migrate_source_damaged", kb=name)
    source = source_backend.open(name, None, read_only=True)
    from pathlib import Path

    target_backend = PGBackend(url, Path(settings.data_dir) / "pg", settings.storage.pg_ef_search)
    try:
        if target_backend.exists(name):
            raise StoreError("pg.kb_exists", kb=name, url=shown_url(url))
        with source.read() as view:
            docs = view.documents()
            rows = view.chunk_rows()
            curation = view.curation()
            edits = list(reversed(view.edits(limit=10 ** 9)))  # oldest first, as they were logged
            questions = view.questions()
            vec_ids, vecs = view.every_vector()
            term_ids, terms = view.every_terms()
        vec_of = dict(zip(vec_ids.tolist(), vecs))
        terms_of = dict(zip(term_ids, terms))
        by_doc: dict[str, list[tuple[int, Any]]] = {}
        for rowid, chunk in rows:
            by_doc.setdefault(chunk.doc_id, []).append((rowid, chunk))
        items = []
        for doc in docs:
            mine = sorted(by_doc.get(doc.doc_id, []), key=lambda rc: rc[1].position)
            matrix = (np.stack([vec_of[r] for r, _ in mine]) if mine
                      else np.zeros((0, source.dim), dtype=np.float32))
            items.append((doc, [c for _, c in mine], matrix, [terms_of[r] for r, _ in mine]))
        target = target_backend.create(name, source.embedder_name, source.dim)
    except BaseException:
        source.close()
        raise
    try:
        with target.writer() as w:
            w.replace_all(items, source.embedder_name, source.dim, curation, edits)
            for q in questions:
                w.add_question(q["question"], q["chunk_id"], q["file_name"], q.get("evidence", ""))
        n_originals = _copy_originals(source, target, docs)
        report = target_backend.check(name, target)
        _compare(name, items, target)
        if not report.ok:
            raise StoreError("pg.migrate_mismatch", kb=name, what=report.problems[0].message("en"))
    except BaseException:
        target.close()
        source.close()
        log.warning("migrate failed kb=%s: removing the incomplete copy", name)
        target_backend.remove(name)
        raise
    target.close()
    source.close()
    log.info("migrated kb=%s to=%s docs=%d chunks=%d", name, shown_url(url), len(docs), len(rows))
    return MigrateReport(name, shown_url(url), len(docs), len(rows), n_originals, report)


def _copy_originals(source, target, docs) -> int:
    src, dst = source.originals(), target.originals()
    n = 0
    for doc in docs:
        data = src.read_intact(doc.file_hash, doc.file_name)
        if data is not None:  # a missing original stays missing: the source's check already said so
            dst.keep(doc.file_hash, doc.file_name, data)
            n += 1
    return n


def _compare(name: str, items, target) -> None:
    """Row by row: the same chunk ids in the same order, the same content hashes, the same vectors."""
    with target.read() as view:
        got = {c.id: (r, c) for r, c in view.chunk_rows()}
        want = [c for _, chunks, _, _ in items for c in chunks]
        if sorted(got) != sorted(c.id for c in want):
            raise StoreError("pg.migrate_mismatch", kb=name, what="chunk ids")
        if any(got[c.id][1].content_hash != c.content_hash for c in want):
            raise StoreError("pg.migrate_mismatch", kb=name, what="content hashes")
        ids, mat = view.vectors([got[c.id][0] for c in want])
    enabled = {int(i): v for i, v in zip(ids.tolist(), mat)}
    for _, chunks, vectors, _ in items:
        for c, v in zip(chunks, vectors):
            r = got[c.id][0]
            if r in enabled and not np.allclose(enabled[r], v, atol=1e-6):
                raise StoreError("pg.migrate_mismatch", kb=name, what=f"vector of {c.id}")


__all__ = ["MigrateReport", "migrate_to_postgres"]
