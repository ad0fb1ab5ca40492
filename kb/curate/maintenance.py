"""Maintenance that re-makes a knowledge base's contents: rebuild (another embedder or chunking, in place)
and the preparing and embedding that rebuild and repair share. Runs under the writer lock."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from kb.config import Settings
from kb.embedders import CachedEmbedder
from kb.factory import close_embedder
from kb.errors import EmbeddingError, IngestError, KnowledgeBaseNotFound
from kb.ingest.pipeline import Prepared, prepare, prepared_from_chunks
from kb.knowledge_base import EMBED_BATCH, IngestProgress, ProgressFn
from kb.store import Indexes, KBStore, Originals, Writer, write_manifest
from kb.store.curation import Curation, Edit
from kb.types import Document, FileResult, IngestReport


def rebuild(settings: Settings, name: str, folder: Path, cached: CachedEmbedder,
            progress: ProgressFn | None) -> IngestReport:
    if not (folder / "manifest.json").exists():
        close_embedder(cached)
        raise KnowledgeBaseNotFound("kb.not_found", name=name, folder=str(folder.parent))
    store = KBStore.open(folder, name)
    try:
        started = time.monotonic()
        rebuilder = Rebuilder(settings, name, cached, progress)
        with store.writer(rebuilder.waiting) as w:
            items, results = rebuilder.everything(w, Originals(folder))
            if any(r.status == "failed" for r in results):
                return IngestReport(name, tuple(results), round(time.monotonic() - started, 3))
            w.replace_all(items, cached.name, cached.dim, rebuilder.rows, rebuilder.edits)
            write_manifest(folder, name, store.uuid, cached.name, cached.dim, store.created_at)
            store.embedder_name, store.dim = cached.name, cached.dim
            Indexes(store, settings.index.approximate_above).persist(w)
        return IngestReport(name, tuple(results), round(time.monotonic() - started, 3))
    finally:
        store.close()
        close_embedder(cached)


class Rebuilder:
    """Prepares and embeds documents for rebuild and repair: from the original when it is there and
    intact, else from the stored chunks."""

    def __init__(self, settings: Settings, name: str, embedder: CachedEmbedder, progress: ProgressFn | None):
        self.settings = settings
        self.name = name
        self.embedder = embedder
        self.notify = progress or (lambda _p: None)
        self.rows: list[Curation] = []  # curation re-applied by `everything`, stored with the new contents
        self.edits: list[Edit] = []

    def waiting(self) -> None:
        self.notify(IngestProgress(0, 0, "", "waiting"))

    def embed(self, prepared: Prepared, i: int = 0, n: int = 1) -> np.ndarray:
        texts = prepared.embed_inputs
        parts = []
        for start in range(0, len(texts), EMBED_BATCH):
            self.notify(IngestProgress(i, n, prepared.document.file_name, "embedding", start, len(texts)))
            parts.append(self.embedder.embed_passages(texts[start:start + EMBED_BATCH]))
        return np.vstack(parts) if parts else np.zeros((0, self.embedder.dim), dtype=np.float32)

    def from_original(self, file_name: str, data: bytes, old: Document | None = None) -> Prepared:
        signature = f"v2/{self.settings.chunking.size}/{self.settings.chunking.overlap}/{self.settings.chunking.min_chars}"
        prepared = prepare(self.name, file_name, data, self.settings.chunking)
        prepared.document.metadata["chunker"] = signature
        return prepared

    def curated(self, w: Writer, file_name: str, data: bytes) -> tuple[Prepared, list[Curation], list[Edit]]:
        """`from_original` with the document's hand edits, disables and added chunks applied (kb/curate/chunks.py)."""
        from kb.curate.chunks import apply

        prepared = self.from_original(file_name, data)
        return apply(prepared, w.curation(prepared.document.doc_id))

    def everything(self, w: Writer, originals: Originals):
        items, results = [], []
        docs = w.documents()
        for i, doc in enumerate(docs):
            t0 = time.monotonic()
            self.notify(IngestProgress(i, len(docs), doc.file_name, "reading"))
            data = originals.read_intact(doc.file_hash, doc.file_name)
            try:
                if data is not None:
                    prepared, rows, edits = self.curated(w, doc.file_name, data)
                    status, warnings = "replaced", prepared.document.warnings
                else:  # the stored chunks already hold the edits, under their curated ids
                    prepared, rows, edits = prepared_from_chunks(doc, w.chunks(doc.doc_id)), w.curation(doc.doc_id), []
                    status, warnings = "kept", (*doc.warnings, missing_original_warning(doc))
                vectors = self.embed(prepared, i, len(docs))
            except (IngestError, EmbeddingError) as exc:
                results.append(FileResult.failed(doc.file_name, exc, doc.doc_id))
                continue
            items.append((prepared.document, prepared.chunks, vectors, prepared.terms))
            self.rows += rows
            self.edits += edits
            results.append(FileResult(doc.file_name, status, doc.doc_id, len(prepared.chunks), len(prepared.chunks),
                                      round(time.monotonic() - t0, 3), warnings=tuple(warnings)))
        return items, results


def missing_original_warning(doc: Document) -> str:
    from kb.messages import render

    return render("kb.original_missing_kept", {"file": doc.file_name})


