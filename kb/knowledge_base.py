"""The facade: a knowledge base with the verbs a user would say. Pages and the CLI both call this.

Every write goes through the store's writer (one writer per knowledge base, across threads and
processes) and every read through a read view plus the index snapshot of the same generation; the
model is written down in kb/store/__init__.py.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from kb.config import Settings, normalise_kb_name
from kb.embedders import CachedEmbedder, Embedder
from kb.errors import EmbedderMismatch, EmbeddingError, IngestError, KBError, KnowledgeBaseNotFound, StoreError
from kb.factory import build_cached_embedder, close_embedder, embedder_id, kbs_dir
from kb.ingest.pipeline import Prepared, Source, check_source, file_hash, prepare
from kb.search.retrieval import Retriever, SearchOptions, SearchResult
from kb.curate import chunks as curate
from kb.store import Indexes, KBStore, Originals, ReadView, Writer, read_manifest
from kb.store.curation import Curation, Edit
from kb.types import CheckReport, Chunk, Document, FileResult, IngestReport, KBInfo, OcrMark, RepairReport

if TYPE_CHECKING:
    from kb.ingest.formats.thumbnails import ThumbnailCache
    from kb.search.retrieval import Explanation
    from kb.ingest.loaders import OcrControl
    from kb.curate.archive import ExportReport, ImportReport
    from kb.curate.digest import Digest
    from kb.curate.sync import SyncReport, WatchRound
    from kb.llm.chat import Answer, ChatEvent, ChatService, PromptPreview, Turn
    from kb.llm.fit import FitReport
    from kb.llm.ollama import OllamaStatus, RunningModel, SetupProgress
    from kb.llm.sessions import SessionInfo

log = logging.getLogger(__name__)

EMBED_BATCH = 64


@dataclass(frozen=True)
class IngestProgress:
    """Reported while ingesting: which file, which stage, and how far into it."""

    file_index: int  # 0-based
    n_files: int
    file_name: str
    stage: str  # waiting (for another writer) | reading | ocr | embedding | saving | done
    done: int = 0  # ocr: pages read so far of `total` pages without a text layer; embedding: chunks
    total: int = 0


ProgressFn = Callable[[IngestProgress], None]


def kb_name(name: str) -> str:
    """The knowledge base's name as it is stored (NFKC, checked), or KBError("kb.name_invalid")."""
    return normalise_kb_name(name)


class KnowledgeBase:
    """One named knowledge base: ingest, inspect, search, delete, check, repair. Thread-safe."""

    def __init__(self, settings: Settings, name: str, store: KBStore, indexes: Indexes, embedder: CachedEmbedder):
        self.settings = settings
        self.name = name
        self.store = store
        self.indexes = indexes
        self.embedder = embedder
        self.originals = store.originals()  # files under the folder (sqlite) or bytea rows (postgres)
        self._chat: ChatService | None = None
        self._chat_lock = threading.Lock()
        self._ctx_cache: tuple[int | None, float] | None = None
        self._ctx_refresh: threading.Thread | None = None
        self.background_ollama = False
        self._thumbnails: "ThumbnailCache | None" = None
        self._stages: Any = None  # kb/llm/stages.py LLMStages, built on the first search that asks the model

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, settings: Settings, name: str | None = None, *, create: bool = True,
             embedder: Embedder | None = None, read_only: bool = False,
             background_ollama: bool = False) -> "KnowledgeBase":
        """Open (or create) the knowledge base `name` under the settings' data folder.

        `background_ollama` (the app): no verb waits for Ollama to learn the model's context length."""
        name = kb_name(name or settings.storage.default_kb)
        if settings.storage.backend != "sqlite":
            kb = cls._open_shared(settings, name, create=create, embedder=embedder, read_only=read_only)
            kb.background_ollama = background_ollama
            return kb
        kb = cls._open_at(settings, kbs_dir(settings) / name, name, create=create, embedder=embedder,
                          read_only=read_only)
        kb.background_ollama = background_ollama
        return kb

    @classmethod
    def _open_at(cls, settings: Settings, folder: Path, name: str, *, create: bool, embedder: Embedder | None,
                 read_only: bool = False) -> "KnowledgeBase":
        from kb.search.textproc import use_data_dir

        use_data_dir(settings.data_dir)  # jieba's cache with the user's data, never the shared /tmp
        cached = build_cached_embedder(settings, embedder)
        wanted = cached.name if embedder is not None else embedder_id(settings)
        if (folder / "manifest.json").exists() or (folder / "kb.sqlite").exists():
            store = KBStore.open(folder, name, embedder=wanted, read_only=read_only)
        elif create and not read_only:
            try:
                store = KBStore.create(folder, name, wanted, cached.dim)
            except OSError as exc:
                raise StoreError("store.cannot_write", kb=name, folder=str(folder),
                                 reason=exc.strerror or str(exc)) from exc
        else:
            raise KnowledgeBaseNotFound("kb.not_found", name=name, folder=str(folder.parent))
        kb = cls(settings, name, store, Indexes(store, settings.index.approximate_above), cached)
        kb._warm_indexes()
        return kb

    @classmethod
    def _open_shared(cls, settings: Settings, name: str, *, create: bool, embedder: Embedder | None,
                     read_only: bool = False) -> "KnowledgeBase":
        """Open (or create) `name` in the backend [storage] chooses (kb.factory.storage_backend)."""
        from kb.factory import storage_backend
        from kb.search.textproc import use_data_dir

        use_data_dir(settings.data_dir)
        backend = storage_backend(settings)
        cached = build_cached_embedder(settings, embedder)
        wanted = cached.name if embedder is not None else embedder_id(settings)
        try:
            if backend.exists(name):
                store = backend.open(name, wanted, read_only=read_only)
            elif create and not read_only:
                store = backend.create(name, wanted, cached.dim)
            else:
                raise backend.not_found(name)
        except BaseException:
            close_embedder(cached)
            raise
        kb = cls(settings, name, store, backend.indexes(store), cached)
        kb._warm_indexes()
        return kb

    def _warm_indexes(self) -> None:
        """Build the index snapshot now (and write the index files if they were stale), not on the first search."""
        with self.store.read() as view:
            self.indexes.at(view)
            state = self.indexes.files_state(view)
        if state != "current" and not self.store.read_only and not self.store.writer_held():
            try:
                with self.store.writer() as w:
                    self.indexes.persist(w)
            except StoreError as exc:
                log.warning("index files not written kb=%s reason=%s", self.name, exc)

    @staticmethod
    def file_types() -> list[str]:
        """The file extensions ingest reads (without the dot): PDF, Markdown, text, Office, HTML, images."""
        from kb.ingest.loaders import supported_extensions

        return supported_extensions()

    @staticmethod
    def list_all(settings: Settings) -> list[KBInfo]:
        """Every knowledge base in the data folder, damaged ones included (with what is wrong)."""
        if settings.storage.backend != "sqlite":
            from kb.factory import storage_backend

            return storage_backend(settings).list_all()
        root = kbs_dir(settings)
        if not root.is_dir():
            return []
        out = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if not ((folder / "manifest.json").exists() or (folder / "kb.sqlite").exists()):
                continue
            out.append(_info(folder))
        return out

    @staticmethod
    def remove(settings: Settings, name: str) -> None:
        """Delete a whole knowledge base (documents, chunks, indexes, originals, conversations).

        Waits for a running write to finish (the writer lock: flock or pg_advisory_lock), then removes it
        atomically (kb/store/local.py, kb/store/pg/backend.py): every process that has it open sees
        `kb.deleted` from then on."""
        from kb.factory import storage_backend

        storage_backend(settings).remove(kb_name(name))

    def close(self) -> None:
        if self._chat is not None:
            self._chat.sessions.close()
        close_embedder(self.embedder)
        self.store.close()

    def __enter__(self) -> "KnowledgeBase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def info(self) -> KBInfo:
        with self.store.read() as view:
            n_docs, n_chunks, _ = view.counts()
        return KBInfo(self.name, n_docs, n_chunks, self.store.embedder_name, self.store.dim,
                      self.store.size_bytes(), self.store.created_at)

    def documents(self) -> list[Document]:
        with self.store.read() as view:
            return view.documents()

    def document(self, key: str) -> Document | None:
        """A document by file name or document id."""
        with self.store.read() as view:
            return view.document(key)

    def chunks(self, document: str | None = None) -> list[Chunk]:
        """All chunks, or those of one document (by file name or id), in reading order."""
        with self.store.read() as view:
            if document is None:
                return view.chunks()
            return view.chunks(self._require(view, document).doc_id)

    # ------------------------------------------------------------------ OCR review (the Chunks page)

    def ocr_marks(self, document: str | None = None) -> dict[str, OcrMark]:
        """The chunks read by OCR (keyed by chunk id), each with its confidence, its page's (from the
        document's `ocr_pages`) and whether either is below `[ocr] low_confidence`."""
        threshold = self.settings.ocr.low_confidence
        with self.store.read() as view:
            docs = [self._require(view, document)] if document else view.documents()
            chunks = view.chunks(docs[0].doc_id) if document else view.chunks()
        pages = {d.doc_id: d.metadata.get("ocr_pages") or {} for d in docs}
        out = {}
        for c in chunks:
            if not c.ocr:
                continue
            page_conf = pages.get(c.doc_id, {}).get(str(c.page if c.page is not None else 1))
            out[c.id] = OcrMark(c.id, c.file_name, c.page, c.ocr_confidence,
                                float(page_conf) if page_conf is not None else None, threshold)
        return out

    def page_thumbnail(self, document: str, page: int | None = None, width: int | None = None) -> bytes:
        """A small PNG of one page of a PDF or image document (by file name or id), drawn from the stored
        original and cached by the file's content hash, page and width, so no page is drawn twice."""
        from kb.ingest.formats import thumbnails

        doc = self.document(document)
        if doc is None:
            raise KBError("kb.document_not_found", kb=self.name, key=document)
        if doc.kind not in thumbnails.KINDS:
            raise KBError("thumbnail.no_page_image", file=doc.file_name)
        page = 1 if page is None else int(page)
        width = max(thumbnails.MIN_WIDTH, min(int(width or thumbnails.WIDTH), thumbnails.MAX_WIDTH))

        def draw() -> bytes:
            data = self.originals.read_intact(doc.file_hash, doc.file_name)
            if data is None:
                raise KBError("thumbnail.no_original", file=doc.file_name)
            return thumbnails.render(doc.kind, data, page, width, doc.file_name)

        if self._thumbnails is None:
            self._thumbnails = thumbnails.ThumbnailCache(Path(self.settings.data_dir) / "cache" / "thumbnails")
        return self._thumbnails.get_or_render(doc.file_hash, page, width, draw)

    def _require(self, view: ReadView | Writer, key: str) -> Document:
        doc = view.document(key)
        if doc is None:
            raise KBError("kb.document_not_found", kb=self.name, key=key)
        return doc

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def _writer(self, notify: ProgressFn | None = None, n_files: int = 0) -> Iterator[Writer]:
        """The writer, with the embedder checked against the one the knowledge base was built with
        (another process may have rebuilt it with another since this one opened it)."""
        waiting = (lambda: notify(IngestProgress(0, n_files, "", "waiting"))) if notify else None
        with self.store.writer(waiting) as w:
            if w.embedder != self.embedder.name:
                raise EmbedderMismatch("store.embedder_mismatch", kb=self.name, built=w.embedder,
                                       configured=self.embedder.name)
            yield w

    def ingest(self, paths: Iterable[Path | str], progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> IngestReport:
        """Ingest files from disk. Each file gets a result; one bad file never stops the batch.
        `cancel` (checked between files and between OCR pages) or Ctrl-C stops it: what committed stays, the
        rest is "not done" (a file stopped during OCR reports `ingest.ocr_cancelled`, and nothing of it is written)."""
        sources: list[Source | FileResult] = []
        for p in paths:
            try:
                sources.append(Source.from_path(Path(p)))
            except IngestError as exc:
                sources.append(FileResult.failed(exc.file, exc))
        return self._ingest(sources, progress, cancel=cancel)

    def ingest_bytes(self, files: Sequence[tuple[str, bytes]], progress: ProgressFn | None = None,
                     cancel: threading.Event | None = None) -> IngestReport:
        """Ingest uploaded files given as (name, bytes)."""
        return self._ingest([Source.from_bytes(n, d) for n, d in files], progress, cancel=cancel)

    def ingest_sources(self, sources: Sequence[Source], progress: ProgressFn | None = None,
                       cancel: threading.Event | None = None) -> IngestReport:
        """Ingest files given as `Source`s (name, size, a way to read): an upload kept on disk is checked
        against the size limit before a byte of it is read into memory."""
        return self._ingest(list(sources), progress, cancel=cancel)

    def _ingest(self, sources: Sequence[Source | FileResult], progress: ProgressFn | None,
                force: bool = False, cancel: threading.Event | None = None) -> IngestReport:
        started = time.monotonic()
        notify = progress or (lambda _p: None)
        if self.store.read_only:
            exc = StoreError("store.read_only", kb=self.name, folder=str(self.store.folder))
            return IngestReport(self.name, tuple(s if isinstance(s, FileResult) else FileResult.failed(s.name, exc)
                                                 for s in sources), 0.0)
        results: list[FileResult] = []
        seen: set[str] = set()
        with self._writer(notify, len(sources)) as w:
            for i, src in enumerate(sources):
                if isinstance(src, FileResult):
                    results.append(src)
                    continue
                if cancel is not None and cancel.is_set():
                    results.append(_not_done(src.name))
                    continue
                notify(IngestProgress(i, len(sources), src.name, "reading"))
                before = w.document(src.name)
                try:
                    result = self._ingest_one(w, src, i, len(sources), notify, seen, force, cancel)
                except KeyboardInterrupt:  # Ctrl-C: this file rolled back (or committed just before), the rest not started
                    cancel = cancel or threading.Event()
                    cancel.set()
                    after = w.document(src.name)
                    results.append(_not_done(src.name) if after == before else
                                   FileResult(after.file_name, "replaced" if before else "added", after.doc_id,
                                              after.n_chunks))
                    continue
                results.append(result)
                notify(IngestProgress(i, len(sources), src.name, "done", 1, 1))
                log.info("ingest kb=%s file=%s status=%s chunks=%d embedded=%d", self.name, result.file_name,
                         result.status, result.n_chunks, result.n_embedded)
            self._persist(w)
        return IngestReport(self.name, tuple(results), round(time.monotonic() - started, 3))

    def _persist(self, w: Writer) -> None:
        """Write the index files of the writer's generation; a failure costs speed at the next open, not data."""
        try:
            self.indexes.persist(w)
        except (OSError, RuntimeError) as exc:
            log.warning("index files not written kb=%s reason=%s; they are rebuilt on the next open", self.name, exc)

    def _ingest_one(self, w: Writer, src: Source, i: int, n: int, notify: ProgressFn, seen: set[str],
                    force: bool = False, cancel: threading.Event | None = None) -> FileResult:
        t0 = time.monotonic()
        max_bytes = int(self.settings.storage.max_file_mb * 1_000_000)
        name = getattr(src, "name", "?")
        try:
            name = check_source(src, max_bytes)
            if name in seen:
                raise IngestError(name, "batch.duplicate_name")
            seen.add(name)
            data = src.read()
            if len(data) > max_bytes:
                raise IngestError(name, "batch.too_large", mb=round(len(data) / 1e6, 1),
                                  limit=round(max_bytes / 1e6))
            existing = w.document(name)
            signature = self._chunker_signature()
            if (not force and existing and existing.file_hash == file_hash(data)
                    and existing.metadata.get("chunker") == signature):
                self.originals.keep(existing.file_hash, name, data)  # restores a lost or damaged original
                return FileResult(name, "unchanged", existing.doc_id, existing.n_chunks, 0,
                                  round(time.monotonic() - t0, 3), warnings=existing.warnings)
            prepared = prepare(self.name, name, data, self.settings.chunking, self._ocr_control(i, n, name, notify, cancel))
            prepared.document.metadata["chunker"] = signature
            prepared, rows, edits = curate.apply(prepared, w.curation(prepared.document.doc_id))
            vectors, n_embedded = self._embed(prepared, i, n, notify)
            notify(IngestProgress(i, n, name, "saving"))
            self._commit(w, prepared, vectors, data, existing, rows, edits)
        except (IngestError, EmbeddingError) as exc:
            return FileResult.failed(name, exc, seconds=round(time.monotonic() - t0, 3))
        except StoreError as exc:
            if exc.code == "kb.deleted":
                raise
            return FileResult.failed(name, exc, seconds=round(time.monotonic() - t0, 3))
        except OSError as exc:
            err = StoreError("store.save_failed", kb=self.name, file=name, reason=exc.strerror or str(exc))
            return FileResult.failed(name, err, seconds=round(time.monotonic() - t0, 3))
        status = "replaced" if existing else "added"
        return FileResult(name, status, prepared.document.doc_id, len(prepared.chunks), n_embedded,
                          round(time.monotonic() - t0, 3), warnings=prepared.document.warnings)

    def _ocr_control(self, i: int, n: int, name: str, notify: ProgressFn,
                     cancel: threading.Event | None) -> "OcrControl":
        """OCR pages reported as stage `ocr` (`OCR 第 3/40 页`), cancelled by the batch's event."""
        from kb.ingest.loaders import OcrControl

        return OcrControl(progress=lambda done, total: notify(IngestProgress(i, n, name, "ocr", done, total)),
                          cancel=cancel, low_confidence=self.settings.ocr.low_confidence)

    def _chunker_signature(self) -> str:
        c = self.settings.chunking
        return f"v2/{c.size}/{c.overlap}/{c.min_chars}"

    def _embed(self, prepared: Prepared, i: int, n: int, notify: ProgressFn) -> tuple[np.ndarray, int]:
        texts = prepared.embed_inputs
        parts, embedded = [], 0
        for start in range(0, len(texts), EMBED_BATCH):
            notify(IngestProgress(i, n, prepared.document.file_name, "embedding", start, len(texts)))
            vecs, misses = self.embedder.embed_passages_counted(texts[start:start + EMBED_BATCH])
            parts.append(vecs)
            embedded += misses
        notify(IngestProgress(i, n, prepared.document.file_name, "embedding", len(texts), len(texts)))
        if not parts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32), 0
        return np.vstack(parts), embedded

    def _commit(self, w: Writer, prepared: Prepared, vectors: np.ndarray, data: bytes | None,
                old: Document | None, rows: Sequence[Curation] | None = None, edits: Sequence[Edit] = ()) -> None:
        """The original first (so a committed document always has one), then the one transaction."""
        doc = prepared.document
        if data is not None:
            self.originals.keep(doc.file_hash, doc.file_name, data)
        w.replace_document(doc, prepared.chunks, vectors, prepared.terms, rows, edits)
        if old and (old.file_hash != doc.file_hash or old.file_name != doc.file_name):
            self._release_original(w, old)

    def _release_original(self, w: Writer, doc: Document) -> None:
        still_used = any(d.file_hash == doc.file_hash and Path(d.file_name).suffix.lower() ==
                         Path(doc.file_name).suffix.lower() for d in w.documents())
        self.originals.release(doc.file_hash, doc.file_name, still_used)

    def delete(self, key: str) -> Document:
        """Remove a document (by file name or id): its chunks, vectors, keyword entries and stored original."""
        with self._writer() as w:
            doc = self._require(w, key)
            removed = w.delete_document(doc.doc_id)
            self._release_original(w, doc)
            self._persist(w)
        log.info("deleted kb=%s file=%s chunks=%d", self.name, doc.file_name, len(removed))
        return doc

    def reindex(self, key: str | None = None, progress: ProgressFn | None = None) -> IngestReport:
        """Re-chunk and re-embed stored originals with the current settings (all documents, or one).

        A document whose original is missing keeps its chunks as they are (status `kept`)."""
        started = time.monotonic()
        notify = progress or (lambda _p: None)
        results: list[FileResult] = []
        with self._writer(notify) as w:
            docs = [self._require(w, key)] if key else w.documents()
            seen: set[str] = set()
            for i, doc in enumerate(docs):
                data = self.originals.read_intact(doc.file_hash, doc.file_name)
                if data is None:
                    results.append(FileResult(doc.file_name, "kept", doc.doc_id, doc.n_chunks,
                                              warnings=(*doc.warnings, _kept_warning(doc))))
                    continue
                notify(IngestProgress(i, len(docs), doc.file_name, "reading"))
                results.append(self._ingest_one(w, Source.from_bytes(doc.file_name, data), i, len(docs), notify,
                                                seen, force=True))
            self._persist(w)
        return IngestReport(self.name, tuple(results), round(time.monotonic() - started, 3))

    # ------------------------------------------------------------------ curating (kb/curate/chunks.py)

    def chunk_states(self, document: str | None = None) -> list[curate.ChunkState]:
        """Chunks with what was done to them by hand (disabled, edited, added, to review)."""
        with self.store.read() as view:
            return curate.states(view, None if document is None else self._require(view, document).doc_id)

    def edit_chunk(self, chunk_id: str, text: str) -> curate.ChunkState:
        """Replace a chunk's text (re-embedded, keyword index updated); kept through re-chunking."""
        return curate.edit(self, chunk_id, text)

    def disable_chunk(self, chunk_id: str, disabled: bool = True) -> curate.ChunkState:
        """A disabled chunk is never retrieved and is still shown."""
        return curate.set_disabled(self, chunk_id, disabled)

    def add_chunk(self, document: str, text: str) -> curate.ChunkState:
        """A chunk written by hand (a question-and-answer pair, say), appended to a document."""
        return curate.add(self, document, text)

    def edits(self, since: str | None = None, limit: int = 1000) -> list[Edit]:
        """The edit log, newest first: who, when, before and after."""
        with self.store.read() as view:
            return view.edits(since, limit)

    def sync(self, folder: Path | str, dry_run: bool = False, prune: bool = False,
             progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> "SyncReport":
        """Bring the knowledge base in step with a folder (kb/curate/sync.py); `dry_run` only says what would change."""
        from kb.curate.sync import sync

        return sync(self, Path(folder), dry_run, prune, progress, cancel)

    def watch(self, folder: Path | str, every: float, stop: threading.Event,
              on_round: Callable[["WatchRound"], None], prune: bool = False,
              progress: ProgressFn | None = None) -> int:
        """Sync `folder` every `every` seconds until `stop` is set (kb/curate/sync.py `watch`); returns the rounds run."""
        from kb.curate.sync import watch

        return watch(self, Path(folder).expanduser(), every, stop, on_round, prune, progress)

    # ------------------------------------------------------------------ personal eval set, digest

    def mark_relevant(self, question: str, chunk_id: str) -> bool:
        """"This is the right chunk" for a question: appended to this knowledge base's own question set."""
        from kb.search.questions import mark_relevant

        return mark_relevant(self, question, chunk_id)

    def personal_questions(self) -> list[dict[str, Any]]:
        from kb.search.questions import questions

        return questions(self)

    def personal_eval(self, mode: str | None = None, k: int = 10):
        """hit@k / MRR on the personal question set (kb/search/evaluate.py's report)."""
        from kb.search.evaluate import evaluate
        from kb.search.questions import items

        found = items(self)
        if not found:
            raise KBError("eval.personal_empty", kb=self.name)
        return evaluate(self, found, mode=mode, k=k)

    def digest(self, since: str = "24h", use_model: bool = True) -> "Digest":
        """What was added, replaced and removed since `since` (24h, 7d, ...), with a summary per new document."""
        from kb.curate.digest import digest

        return digest(self, since, use_model)

    # ------------------------------------------------------------------ back up and restore (kb/curate/archive.py)

    def export_archive(self, out: Path | str) -> "ExportReport":
        """One tar archive of this knowledge base: originals, a database snapshot, checksums."""
        from kb.curate.archive import export

        return export(self.settings, self.name, Path(out))

    def export_bytes(self) -> bytes:
        from kb.curate.archive import export_bytes

        return export_bytes(self.settings, self.name)

    @staticmethod
    def import_archive(settings: Settings, path: Path | str, as_name: str | None = None,
                       rebuild: bool = False) -> "ImportReport":
        """Restore an archive as a new knowledge base after verifying every checksum (nothing written before)."""
        from kb.curate.archive import import_archive

        return import_archive(settings, Path(path), as_name, rebuild)

    @staticmethod
    def import_bytes(settings: Settings, data: bytes, file_name: str, as_name: str | None = None,
                     rebuild: bool = False) -> "ImportReport":
        from kb.curate.archive import import_bytes

        return import_bytes(settings, data, as_name, rebuild, file_name)

    # ------------------------------------------------------------------ searching

    def search(self, query: str, options: SearchOptions | None = None,
               history: Sequence[dict[str, str]] = (), **overrides: Any) -> SearchResult:
        """Ranked chunks with the score breakdown. `overrides` change single options (mode=, k=, ...).

        Runs on one generation: the read view and the index snapshot of the same commit."""
        if not query or not query.strip():
            raise KBError("kb.question_empty")
        opts = options or SearchOptions.from_settings(self.settings.retrieval, **overrides)
        if opts.llm_rewrite or opts.llm_rerank:  # the model's calls happen outside the read view
            from kb.search.second_stage import two_stage_search

            if self._stages is None:
                from kb.factory import build_llm_stages

                self._stages = build_llm_stages(self.settings)
            return two_stage_search(query.strip(), opts, history, self._first_stage, self._stages)
        return self._first_stage([(query.strip(), opts, history)])[0]

    def _first_stage(self, searches: Sequence[tuple[str, SearchOptions, Sequence[dict[str, str]]]]
                     ) -> list[SearchResult]:
        """Each (query, options, history) searched on one generation: one read view, one index snapshot."""
        opts = searches[0][1]
        with self.store.read() as view:
            if view.embedder != self.embedder.name:
                raise EmbedderMismatch("store.embedder_mismatch", kb=self.name, built=view.embedder,
                                       configured=self.embedder.name)
            snapshot = self.indexes.at(view)
            allowed = None
            if opts.documents:
                docs = [self._require(view, d) for d in opts.documents]
                allowed = set(view.rowids_for_docs([d.doc_id for d in docs]))
            retriever = Retriever(snapshot, view, self.embedder, self._calibration_dir())
            return [retriever.search(q, o, h, allowed) for q, o, h in searches]

    def explain(self, query: str, expected: str, history: Sequence[dict[str, str]] = (),
                **overrides: Any) -> "Explanation":
        """Why the chunk a person expected (its id, or a passage of its text) is or is not found for `query`:
        each retriever's rank and score for it, the question's words it lacks, and what it had to beat.
        The first stage only (what the model's second stage would change is shown by `search`)."""
        from kb.search.retrieval import Explanation, chunks_holding

        if not query or not query.strip():
            raise KBError("kb.question_empty")
        expected = (expected or "").strip()
        opts = SearchOptions.from_settings(self.settings.retrieval, **overrides)
        with self.store.read() as view:
            if view.embedder != self.embedder.name:
                raise EmbedderMismatch("store.embedder_mismatch", kb=self.name, built=view.embedder,
                                       configured=self.embedder.name)
            row = view.chunk_row(expected) if expected else None
            targets = [row[0]] if row else chunks_holding(view.chunk_rows(), expected)
            if not targets:
                raise KBError("explain.no_chunk", expected=expected[:80])
            allowed = None
            if opts.documents:
                docs = [self._require(view, d) for d in opts.documents]
                allowed = set(view.rowids_for_docs([d.doc_id for d in docs]))
            retriever = Retriever(self.indexes.at(view), view, self.embedder, self._calibration_dir())
            result, found = retriever.explain(query.strip(), opts, history, targets, allowed)
        return Explanation(result, expected, tuple(found))

    def _calibration_dir(self) -> Path:
        return Path(self.settings.data_dir) / "cache" / "calibration"

    def search_options(self, **overrides: Any) -> SearchOptions:
        """The configured search options with some replaced (None values are ignored)."""
        return SearchOptions.from_settings(self.settings.retrieval, **overrides)

    # ------------------------------------------------------------------ chatting

    @property
    def chat(self) -> "ChatService":
        """The chat service, built on first use (loads the tokenizer; does not contact Ollama)."""
        if self._chat is not None:
            return self._chat
        with self._chat_lock:  # not the writer lock: chat must not wait for a running ingest
            if self._chat is None:
                from kb.llm.chat import ChatService
                from kb.factory import build_chat_model, token_counter
                from kb.llm.sessions import SessionStore

                self._chat = ChatService(self.settings, self.search, SessionStore(self.store.folder / "chats.sqlite"),
                                         build_chat_model(self.settings), token_counter(), self._context_length)
            return self._chat

    def _context_length(self) -> int | None:
        """The model's real context length from Ollama (running, else its Modelfile), cached for a minute.

        With `background_ollama` (the app) this never waits for Ollama: it answers from the cache (None at
        first, which means the configured [chat] num_ctx) and refreshes in a thread of its own."""
        now = time.monotonic()
        cached = self._ctx_cache
        if cached is not None and now - cached[1] < 60:
            return cached[0]
        if not self.background_ollama:
            return self._refresh_context_length()
        with self._chat_lock:
            if self._ctx_refresh is None or not self._ctx_refresh.is_alive():
                self._ctx_refresh = threading.Thread(target=self._refresh_context_length, daemon=True,
                                                     name=f"kb-context-length-{self.name}")
                self._ctx_refresh.start()
        return cached[0] if cached is not None else None

    def _refresh_context_length(self) -> int | None:
        from kb.errors import OllamaError
        from kb.factory import build_ollama_admin

        try:
            with build_ollama_admin(self.settings, timeout=5.0) as admin:
                value = admin.context_length(self.settings.ollama.model)
        except OllamaError as exc:
            log.info("context length unknown, using [chat] num_ctx reason=%s", exc)
            value = None
        self._ctx_cache = (value, time.monotonic())
        return value

    def ask(self, question: str, session: str = "default", mode: str | None = None) -> "Answer":
        """Answer a question from the knowledge base (waits for the whole answer)."""
        return self.chat.ask(question, session, mode)

    def stream_answer(self, question: str, session: str = "default", mode: str | None = None) -> Iterator["ChatEvent"]:
        """The same as `ask`, as events: rewritten question, sources, tokens, then the answer."""
        return self.chat.stream(question, session, mode)

    def reply(self, question: str, history: Sequence[dict[str, str]] = (), mode: str | None = None,
              source: str = "request") -> Iterator["ChatEvent"]:
        """`stream_answer` over a conversation the caller keeps (the HTTP API): `history` is the earlier
        turns, [{"role": "user"|"assistant", "content": text}]; nothing is stored."""
        return self.chat.reply(question, history, mode, source)

    def prompt_preview(self, question: str, session: str | None = None, mode: str | None = None) -> "PromptPreview":
        """The exact prompt chat would send for this question, with its token budget (no model call)."""
        return self.chat.preview(question, session, mode)

    def sessions(self) -> list["SessionInfo"]:
        return self.chat.list_sessions()

    def session_turns(self, session: str) -> list["Turn"]:
        return self.chat.turns(session)

    def delete_session(self, session: str) -> None:
        self.chat.delete_session(session)

    def new_session(self) -> str:
        name = self.chat.sessions.new_name()
        self.chat.sessions.ensure(name, "")
        return name

    def ollama_status(self) -> "OllamaStatus":
        """Ollama's version, models and the loaded model's placement; never raises."""
        from kb.factory import build_ollama_admin

        with build_ollama_admin(self.settings, timeout=5.0) as admin:
            return admin.status(self.settings.ollama.model)

    @staticmethod
    def loaded_models(settings: Settings) -> list["RunningModel"]:
        """The models Ollama has loaded now (/api/ps), each with where its layers went (`layout`).

        Needs no knowledge base: `python -m kb model ps` asks it; a KBError when Ollama cannot answer."""
        from kb.factory import build_ollama_admin

        with build_ollama_admin(settings, timeout=5.0) as admin:
            return admin.running()

    def setup_model(self, progress: Callable[["SetupProgress"], None] | None = None) -> None:
        """Create the configured model in Ollama from the Modelfile (pulling the base model first)."""
        from kb.factory import build_ollama_admin

        with build_ollama_admin(self.settings, timeout=self.settings.ollama.timeout) as admin:
            admin.setup_model(self.settings.ollama.model, self.settings.ollama.modelfile, progress,
                              num_gpu=self.settings.ollama.num_gpu)
        self._ctx_cache = None

    def model_fit(self, num_ctx: int | None = None, vram_gib: float | None = None) -> "FitReport":
        """Which answer models fit this machine's GPU at a context length, before downloading any (kb/llm/fit.py)."""
        from kb.llm.fit import fit_for

        return fit_for(self.settings, num_ctx=num_ctx, vram_gib=vram_gib)

    def use_model(self, name: str, progress: Callable[["SetupProgress"], None] | None = None) -> str:
        """Make `name` the answer model: the Modelfile's FROM, then the model created in Ollama."""
        from kb.llm.fit import choose

        old = choose(self.settings, name, progress)
        self._ctx_cache = None
        return old

    # ------------------------------------------------------------------ verifying and repairing

    def check(self) -> CheckReport:
        """Verify every file of the knowledge base, primary and derived (kb/store/integrity.py)."""
        if self.settings.storage.backend != "sqlite":
            from kb.factory import storage_backend

            return storage_backend(self.settings).check(self.name, self.store, self.indexes)
        from kb.store.integrity import check

        return check(self.store.folder, self.name, indexes=self.indexes)

    @staticmethod
    def check_named(settings: Settings, name: str) -> CheckReport:
        """`check` for a knowledge base that may be too damaged to open."""
        from kb.store.integrity import check

        name = kb_name(name)
        if settings.storage.backend != "sqlite":
            from kb.factory import storage_backend

            backend = storage_backend(settings)
            if not backend.exists(name):
                raise backend.not_found(name)
            return backend.check(name)
        folder = kbs_dir(settings) / name
        if not folder.is_dir():
            raise KnowledgeBaseNotFound("kb.not_found", name=name, folder=str(folder.parent))
        return check(folder, name)

    @staticmethod
    def repair(settings: Settings, name: str, embedder: Embedder | None = None,
               progress: ProgressFn | None = None) -> RepairReport:
        """Fix what `check` found from what is left (the database, the stored originals); keeps every damaged
        file aside under `damaged/`. What cannot be fixed stays in the report with its advice."""
        from kb.store.integrity import repair

        _embedded_only(settings, "repair")
        name = kb_name(name)
        folder = kbs_dir(settings) / name
        if not folder.is_dir():
            raise KnowledgeBaseNotFound("kb.not_found", name=name, folder=str(folder.parent))
        from kb.curate.maintenance import Rebuilder

        cached = build_cached_embedder(settings, embedder)
        try:
            return repair(folder, name, Rebuilder(settings, name, cached, progress))
        finally:
            close_embedder(cached)

    @staticmethod
    def rebuild(settings: Settings, name: str, embedder: Embedder | None = None,
                progress: ProgressFn | None = None) -> IngestReport:
        """Re-embed (and re-chunk) every document with the configured embedder, in place, under the writer lock.

        Everything is computed first and swapped in by one transaction, so a failure changes nothing. A
        document whose original is missing keeps its chunks, re-embedded (status `kept`)."""
        from kb.curate.maintenance import rebuild

        _embedded_only(settings, "rebuild")
        name = kb_name(name)
        return rebuild(settings, name, kbs_dir(settings) / name, build_cached_embedder(settings, embedder), progress)



def _embedded_only(settings: Settings, command: str) -> None:
    """rebuild and repair work on the embedded store's files; on the shared store they are not written yet."""
    if settings.storage.backend != "sqlite":
        raise KBError("pg.command_unsupported", command=command)


def _not_done(name: str) -> FileResult:
    return FileResult.failed(name, IngestError(name, "batch.not_done"))


def _kept_warning(doc: Document) -> str:
    from kb.messages import render

    return render("kb.original_missing_kept", {"file": doc.file_name})


def _folder_bytes(folder: Path) -> int:
    total = 0
    for f in folder.rglob("*"):
        try:
            if f.is_file():
                total += f.stat().st_size
        except OSError:
            continue
    return total


def _info(folder: Path) -> KBInfo:
    """A list entry; never raises for a damaged knowledge base (it is listed with its problem)."""
    from kb.store import assess_database

    name = folder.name
    size = _folder_bytes(folder)
    try:
        manifest = read_manifest(folder, name)
        assess_database(folder, name)
        store = KBStore(folder, name, read_only=True)
        try:
            n_docs, n_chunks, _ = store.counts()
            return KBInfo(name, n_docs, n_chunks, store.embedder_name, store.dim, size, manifest["created_at"])
        finally:
            store.close()
    except KBError as exc:
        log.warning("damaged knowledge base folder=%s code=%s", folder, exc.code)
        return KBInfo(name, 0, 0, "", 0, size, "", exc.code, dict(exc.params))
