"""One knowledge base on disk: SQLite for documents, chunks and vectors; FAISS and BM25 files as indexes.

Layout of `<data_dir>/kbs/<name>/`:

    manifest.json   format version, name, embedder name and dimension, creation time
    kb.sqlite       documents, chunks (text + provenance + keyword terms), vectors (float32 blobs), meta
    index.faiss     faiss.write_index of IndexIDMap2(IndexFlatIP); ids are chunk row ids
    index.json      {"generation": G, "ntotal": N}: which database generation index.faiss reflects
    bm25/           the keyword index (kb/bm25.py), stamped with the generation it reflects
    .lock           flock()ed by writers, so two processes never write at once

The SQLite transaction is the single commit point. Index files are derived data, written
aside and renamed into place after the commit; if a crash leaves them behind the database
(their generation differs), they are rebuilt from the database on open. So a `kill -9` at
any moment leaves the previous or the next state, never a broken one. Nothing is pickled.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from .errors import EmbedderMismatch, StoreError
from .types import Chunk, Document

log = logging.getLogger(__name__)

FORMAT_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, file_name TEXT NOT NULL UNIQUE, file_hash TEXT NOT NULL,
    size_bytes INTEGER NOT NULL, kind TEXT NOT NULL, n_chunks INTEGER NOT NULL, n_pages INTEGER,
    ingested_at TEXT NOT NULL, metadata TEXT NOT NULL, warnings TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id), position INTEGER NOT NULL, text TEXT NOT NULL,
    content_hash TEXT NOT NULL, page INTEGER, page_end INTEGER, heading_path TEXT NOT NULL,
    kind TEXT NOT NULL, terms TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id, position);
CREATE TABLE IF NOT EXISTS vectors (rowid INTEGER PRIMARY KEY, vec BLOB NOT NULL);
"""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_atomic(path: Path, data: bytes) -> None:
    """Write aside, fsync, rename over: readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class KBStore:
    """The database side of one knowledge base. Thread-safe (one connection behind a lock)."""

    def __init__(self, folder: Path, name: str, manifest: dict[str, Any], read_only: bool = False):
        self.folder = folder
        self.name = name
        self.manifest = manifest
        self.read_only = read_only
        self._lock = threading.RLock()
        db = folder / "kb.sqlite"
        try:
            if read_only:
                # immutable: a read-only folder cannot hold the WAL's shared-memory file, and nobody writes it
                immutable = "&immutable=1" if not os.access(folder, os.W_OK) else ""
                self._conn = sqlite3.connect(f"file:{db}?mode=ro{immutable}", uri=True, timeout=60,
                                             check_same_thread=False)
            else:
                self._conn = sqlite3.connect(db, timeout=60, check_same_thread=False)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open the database of knowledge base '{name}' at {db}: {exc}. "
                             f"If it is damaged, run `python -m kb rebuild --kb {name}`") from exc

    # ------------------------------------------------------------------ lifecycle

    @staticmethod
    def create(folder: Path, name: str, embedder: str, dim: int) -> "KBStore":
        folder.mkdir(parents=True, exist_ok=True)
        manifest = {"format_version": FORMAT_VERSION, "name": name, "embedder": embedder, "dim": int(dim),
                    "created_at": utc_now()}
        write_atomic(folder / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode())
        return KBStore(folder, name, manifest)

    @staticmethod
    def read_manifest(folder: Path) -> dict[str, Any]:
        path = folder / "manifest.json"
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"The manifest {path} is missing or unreadable ({exc}). "
                             f"Recreate the knowledge base and ingest the files again") from exc
        if manifest.get("format_version") != FORMAT_VERSION:
            raise StoreError(f"{path} has format version {manifest.get('format_version')}, this KB Studio reads "
                             f"{FORMAT_VERSION}: upgrade KB Studio or re-create the knowledge base")
        return manifest

    @staticmethod
    def open(folder: Path, name: str, embedder: str | None = None, read_only: bool = False) -> "KBStore":
        manifest = KBStore.read_manifest(folder)
        if embedder is not None and manifest.get("embedder") != embedder:
            raise EmbedderMismatch(
                f"Knowledge base '{name}' was built with the embedder {manifest.get('embedder')!r} but "
                f"{embedder!r} is configured. Either set [embedder] name back, or re-embed everything with "
                f"`python -m kb rebuild --kb {name}`")
        return KBStore(folder, name, manifest, read_only=read_only)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def write_lock(self, timeout: float = 600.0) -> Iterator[None]:
        """Cross-process exclusive lock for writers (flock on `.lock`)."""
        self._check_writable()
        path = self.folder / ".lock"
        try:
            fh = open(path, "a+")
        except OSError as exc:
            raise StoreError(f"Cannot write to knowledge base '{self.name}' ({exc.strerror}): check the permissions "
                             f"of {self.folder} and free disk space") from exc
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StoreError(f"Knowledge base '{self.name}' is locked by another writer for over "
                                         f"{timeout:.0f} s: wait for the other ingest to finish") from None
                    time.sleep(0.05)
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()

    # ------------------------------------------------------------------ reads

    def generation(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def documents(self) -> list[Document]:
        with self._lock:
            rows = self._conn.execute("SELECT doc_id, file_name, file_hash, size_bytes, kind, n_chunks, n_pages, "
                                      "ingested_at, metadata, warnings FROM documents ORDER BY file_name").fetchall()
        return [self._doc(r) for r in rows]

    def document(self, key: str) -> Document | None:
        """A document by id or by file name."""
        with self._lock:
            row = self._conn.execute("SELECT doc_id, file_name, file_hash, size_bytes, kind, n_chunks, n_pages, "
                                     "ingested_at, metadata, warnings FROM documents WHERE doc_id=? OR file_name=?",
                                     (key, key)).fetchone()
        return self._doc(row) if row else None

    def _doc(self, r: Sequence[Any]) -> Document:
        return Document(doc_id=r[0], kb=self.name, file_name=r[1], file_hash=r[2], size_bytes=r[3], kind=r[4],
                        n_chunks=r[5], n_pages=r[6], ingested_at=r[7], metadata=json.loads(r[8]),
                        warnings=tuple(json.loads(r[9])))

    _CHUNK_COLS = "c.rowid, c.id, c.doc_id, d.file_name, c.position, c.text, c.content_hash, c.page, c.page_end, " \
                  "c.heading_path, c.kind"

    def _chunk(self, r: Sequence[Any]) -> tuple[int, Chunk]:
        return r[0], Chunk(id=r[1], kb=self.name, doc_id=r[2], file_name=r[3], position=r[4], text=r[5],
                           content_hash=r[6], page=r[7], page_end=r[8], heading_path=tuple(json.loads(r[9])),
                           kind=r[10])

    def chunks(self, doc_id: str | None = None) -> list[Chunk]:
        sql = f"SELECT {self._CHUNK_COLS} FROM chunks c JOIN documents d USING (doc_id)"
        args: tuple[Any, ...] = ()
        if doc_id is not None:
            sql += " WHERE c.doc_id=?"
            args = (doc_id,)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY d.file_name, c.position", args).fetchall()
        return [self._chunk(r)[1] for r in rows]

    def chunks_by_rowid(self, rowids: Sequence[int]) -> dict[int, Chunk]:
        out: dict[int, Chunk] = {}
        ids = [int(i) for i in rowids]
        with self._lock:
            for i in range(0, len(ids), 500):
                batch = ids[i:i + 500]
                marks = ",".join("?" * len(batch))
                for r in self._conn.execute(f"SELECT {self._CHUNK_COLS} FROM chunks c JOIN documents d USING (doc_id) "
                                            f"WHERE c.rowid IN ({marks})", batch):
                    rowid, chunk = self._chunk(r)
                    out[rowid] = chunk
        return out

    def rowids_for_docs(self, doc_ids: Sequence[str]) -> list[int]:
        with self._lock:
            marks = ",".join("?" * len(doc_ids))
            return [r[0] for r in self._conn.execute(f"SELECT rowid FROM chunks WHERE doc_id IN ({marks})",
                                                     list(doc_ids))]

    def vectors(self, rowids: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(row ids, matrix) of stored vectors; all of them when `rowids` is None."""
        dim = int(self.manifest["dim"])
        with self._lock:
            if rowids is None:
                rows = self._conn.execute("SELECT rowid, vec FROM vectors ORDER BY rowid").fetchall()
            else:
                rows = []
                ids = [int(i) for i in rowids]
                for i in range(0, len(ids), 500):
                    batch = ids[i:i + 500]
                    rows += self._conn.execute(f"SELECT rowid, vec FROM vectors WHERE rowid IN "
                                               f"({','.join('?' * len(batch))})", batch).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        if not rows:
            return ids, np.zeros((0, dim), dtype=np.float32)
        mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        return ids, mat

    def terms(self) -> tuple[list[int], list[list[str]]]:
        with self._lock:
            rows = self._conn.execute("SELECT rowid, terms FROM chunks ORDER BY rowid").fetchall()
        return [r[0] for r in rows], [r[1].split(" ") if r[1] else [] for r in rows]

    def counts(self) -> tuple[int, int, int]:
        with self._lock:
            d = self._conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
            c = self._conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
            v = self._conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        return d, c, v

    def integrity_problems(self) -> list[str]:
        problems = []
        with self._lock:
            result = self._conn.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                problems.append(f"SQLite integrity check: {result}")
            orphans = self._conn.execute("SELECT COUNT(*) FROM chunks WHERE doc_id NOT IN "
                                         "(SELECT doc_id FROM documents)").fetchone()[0]
            if orphans:
                problems.append(f"{orphans} chunk(s) belong to no document")
            missing = self._conn.execute("SELECT COUNT(*) FROM chunks WHERE rowid NOT IN "
                                         "(SELECT rowid FROM vectors)").fetchone()[0]
            if missing:
                problems.append(f"{missing} chunk(s) have no vector")
            extra = self._conn.execute("SELECT COUNT(*) FROM vectors WHERE rowid NOT IN "
                                       "(SELECT rowid FROM chunks)").fetchone()[0]
            if extra:
                problems.append(f"{extra} vector(s) belong to no chunk")
            bad_counts = self._conn.execute(
                "SELECT d.file_name FROM documents d LEFT JOIN chunks c USING (doc_id) GROUP BY d.doc_id "
                "HAVING COUNT(c.rowid) != d.n_chunks").fetchall()
            problems += [f"document {r[0]} has a wrong chunk count" for r in bad_counts]
        return problems

    # ------------------------------------------------------------------ writes

    def replace_document(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray,
                         terms: Sequence[Sequence[str]]) -> tuple[list[int], list[int]]:
        """Put a document (replacing one of the same file name) in one transaction.

        Returns (new row ids, removed row ids) so the caller can update its in-memory indexes.
        """
        if len(chunks) != len(vectors) or len(chunks) != len(terms):
            raise ValueError("chunks, vectors and terms must have the same length")
        self._check_writable()
        with self._lock, self._writing(f"saving {doc.file_name}"), self._conn:
            old = self._conn.execute("SELECT doc_id FROM documents WHERE file_name=? OR doc_id=?",
                                     (doc.file_name, doc.doc_id)).fetchall()
            removed = self._delete_rows([r[0] for r in old])
            self._conn.execute(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?)",
                (doc.doc_id, doc.file_name, doc.file_hash, doc.size_bytes, doc.kind, doc.n_chunks, doc.n_pages,
                 doc.ingested_at, json.dumps(doc.metadata, ensure_ascii=False),
                 json.dumps(list(doc.warnings), ensure_ascii=False)))
            added = []
            for chunk, vec, toks in zip(chunks, vectors, terms):
                cur = self._conn.execute(
                    "INSERT INTO chunks (id, doc_id, position, text, content_hash, page, page_end, heading_path, "
                    "kind, terms) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (chunk.id, chunk.doc_id, chunk.position, chunk.text, chunk.content_hash, chunk.page,
                     chunk.page_end, json.dumps(list(chunk.heading_path), ensure_ascii=False), chunk.kind,
                     " ".join(t.replace(" ", "_") for t in toks)))
                added.append(int(cur.lastrowid))
                self._conn.execute("INSERT INTO vectors (rowid, vec) VALUES (?,?)",
                                   (cur.lastrowid, np.asarray(vec, dtype=np.float32).tobytes()))
            self._bump()
        return added, removed

    def delete_document(self, doc_id: str) -> list[int]:
        self._check_writable()
        with self._lock, self._writing("deleting a document"), self._conn:
            removed = self._delete_rows([doc_id])
            self._bump()
        return removed

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"Knowledge base '{self.name}' is open read-only ({self.folder} cannot be written): "
                             "check the folder's permissions or free disk space; searching still works")

    @contextlib.contextmanager
    def _writing(self, action: str) -> Iterator[None]:
        """Translate SQLite write failures (disk full, read-only, I/O) into StoreError; the transaction rolls back."""
        try:
            yield
        except sqlite3.Error as exc:
            text = str(exc)
            hint = ("the disk is full: free some space and try again" if "full" in text
                    else "the data folder is read-only: check its permissions" if "readonly" in text
                    else "check the disk and the folder's permissions")
            raise StoreError(f"Could not write knowledge base '{self.name}' while {action} ({text}): {hint}. "
                             "Nothing was changed") from exc

    def _delete_rows(self, doc_ids: list[str]) -> list[int]:
        if not doc_ids:
            return []
        marks = ",".join("?" * len(doc_ids))
        removed = [r[0] for r in self._conn.execute(f"SELECT rowid FROM chunks WHERE doc_id IN ({marks})", doc_ids)]
        self._conn.execute(f"DELETE FROM vectors WHERE rowid IN (SELECT rowid FROM chunks WHERE doc_id IN ({marks}))",
                           doc_ids)
        self._conn.execute(f"DELETE FROM chunks WHERE doc_id IN ({marks})", doc_ids)
        self._conn.execute(f"DELETE FROM documents WHERE doc_id IN ({marks})", doc_ids)
        return removed

    def _bump(self) -> None:
        self._conn.execute("INSERT INTO meta (key, value) VALUES ('generation', '1') ON CONFLICT(key) "
                           "DO UPDATE SET value = CAST(value AS INTEGER) + 1")
