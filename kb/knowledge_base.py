"""The facade: a knowledge base with the verbs a user would say. Pages and the CLI both call this."""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from .config import Settings, _valid_kb_name
from .embedders import CachedEmbedder, Embedder
from .errors import EmbeddingError, IngestError, KBError, KnowledgeBaseNotFound, StoreError
from .factory import build_cached_embedder, embedder_id, kbs_dir
from .index import Indexes
from .retrieval import Retriever, SearchOptions, SearchResult
from .ingest import Prepared, Source, check_source, file_hash, prepare
from .store import KBStore, write_atomic
from .types import CheckReport, Chunk, Document, FileResult, IngestReport, KBInfo

if TYPE_CHECKING:
    from .chat import Answer, ChatEvent, ChatService, PromptPreview, Turn
    from .ollama import OllamaStatus, SetupProgress
    from .sessions import SessionInfo

log = logging.getLogger(__name__)

EMBED_BATCH = 64


@dataclass(frozen=True)
class IngestProgress:
    """Reported while ingesting: which file, which stage, and how far into it."""

    file_index: int  # 0-based
    n_files: int
    file_name: str
    stage: str  # reading | embedding | saving | done
    done: int = 0
    total: int = 0


ProgressFn = Callable[[IngestProgress], None]


class KnowledgeBase:
    """One named knowledge base: ingest, inspect, search, delete. Thread-safe for one process;
    other processes writing the same knowledge base are serialised by a file lock."""

    def __init__(self, settings: Settings, name: str, store: KBStore, indexes: Indexes, embedder: CachedEmbedder):
        self.settings = settings
        self.name = name
        self.store = store
        self.indexes = indexes
        self.embedder = embedder
        self._write_lock = threading.RLock()
        self._chat: ChatService | None = None
        self._chat_lock = threading.Lock()
        self._ctx_cache: tuple[int | None, float] | None = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, settings: Settings, name: str | None = None, *, create: bool = True,
             embedder: Embedder | None = None, read_only: bool = False) -> "KnowledgeBase":
        """Open (or create) the knowledge base `name` under the settings' data folder."""
        name = name or settings.storage.default_kb
        if not _valid_kb_name(name):
            raise KBError(f"'{name}' is not a valid knowledge base name: use letters, digits, - and _ "
                          "(up to 64 characters)")
        return cls._open_at(settings, kbs_dir(settings) / name, name, create=create, embedder=embedder,
                            read_only=read_only)

    @classmethod
    def _open_at(cls, settings: Settings, folder: Path, name: str, *, create: bool, embedder: Embedder | None,
                 read_only: bool = False) -> "KnowledgeBase":
        cached = build_cached_embedder(settings, embedder)
        wanted = cached.name if embedder is not None else embedder_id(settings)
        if (folder / "manifest.json").exists():
            if not read_only and not os.access(folder, os.W_OK):
                log.warning("knowledge base folder is not writable, opening read-only folder=%s", folder)
                read_only = True
            store = KBStore.open(folder, name, embedder=wanted, read_only=read_only)
        elif create and not read_only:
            store = KBStore.create(folder, name, wanted, cached.dim)
        else:
            raise KnowledgeBaseNotFound(f"There is no knowledge base '{name}' in {folder.parent}: create it by "
                                        f"ingesting files, e.g. `python -m kb ingest FILES --kb {name}`")
        indexes = Indexes(store)
        indexes.load()
        return cls(settings, name, store, indexes, cached)

    @classmethod
    def rebuild(cls, settings: Settings, name: str, embedder: Embedder | None = None,
                progress: ProgressFn | None = None) -> IngestReport:
        """Re-create a knowledge base from its stored originals with the configured embedder and chunking.

        Built aside and swapped in at the end, so a failure leaves the old knowledge base untouched.
        """
        folder = kbs_dir(settings) / name
        if not _valid_kb_name(name) or not (folder / "manifest.json").exists():
            raise KnowledgeBaseNotFound(f"There is no knowledge base '{name}' to rebuild")
        old = KBStore(folder, name, KBStore.read_manifest(folder), read_only=True)
        try:
            files = [(d.file_name, folder / "files" / f"{d.file_hash}{Path(d.file_name).suffix.lower()}")
                     for d in old.documents()]
        finally:
            old.close()
        aside = folder.with_name(f".rebuild-{name}")
        shutil.rmtree(aside, ignore_errors=True)
        fresh = cls._open_at(settings, aside, name, create=True, embedder=embedder)
        try:
            sources: list[Source | FileResult] = [
                Source.from_bytes(fn, p.read_bytes()) if p.exists()
                else FileResult(fn, "failed", error="the stored original is missing: ingest the file again")
                for fn, p in files]
            report = fresh._ingest(sources, progress)
        finally:
            fresh.close()
        retired = folder.with_name(f".old-{name}-{int(time.time())}")
        folder.rename(retired)
        aside.rename(folder)
        shutil.rmtree(retired, ignore_errors=True)
        return report

    @staticmethod
    def list_all(settings: Settings) -> list[KBInfo]:
        root = kbs_dir(settings)
        out = []
        for folder in sorted(p for p in root.glob("*") if (p / "manifest.json").exists()) if root.exists() else []:
            try:
                manifest = KBStore.read_manifest(folder)
                store = KBStore(folder, folder.name, manifest, read_only=True)
                n_docs, n_chunks, _ = store.counts()
                store.close()
            except KBError as exc:
                log.warning("skipping unreadable knowledge base folder=%s error=%s", folder, exc)
                continue
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            out.append(KBInfo(folder.name, n_docs, n_chunks, manifest["embedder"], manifest["dim"], size,
                              manifest["created_at"]))
        return out

    @staticmethod
    def remove(settings: Settings, name: str) -> None:
        """Delete a whole knowledge base folder (documents, chunks, indexes, stored originals)."""
        folder = kbs_dir(settings) / name
        if not _valid_kb_name(name) or not (folder / "manifest.json").exists():
            raise KnowledgeBaseNotFound(f"There is no knowledge base '{name}' to delete")
        trash = folder.with_name(f".deleting-{name}-{int(time.time())}")
        folder.rename(trash)  # atomic: the knowledge base disappears at once, then the files go
        shutil.rmtree(trash, ignore_errors=True)

    def close(self) -> None:
        if self._chat is not None:
            self._chat.sessions.close()
        self.embedder.cache.close()
        self.store.close()

    def __enter__(self) -> "KnowledgeBase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def info(self) -> KBInfo:
        n_docs, n_chunks, _ = self.store.counts()
        size = sum(f.stat().st_size for f in self.store.folder.rglob("*") if f.is_file())
        m = self.store.manifest
        return KBInfo(self.name, n_docs, n_chunks, m["embedder"], m["dim"], size, m["created_at"])

    def documents(self) -> list[Document]:
        return self.store.documents()

    def document(self, key: str) -> Document | None:
        """A document by file name or document id."""
        return self.store.document(key)

    def chunks(self, document: str | None = None) -> list[Chunk]:
        """All chunks, or those of one document (by file name or id), in reading order."""
        if document is None:
            return self.store.chunks()
        doc = self._require(document)
        return self.store.chunks(doc.doc_id)

    def _require(self, key: str) -> Document:
        doc = self.store.document(key)
        if doc is None:
            raise KBError(f"No document '{key}' in knowledge base '{self.name}': see `python -m kb docs "
                          f"--kb {self.name}`")
        return doc

    # ------------------------------------------------------------------ writing

    def ingest(self, paths: Iterable[Path | str], progress: ProgressFn | None = None) -> IngestReport:
        """Ingest files from disk. Each file gets a result; one bad file never stops the batch."""
        sources: list[Source | FileResult] = []
        for p in paths:
            try:
                sources.append(Source.from_path(Path(p)))
            except IngestError as exc:
                sources.append(FileResult.failed(exc.file, exc))
        return self._ingest(sources, progress)

    def ingest_bytes(self, files: Sequence[tuple[str, bytes]], progress: ProgressFn | None = None) -> IngestReport:
        """Ingest uploaded files given as (name, bytes)."""
        return self._ingest([Source.from_bytes(n, d) for n, d in files], progress)

    def _ingest(self, sources: Sequence[Source | FileResult], progress: ProgressFn | None,
                force: bool = False) -> IngestReport:
        started = time.monotonic()
        results: list[FileResult] = []
        notify = progress or (lambda _p: None)
        seen: set[str] = set()
        with self._write_lock:
            for i, src in enumerate(sources):
                if self.store.read_only:
                    results.append(FileResult(getattr(src, "name", getattr(src, "file_name", "?")), "failed",
                                              error=f"the knowledge base is read-only ({self.store.folder} cannot be "
                                                    "written): check the folder's permissions or free disk space"))
                    continue
                if isinstance(src, FileResult):
                    results.append(src)
                    continue
                notify(IngestProgress(i, len(sources), src.name, "reading"))
                result = self._ingest_one(src, i, len(sources), notify, seen, force)
                results.append(result)
                notify(IngestProgress(i, len(sources), src.name, "done", 1, 1))
                log.info("ingest kb=%s file=%s status=%s chunks=%d embedded=%d", self.name, result.file_name,
                         result.status, result.n_chunks, result.n_embedded)
            if any(r.status in ("added", "replaced") for r in results):
                self._persist_indexes()
        return IngestReport(self.name, tuple(results), round(time.monotonic() - started, 3))

    def _ingest_one(self, src: Source, i: int, n: int, notify: ProgressFn, seen: set[str],
                    force: bool = False) -> FileResult:
        t0 = time.monotonic()
        max_bytes = int(self.settings.storage.max_file_mb * 1_000_000)
        try:
            name = check_source(src, max_bytes)
            if name in seen:
                raise IngestError(name, "the same file name appears twice in this batch: only the first was "
                                        "ingested; rename one of them")
            seen.add(name)
            data = src.read()
            if len(data) > max_bytes:
                raise IngestError(name, f"the file is over the {max_bytes / 1e6:.0f} MB limit")
            existing = self.store.document(name)
            signature = self._chunker_signature()
            if (not force and existing and existing.file_hash == file_hash(data)
                    and existing.metadata.get("chunker") == signature):
                return FileResult(name, "unchanged", existing.doc_id, existing.n_chunks, 0,
                                  round(time.monotonic() - t0, 3), warnings=existing.warnings)
            prepared = prepare(self.name, name, data, self.settings.chunking)
            prepared.document.metadata["chunker"] = signature
            vectors, n_embedded = self._embed(prepared, i, n, notify)
            notify(IngestProgress(i, n, name, "saving"))
            self._commit(prepared, vectors, data, existing)
        except IngestError as exc:
            return FileResult.failed(exc.file, exc, seconds=round(time.monotonic() - t0, 3))
        except EmbeddingError as exc:
            return FileResult(getattr(src, "name", "?"), "failed", error=str(exc), seconds=round(time.monotonic() - t0, 3))
        except (StoreError, OSError) as exc:
            reason = f"could not be saved ({exc}); the knowledge base keeps its previous state"
            return FileResult(getattr(src, "name", "?"), "failed", error=reason,
                              seconds=round(time.monotonic() - t0, 3))
        status = "replaced" if existing else "added"
        return FileResult(name, status, prepared.document.doc_id, len(prepared.chunks), n_embedded,
                          round(time.monotonic() - t0, 3), warnings=prepared.document.warnings)

    def _chunker_signature(self) -> str:
        c = self.settings.chunking
        return f"v2/{c.size}/{c.overlap}/{c.min_chars}"

    def _embed(self, prepared: Prepared, i: int, n: int, notify: ProgressFn):
        import numpy as np

        texts = prepared.embed_inputs
        parts, embedded = [], 0
        for start in range(0, len(texts), EMBED_BATCH):
            notify(IngestProgress(i, n, prepared.document.file_name, "embedding", start, len(texts)))
            vecs, misses = self.embedder.embed_passages_counted(texts[start:start + EMBED_BATCH])
            parts.append(vecs)
            embedded += misses
        notify(IngestProgress(i, n, prepared.document.file_name, "embedding", len(texts), len(texts)))
        return np.vstack(parts), embedded

    def _commit(self, prepared: Prepared, vectors, data: bytes, old: Document | None) -> None:
        doc = prepared.document
        originals = self.store.folder / "files"
        originals.mkdir(exist_ok=True)
        ext = Path(doc.file_name).suffix.lower()
        keep = originals / f"{doc.file_hash}{ext}"
        if not keep.exists():
            write_atomic(keep, data)
        with self.store.write_lock():
            self.indexes.sync()
            added, removed = self.store.replace_document(doc, prepared.chunks, vectors, prepared.terms)
            self.indexes.apply(added, vectors, prepared.terms, removed, self.store.generation())
        if old and old.file_hash != doc.file_hash:
            self._drop_original(old)

    def _drop_original(self, doc: Document) -> None:
        still_used = any(d.file_hash == doc.file_hash for d in self.store.documents())
        path = self.store.folder / "files" / f"{doc.file_hash}{Path(doc.file_name).suffix.lower()}"
        if not still_used and path.exists():
            path.unlink()

    def _persist_indexes(self) -> None:
        with self.store.write_lock():
            self.indexes.sync()
            self.indexes.persist()

    def delete(self, key: str) -> Document:
        """Remove a document (by file name or id): its chunks, vectors, keyword entries and stored original."""
        with self._write_lock:
            doc = self._require(key)
            with self.store.write_lock():
                self.indexes.sync()
                removed = self.store.delete_document(doc.doc_id)
                self.indexes.apply([], None, [], removed, self.store.generation())
                self.indexes.persist()
            self._drop_original(doc)
        log.info("deleted kb=%s file=%s chunks=%d", self.name, doc.file_name, len(removed))
        return doc

    def reindex(self, key: str | None = None, progress: ProgressFn | None = None) -> IngestReport:
        """Re-chunk and re-embed stored originals with the current settings (all documents, or one)."""
        docs = [self._require(key)] if key else self.documents()
        sources: list[Source | FileResult] = []
        for doc in docs:
            path = self.store.folder / "files" / f"{doc.file_hash}{Path(doc.file_name).suffix.lower()}"
            if path.exists():
                sources.append(Source.from_bytes(doc.file_name, path.read_bytes()))
            else:
                sources.append(FileResult(doc.file_name, "failed", doc.doc_id,
                                          error="the stored original is missing: ingest the file again"))
        return self._ingest(sources, progress, force=True)

    # ------------------------------------------------------------------ searching

    def search(self, query: str, options: SearchOptions | None = None,
               history: Sequence[dict[str, str]] = (), **overrides: Any) -> SearchResult:
        """Ranked chunks with the score breakdown. `overrides` change single options (mode=, k=, ...)."""
        if not query or not query.strip():
            raise KBError("The question is empty: type what you are looking for")
        opts = options or SearchOptions.from_settings(self.settings.retrieval, **overrides)
        self.indexes.sync()
        allowed = None
        if opts.documents:
            docs = [self._require(d) for d in opts.documents]
            allowed = set(self.store.rowids_for_docs([d.doc_id for d in docs]))
        return Retriever(self.indexes, self.store, self.embedder).search(query.strip(), opts, history, allowed)

    def search_options(self, **overrides: Any) -> SearchOptions:
        """The configured search options with some replaced (None values are ignored)."""
        return SearchOptions.from_settings(self.settings.retrieval, **overrides)

    # ------------------------------------------------------------------ chatting

    @property
    def chat(self) -> "ChatService":
        """The chat service, built on first use (loads the tokenizer; does not contact Ollama)."""
        if self._chat is not None:
            return self._chat
        with self._chat_lock:  # not the write lock: chat must not wait for a running ingest
            if self._chat is None:
                from .chat import ChatService
                from .factory import build_chat_model, token_counter
                from .sessions import SessionStore

                self._chat = ChatService(self.settings, self.search, SessionStore(self.store.folder / "chats.sqlite"),
                                         build_chat_model(self.settings), token_counter(), self._context_length)
            return self._chat

    def _context_length(self) -> int | None:
        """The model's real context length from Ollama (running, else its Modelfile), cached for a minute."""
        now = time.monotonic()
        if self._ctx_cache is not None and now - self._ctx_cache[1] < 60:
            return self._ctx_cache[0]
        from .errors import OllamaError
        from .factory import build_ollama_admin

        try:
            with build_ollama_admin(self.settings, timeout=5.0) as admin:
                value = admin.context_length(self.settings.ollama.model)
        except OllamaError as exc:
            log.info("context length unknown, using [chat] num_ctx reason=%s", exc)
            value = None
        self._ctx_cache = (value, now)
        return value

    def ask(self, question: str, session: str = "default", mode: str | None = None) -> "Answer":
        """Answer a question from the knowledge base (waits for the whole answer)."""
        return self.chat.ask(question, session, mode)

    def stream_answer(self, question: str, session: str = "default", mode: str | None = None) -> Iterator["ChatEvent"]:
        """The same as `ask`, as events: rewritten question, sources, tokens, then the answer."""
        return self.chat.stream(question, session, mode)

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
        from .factory import build_ollama_admin

        with build_ollama_admin(self.settings, timeout=5.0) as admin:
            return admin.status(self.settings.ollama.model)

    def setup_model(self, progress: Callable[["SetupProgress"], None] | None = None) -> None:
        """Create the configured model in Ollama from the Modelfile (pulling the base model first)."""
        from .factory import build_ollama_admin

        with build_ollama_admin(self.settings, timeout=self.settings.ollama.timeout) as admin:
            admin.setup_model(self.settings.ollama.model, self.settings.ollama.modelfile, progress)
        self._ctx_cache = None

    # ------------------------------------------------------------------ verifying

    def check(self) -> CheckReport:
        """Verify that the database, the vector index and the keyword index agree."""
        self.indexes.sync()
        problems = self.store.integrity_problems()
        n_docs, n_chunks, n_vectors = self.store.counts()
        ids, _ = self.store.vectors()
        db_ids = set(int(i) for i in ids)
        if self.indexes.faiss.ntotal != n_chunks:
            problems.append(f"vector index holds {self.indexes.faiss.ntotal} vectors for {n_chunks} chunks")
        elif self.indexes.ids() != db_ids:
            problems.append("vector index ids differ from the database's chunk ids")
        if set(int(i) for i in self.indexes.bm25.ids()) != db_ids:
            problems.append("keyword index ids differ from the database's chunk ids")
        for doc in self.documents():
            path = self.store.folder / "files" / f"{doc.file_hash}{Path(doc.file_name).suffix.lower()}"
            if not path.exists():
                problems.append(f"stored original of {doc.file_name} is missing (re-index will need the file)")
        if self.indexes.faiss.d != self.store.manifest.get("dim"):
            problems.append("vector index dimension differs from the manifest")
        return CheckReport(self.name, not problems, tuple(problems), n_docs, n_chunks, n_vectors)
