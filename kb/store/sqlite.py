"""The database of one knowledge base: SQLite in WAL mode, the single commit point.

`KBStore` hands out two kinds of access, and nothing else touches the database:
- `read()`: a `ReadView` inside one read transaction. WAL gives it a fixed view of one committed
  generation for as long as it is open, however many writes commit meanwhile.
- `writer()`: a `Writer`, under the knowledge base's writer lock (kb/store/lock.py). Each of its
  write methods is one transaction that bumps `generation` and records in `changelog` which chunk
  row ids it added and removed, so readers can bring their in-memory indexes up to date.

Before every read and write the store checks that its database file is still the one in the folder:
a knowledge base deleted under a long-lived process raises `kb.deleted`; one repaired in place (the
same uuid in a new file) is reopened. So nothing is ever written into a database that was replaced.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import uuid as uuidlib
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from kb.errors import EmbedderMismatch, KBError, KnowledgeBaseNotFound, StoreError
from kb.types import Chunk, Document
from kb.store import curation as cur
from kb.store.curation import Curation, Edit
from kb.store.files import utc_now, write_atomic
from kb.store.lock import WriterLock

log = logging.getLogger(__name__)

FORMAT_VERSION = 4  # 3: curation and edits (kb/store/curation.py); 4: chunks.origin
READABLE_VERSIONS = (1, 2, 3, 4)
LOG_KEEP = 256  # generations of changelog kept; a reader further behind reloads its indexes whole
DB_NAME = "kb.sqlite"
MANIFEST_KEYS = ("name", "embedder", "dim", "created_at")

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
    kind TEXT NOT NULL, terms TEXT NOT NULL, origin TEXT);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id, position);
CREATE TABLE IF NOT EXISTS vectors (rowid INTEGER PRIMARY KEY, vec BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS changelog (generation INTEGER NOT NULL, rowid INTEGER NOT NULL, added INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS changelog_gen ON changelog(generation);
""" + cur.SCHEMA


def read_manifest(folder: Path, name: str) -> dict[str, Any]:
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError("store.manifest_missing", kb=name, path=str(path)) from None
    except (OSError, ValueError) as exc:
        raise StoreError("store.manifest_damaged", kb=name, path=str(path), reason=str(exc)) from exc
    if not isinstance(manifest, dict):
        raise StoreError("store.manifest_damaged", kb=name, path=str(path), reason="not a JSON object")
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise StoreError("store.manifest_damaged", kb=name, path=str(path), reason="missing " + ", ".join(missing))
    version = manifest.get("format_version")
    if version not in READABLE_VERSIONS:
        raise StoreError("store.format_newer", kb=name, path=str(path), version=str(version),
                         supported=FORMAT_VERSION)
    if not isinstance(manifest["dim"], int) or manifest["dim"] <= 0:
        raise StoreError("store.manifest_damaged", kb=name, path=str(path), reason="dim is not a positive integer")
    return manifest


def write_manifest(folder: Path, name: str, uuid: str, embedder: str, dim: int, created_at: str) -> None:
    manifest = {"format_version": FORMAT_VERSION, "name": name, "uuid": uuid, "embedder": embedder, "dim": int(dim),
                "created_at": created_at}
    write_atomic(folder / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode())


def _connect(db: Path, read_only: bool, immutable: bool = False) -> sqlite3.Connection:
    if read_only:
        flags = "mode=ro" + ("&immutable=1" if immutable else "")
        conn = sqlite3.connect(f"file:{db}?{flags}", uri=True, timeout=60, check_same_thread=False,
                               isolation_level=None)
    else:
        conn = sqlite3.connect(db, timeout=60, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    return conn


def connect_ro(db: Path, timeout: float = 10) -> sqlite3.Connection:
    """A read-only connection. On a folder nobody can write (a read-only mount) the WAL's shared-memory
    file cannot exist, so the database is opened immutable: nobody can be writing it either."""
    immutable = "&immutable=1" if not os.access(db.parent, os.W_OK) else ""
    return sqlite3.connect(f"file:{db}?mode=ro{immutable}", uri=True, timeout=timeout, isolation_level=None,
                           check_same_thread=False)


def db_error(exc: sqlite3.Error, kb: str, db: Path) -> StoreError:
    """What a failure to read the database means. SQLite in WAL mode needs a few KB free to open even for
    reading, so on a full disk a healthy database fails with "disk I/O error": say that, not "damaged"."""
    try:
        free = shutil.disk_usage(db.parent).free
    except OSError:
        free = None
    if free is not None and free < 1_000_000:
        return StoreError("store.disk_full_read", kb=kb, path=str(db.parent))
    return StoreError("store.db_damaged", kb=kb, path=str(db), reason=str(exc))


def _meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def has_origin(conn: sqlite3.Connection) -> bool:
    return any(r[1] == "origin" for r in conn.execute("PRAGMA table_info(chunks)"))


def _origin(value: str | None) -> dict[str, Any] | None:
    """A stored `origin`: a JSON object, or NULL. Anything else (a hand-edited row) reads as no origin."""
    if not value:
        return None
    try:
        got = json.loads(value)
    except ValueError:
        return None
    return got if isinstance(got, dict) else None


def origin_json(chunk: Chunk) -> str | None:
    origin = chunk.origin()
    return None if origin is None else json.dumps(origin, ensure_ascii=False)


class _Reads:
    """Read queries over one connection; shared by ReadView (a read transaction) and Writer."""

    _conn: sqlite3.Connection
    name: str

    _DOC_COLS = "doc_id, file_name, file_hash, size_bytes, kind, n_chunks, n_pages, ingested_at, metadata, warnings"
    _BASE_COLS = ("c.rowid, c.id, c.doc_id, d.file_name, c.position, c.text, c.content_hash, c.page, c.page_end, "
                  "c.heading_path, c.kind")
    _origin_col: str | None = None

    @property
    def _CHUNK_COLS(self) -> str:
        """The chunk columns; a format-3 database opened read-only (never migrated) has no `origin`."""
        if self._origin_col is None:
            self._origin_col = "c.origin" if has_origin(self._conn) else "NULL"
        return f"{self._BASE_COLS}, {self._origin_col}"

    def meta(self) -> dict[str, str]:
        return _meta(self._conn)

    def generation(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def documents(self) -> list[Document]:
        rows = self._conn.execute(f"SELECT {self._DOC_COLS} FROM documents ORDER BY file_name").fetchall()
        return [self._doc(r) for r in rows]

    def document(self, key: str) -> Document | None:
        """A document by id or by file name."""
        row = self._conn.execute(f"SELECT {self._DOC_COLS} FROM documents WHERE doc_id=? OR file_name=?",
                                 (key, key)).fetchone()
        return self._doc(row) if row else None

    def _doc(self, r: Sequence[Any]) -> Document:
        return Document(doc_id=r[0], kb=self.name, file_name=r[1], file_hash=r[2], size_bytes=r[3], kind=r[4],
                        n_chunks=r[5], n_pages=r[6], ingested_at=r[7], metadata=json.loads(r[8]),
                        warnings=tuple(json.loads(r[9])))

    def _chunk(self, r: Sequence[Any]) -> tuple[int, Chunk]:
        return r[0], Chunk(id=r[1], kb=self.name, doc_id=r[2], file_name=r[3], position=r[4], text=r[5],
                           content_hash=r[6], page=r[7], page_end=r[8], heading_path=tuple(json.loads(r[9])),
                           kind=r[10], **Chunk.origin_fields(_origin(r[11])))

    def chunks(self, doc_id: str | None = None) -> list[Chunk]:
        sql = f"SELECT {self._CHUNK_COLS} FROM chunks c JOIN documents d USING (doc_id)"
        args: tuple[Any, ...] = ()
        if doc_id is not None:
            sql += " WHERE c.doc_id=?"
            args = (doc_id,)
        rows = self._conn.execute(sql + " ORDER BY d.file_name, c.position", args).fetchall()
        return [self._chunk(r)[1] for r in rows]

    def chunk_rows(self, doc_id: str | None = None) -> list[tuple[int, Chunk]]:
        """(row id, chunk) pairs, in reading order."""
        sql = f"SELECT {self._CHUNK_COLS} FROM chunks c JOIN documents d USING (doc_id)"
        args: tuple[Any, ...] = ()
        if doc_id is not None:
            sql += " WHERE c.doc_id=?"
            args = (doc_id,)
        return [self._chunk(r) for r in self._conn.execute(sql + " ORDER BY d.file_name, c.position", args)]

    def chunks_by_rowid(self, rowids: Sequence[int]) -> dict[int, Chunk]:
        out: dict[int, Chunk] = {}
        ids = [int(i) for i in rowids]
        for i in range(0, len(ids), 500):
            batch = ids[i:i + 500]
            marks = ",".join("?" * len(batch))
            for r in self._conn.execute(f"SELECT {self._CHUNK_COLS} FROM chunks c JOIN documents d USING (doc_id) "
                                        f"WHERE c.rowid IN ({marks})", batch):
                rowid, chunk = self._chunk(r)
                out[rowid] = chunk
        return out

    def rowids_for_docs(self, doc_ids: Sequence[str]) -> list[int]:
        marks = ",".join("?" * len(doc_ids))
        return [r[0] for r in self._conn.execute(f"SELECT rowid FROM chunks WHERE doc_id IN ({marks})",
                                                 list(doc_ids))]

    def dim(self) -> int:
        return int(self.meta().get("dim", "0"))

    def _enabled_rows(self, column: str, table: str, rowids: Sequence[int] | None) -> list[tuple[int, Any]]:
        """(row id, column) of the rows an index holds (disabled chunks left out), all or some, by row id."""
        on = f" WHERE {cur.ENABLED}" if cur.has_tables(self._conn) else ""
        if rowids is None:
            return self._conn.execute(f"SELECT rowid, {column} FROM {table}{on} ORDER BY rowid").fetchall()
        rows: list[tuple[int, Any]] = []
        ids = [int(i) for i in rowids]
        and_on = on.replace(" WHERE ", " AND ")
        for i in range(0, len(ids), 500):
            batch = ids[i:i + 500]
            rows += self._conn.execute(f"SELECT rowid, {column} FROM {table} WHERE rowid IN "
                                       f"({','.join('?' * len(batch))}){and_on} ORDER BY rowid", batch).fetchall()
        return rows

    def vectors(self, rowids: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(row ids, matrix) of stored vectors; all of them when `rowids` is None.

        Raises StoreError when a stored vector does not have the knowledge base's dimension."""
        dim = self.dim()
        rows = self._enabled_rows("vec", "vectors", rowids)
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        if not rows:
            return ids, np.zeros((0, dim), dtype=np.float32)
        bad = [r[0] for r in rows if not isinstance(r[1], bytes) or len(r[1]) != dim * 4]
        if bad:
            raise StoreError("store.vectors_damaged", kb=self.name, n=len(bad))
        mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        return ids, mat

    def every_vector(self) -> tuple[np.ndarray, np.ndarray]:
        """(row ids, matrix) of every stored vector, disabled chunks' included (kb/curate/migrate.py copies them all)."""
        dim = self.dim()
        rows = self._conn.execute("SELECT rowid, vec FROM vectors ORDER BY rowid").fetchall()
        if any(not isinstance(r[1], bytes) or len(r[1]) != dim * 4 for r in rows):
            raise StoreError("store.vectors_damaged", kb=self.name, n=len(rows))
        mat = (np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim) if rows
               else np.zeros((0, dim), dtype=np.float32))
        return np.array([r[0] for r in rows], dtype=np.int64), mat

    def every_terms(self) -> tuple[list[int], list[list[str]]]:
        """(row ids, keyword terms) of every chunk, disabled ones included."""
        rows = self._conn.execute("SELECT rowid, terms FROM chunks ORDER BY rowid").fetchall()
        return [r[0] for r in rows], [r[1].split(" ") if r[1] else [] for r in rows]

    def terms(self, rowids: Sequence[int] | None = None) -> tuple[list[int], list[list[str]]]:
        """(row ids, keyword terms) of chunks an index holds: disabled chunks are left out."""
        rows = self._enabled_rows("terms", "chunks", rowids)
        return [r[0] for r in rows], [r[1].split(" ") if r[1] else [] for r in rows]

    def counts(self) -> tuple[int, int, int]:
        d = self._conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        c = self._conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        v = self._conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        return d, c, v

    def n_enabled(self) -> int:
        """Chunks an index holds (disabled ones are left out)."""
        if not cur.has_tables(self._conn):
            return self.counts()[1]
        return self._conn.execute(f"SELECT COUNT(*) FROM chunks WHERE {cur.ENABLED}").fetchone()[0]

    def chunk_row(self, chunk_id: str) -> tuple[int, Chunk] | None:
        r = self._conn.execute(f"SELECT {self._CHUNK_COLS} FROM chunks c JOIN documents d USING (doc_id) "
                               "WHERE c.id=?", (chunk_id,)).fetchone()
        return self._chunk(r) if r else None

    def curation(self, doc_id: str | None = None) -> list[Curation]:
        return cur.rows(self._conn, doc_id)

    def edits(self, since: str | None = None, limit: int = 1000) -> list[Edit]:
        return cur.edits(self._conn, since, limit)

    def questions(self) -> list[dict[str, Any]]:
        return cur.questions(self._conn)

    def activity(self, since: str) -> list[dict[str, Any]]:
        return cur.activity(self._conn, since)

    def changes_since(self, generation: int) -> list[tuple[int, bool]] | None:
        """(row id, added?) of every change after `generation`, in order; None when the log no
        longer reaches that far back (the caller then reloads whole)."""
        floor = int(self.meta().get("log_floor", "0"))
        if generation < floor:
            return None
        rows = self._conn.execute("SELECT rowid, added FROM changelog WHERE generation > ? "
                                  "ORDER BY generation, added", (generation,)).fetchall()
        return [(int(r[0]), bool(r[1])) for r in rows]


class ReadView(_Reads):
    """One read transaction: everything read through it belongs to `generation`."""

    def __init__(self, conn: sqlite3.Connection, name: str, own: bool):
        self._conn = conn
        self.name = name
        self._own = own
        if own:
            conn.execute("BEGIN")
        self._load()

    def _load(self) -> None:
        meta = self.meta()  # the first read fixes the transaction's view
        self.generation_value = int(meta.get("generation", "0"))
        self.uuid = meta.get("uuid", "")
        self.embedder = meta.get("embedder", "")

    def generation(self) -> int:  # type: ignore[override]
        return self.generation_value

    def renew(self) -> None:
        """Move the view to the newest committed generation."""
        if self._own:
            self._conn.execute("ROLLBACK")
            self._conn.execute("BEGIN")
        self._load()


class Writer(_Reads):
    """Writes of one knowledge base; exists only while the writer lock is held (KBStore.writer)."""

    def __init__(self, store: "KBStore", conn: sqlite3.Connection):
        self.store = store
        self._conn = conn
        self.name = store.name

    @property
    def uuid(self) -> str:
        return self.meta().get("uuid", "")

    @property
    def embedder(self) -> str:
        return self.meta().get("embedder", "")

    def renew(self) -> None:
        """The writer always sees the newest state (it is the only one writing)."""

    @contextlib.contextmanager
    def transaction(self, action: str) -> Iterator[int]:
        """One write transaction; yields the generation it commits. Rolls back on any failure."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._write_error(exc, action) from exc
        try:
            generation = self.generation() + 1
            yield generation
            self._conn.execute("INSERT INTO meta (key, value) VALUES ('generation', ?) ON CONFLICT(key) "
                               "DO UPDATE SET value = excluded.value", (str(generation),))
            self._prune_log(generation)
            self._conn.execute("COMMIT")
        except BaseException as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._write_error(exc, action) from exc
            raise

    def _write_error(self, exc: sqlite3.Error, action: str) -> StoreError:
        text = str(exc)
        code = ("store.disk_full" if "full" in text else "store.disk_read_only" if "readonly" in text
                else "store.write_failed")
        return StoreError(code, kb=self.name, action=action, reason=text)

    def _prune_log(self, generation: int) -> None:
        """Drop changelog rows older than LOG_KEEP generations. The floor only ever rises: a rebuild in this
        same transaction may have raised it to `generation` (its rows are not logged), and lowering it again
        would let a reader apply an empty log over a whole new content."""
        floor = generation - LOG_KEEP
        current = int(self.meta().get("log_floor", "0"))
        if floor > current and generation % 32 == 0:
            self._conn.execute("DELETE FROM changelog WHERE generation <= ?", (floor,))
            self._set("log_floor", str(floor))

    def _set(self, key: str, value: str) -> None:
        self._conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) "
                           "DO UPDATE SET value = excluded.value", (key, value))

    def _log(self, generation: int, rowids: Sequence[int], added: bool) -> None:
        self._conn.executemany("INSERT INTO changelog (generation, rowid, added) VALUES (?,?,?)",
                               [(generation, int(r), int(added)) for r in rowids])

    # ------------------------------------------------------------------ writes

    def replace_document(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray,
                         terms: Sequence[Sequence[str]], curation: Sequence[Curation] | None = None,
                         edits: Sequence[Edit] = ()) -> tuple[list[int], list[int]]:
        """Put a document (replacing one of the same file name or id) in one transaction.
        `curation`, when given, replaces the document's curation rows (kb/curate/chunks.py made them match the
        new chunks) and `edits` are logged with it. Returns (new row ids, removed row ids)."""
        if len(chunks) != len(vectors) or len(chunks) != len(terms):
            raise ValueError("chunks, vectors and terms must have the same length")
        with self.transaction(f"saving {doc.file_name}") as generation:
            old = self._conn.execute("SELECT doc_id FROM documents WHERE file_name=? OR doc_id=?",
                                     (doc.file_name, doc.doc_id)).fetchall()
            removed = self._delete_rows([r[0] for r in old])
            added = self._insert(doc, chunks, vectors, terms)
            cur.record(self._conn, "replaced" if old else "added", doc.doc_id, doc.file_name, len(chunks))
            if curation is not None:
                cur.replace_for_doc(self._conn, doc.doc_id, curation)
                cur.log(self._conn, edits)
            self._log(generation, removed, False)
            self._log(generation, added, True)
        return added, removed

    def delete_document(self, doc_id: str) -> list[int]:
        with self.transaction("deleting a document") as generation:
            row = self._conn.execute("SELECT file_name FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
            removed = self._delete_rows([doc_id])
            self._conn.execute("DELETE FROM curation WHERE doc_id=?", (doc_id,))
            if row is not None:
                cur.record(self._conn, "removed", doc_id, row[0], len(removed))
            self._log(generation, removed, False)
        return removed

    def replace_all(self, items: Sequence[tuple[Document, Sequence[Chunk], np.ndarray, Sequence[Sequence[str]]]],
                    embedder: str, dim: int, curation: Sequence[Curation] | None = None,
                    edits: Sequence[Edit] = ()) -> None:
        """Swap in a whole new content (rebuild, repair) in one transaction; readers reload whole.
        `curation`, when given, replaces every curation row (re-applied to the new chunks)."""
        with self.transaction("rebuilding") as generation:
            if curation is not None:
                self._conn.execute("DELETE FROM curation")
                for row in curation:
                    cur.put(self._conn, row)
                cur.log(self._conn, edits)
            self._conn.execute("DELETE FROM vectors")
            self._conn.execute("DELETE FROM chunks")
            self._conn.execute("DELETE FROM documents")
            self._conn.execute("DELETE FROM changelog")
            for doc, chunks, vectors, terms in items:
                self._insert(doc, chunks, vectors, terms)
            self._set("embedder", embedder)
            self._set("dim", str(int(dim)))
            self._set("log_floor", str(generation))

    def replace_vectors(self, vectors: dict[int, np.ndarray]) -> None:
        """New vectors for existing chunks (a repair of damaged vectors)."""
        with self.transaction("repairing vectors") as generation:
            for rowid, vec in vectors.items():
                self._conn.execute("UPDATE vectors SET vec=? WHERE rowid=?",
                                   (np.asarray(vec, dtype=np.float32).tobytes(), int(rowid)))
                self._conn.execute("INSERT OR IGNORE INTO vectors (rowid, vec) VALUES (?,?)",
                                   (int(rowid), np.asarray(vec, dtype=np.float32).tobytes()))
            self._log(generation, list(vectors), False)
            self._log(generation, list(vectors), True)

    def edit_chunk(self, rowid: int, text: str, content_hash: str, vector: np.ndarray, terms: Sequence[str],
                   row: Curation, edit: Edit) -> None:
        """A chunk's new text, vector and keyword terms, its curation row and the log line: one transaction.
        The row id stays; the changelog records it removed and added, so every index takes the new text."""
        with self.transaction("editing a chunk") as generation:
            self._conn.execute("UPDATE chunks SET text=?, content_hash=?, terms=? WHERE rowid=?",
                               (text, content_hash, " ".join(t.replace(" ", "_") for t in terms), int(rowid)))
            self._conn.execute("UPDATE vectors SET vec=? WHERE rowid=?",
                               (np.asarray(vector, dtype=np.float32).tobytes(), int(rowid)))
            cur.put(self._conn, row)
            cur.log(self._conn, [edit])
            self._log(generation, [rowid], False)
            self._log(generation, [rowid], True)

    def set_curation(self, rowid: int, row: Curation, edit: Edit) -> None:
        """Disable or enable a chunk: the row stays, the indexes drop it or take it back."""
        with self.transaction("disabling a chunk") as generation:
            cur.put(self._conn, row)
            cur.log(self._conn, [edit])
            self._log(generation, [rowid], not row.disabled)

    def add_chunk(self, chunk: Chunk, vector: np.ndarray, terms: Sequence[str], row: Curation, edit: Edit) -> int:
        """A chunk written by hand, appended to its document."""
        with self.transaction("adding a chunk") as generation:
            cursor = self._conn.execute(
                "INSERT INTO chunks (id, doc_id, position, text, content_hash, page, page_end, heading_path, "
                "kind, terms, origin) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (chunk.id, chunk.doc_id, chunk.position, chunk.text, chunk.content_hash, chunk.page,
                 chunk.page_end, json.dumps(list(chunk.heading_path), ensure_ascii=False), chunk.kind,
                 " ".join(t.replace(" ", "_") for t in terms), origin_json(chunk)))
            rowid = int(cursor.lastrowid)
            self._conn.execute("INSERT INTO vectors (rowid, vec) VALUES (?,?)",
                               (rowid, np.asarray(vector, dtype=np.float32).tobytes()))
            self._conn.execute("UPDATE documents SET n_chunks = n_chunks + 1 WHERE doc_id=?", (chunk.doc_id,))
            cur.put(self._conn, row)
            cur.log(self._conn, [edit])
            self._log(generation, [rowid], True)
        return rowid

    def add_question(self, question: str, chunk_id: str, file_name: str, evidence: str) -> bool:
        """A question and the chunk marked right for it, in the personal eval set; False if already there."""
        with self.transaction("marking a chunk relevant"):
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO questions (at, who, question, chunk_id, file_name, evidence) "
                "VALUES (?,?,?,?,?,?)", (utc_now(), cur.who(), question, chunk_id, file_name, evidence))
        return cursor.rowcount > 0

    def remove_orphans(self) -> int:
        """Chunks of no document and vectors of no chunk (left by damage, never by our writes)."""
        with self.transaction("removing orphans") as generation:
            rows = [r[0] for r in self._conn.execute(
                "SELECT rowid FROM chunks WHERE doc_id NOT IN (SELECT doc_id FROM documents)")]
            self._conn.execute("DELETE FROM vectors WHERE rowid IN (SELECT rowid FROM chunks WHERE doc_id NOT IN "
                               "(SELECT doc_id FROM documents))")
            self._conn.execute("DELETE FROM chunks WHERE doc_id NOT IN (SELECT doc_id FROM documents)")
            extra = self._conn.execute("DELETE FROM vectors WHERE rowid NOT IN (SELECT rowid FROM chunks)").rowcount
            extra += self._conn.execute("DELETE FROM curation WHERE chunk_id NOT IN (SELECT id FROM chunks)").rowcount
            self._log(generation, rows, False)
        return len(rows) + max(extra, 0)

    def fix_chunk_counts(self) -> int:
        with self.transaction("correcting chunk counts"):
            cur = self._conn.execute("UPDATE documents SET n_chunks = (SELECT COUNT(*) FROM chunks c WHERE "
                                     "c.doc_id = documents.doc_id) WHERE n_chunks != (SELECT COUNT(*) FROM chunks c "
                                     "WHERE c.doc_id = documents.doc_id)")
        return max(cur.rowcount, 0)

    def _insert(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray,
                terms: Sequence[Sequence[str]]) -> list[int]:
        self._conn.execute(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?)",
            (doc.doc_id, doc.file_name, doc.file_hash, doc.size_bytes, doc.kind, doc.n_chunks, doc.n_pages,
             doc.ingested_at, json.dumps(doc.metadata, ensure_ascii=False),
             json.dumps(list(doc.warnings), ensure_ascii=False)))
        added = []
        for chunk, vec, toks in zip(chunks, vectors, terms):
            cur = self._conn.execute(
                "INSERT INTO chunks (id, doc_id, position, text, content_hash, page, page_end, heading_path, "
                "kind, terms, origin) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (chunk.id, chunk.doc_id, chunk.position, chunk.text, chunk.content_hash, chunk.page,
                 chunk.page_end, json.dumps(list(chunk.heading_path), ensure_ascii=False), chunk.kind,
                 " ".join(t.replace(" ", "_") for t in toks), origin_json(chunk)))
            added.append(int(cur.lastrowid))
            self._conn.execute("INSERT INTO vectors (rowid, vec) VALUES (?,?)",
                               (cur.lastrowid, np.asarray(vec, dtype=np.float32).tobytes()))
        return added

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


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def assess_database(folder: Path, name: str) -> None:
    """Raise the StoreError that says what is wrong with the database file, if anything is."""
    db = folder / DB_NAME
    if not db.exists():
        raise StoreError("store.db_missing", kb=name, path=str(db))
    if db.stat().st_size == 0:
        raise StoreError("store.db_empty", kb=name, path=str(db))
    try:
        conn = connect_ro(db)
        try:
            meta = _meta(conn)
            n_docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise db_error(exc, name, db) from exc
    if not meta and n_docs == 0 and any((folder / "files").glob("*")):
        # a database that never recorded a write, next to stored originals: it was wiped or replaced
        raise StoreError("store.db_empty", kb=name, path=str(db))


class KBStore:
    """The database side of one knowledge base. Thread-safe; see the module docstring."""

    def __init__(self, folder: Path, name: str, read_only: bool = False, lock_timeout: float = 1800.0):
        self.folder = folder
        self.name = name
        self.db_path = folder / DB_NAME
        self.read_only = read_only or not os.access(folder, os.W_OK)
        self.lock = WriterLock(folder, name, lock_timeout)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._epoch = 0
        self._writer_conn: sqlite3.Connection | None = None
        self._closed = False
        manifest = read_manifest(folder, name)
        assess_database(folder, name)
        self._identity = _file_id(self.db_path)
        if not self.read_only:
            self._migrate(manifest)
        with self.read() as view:
            meta = view.meta()
        self.uuid = meta.get("uuid") or manifest.get("uuid", "")
        self.embedder_name = meta.get("embedder") or manifest["embedder"]
        self.dim = int(meta.get("dim") or manifest["dim"])
        self.created_at = manifest["created_at"]

    # ------------------------------------------------------------------ lifecycle

    @staticmethod
    def create(folder: Path, name: str, embedder: str, dim: int) -> "KBStore":
        """A new, empty knowledge base: the database first, then the manifest that makes it visible."""
        folder.mkdir(parents=True, exist_ok=True)
        conn = _connect(folder / DB_NAME, read_only=False)
        kb_uuid = uuidlib.uuid4().hex
        try:
            conn.executescript(_SCHEMA)
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             [("uuid", kb_uuid), ("embedder", embedder), ("dim", str(int(dim))),
                              ("generation", "0"), ("log_floor", "0"), ("format_version", str(FORMAT_VERSION))])
        finally:
            conn.close()
        write_manifest(folder, name, kb_uuid, embedder, dim, utc_now())
        return KBStore(folder, name)

    @staticmethod
    def open(folder: Path, name: str, embedder: str | None = None, read_only: bool = False,
             lock_timeout: float = 1800.0) -> "KBStore":
        store = KBStore(folder, name, read_only=read_only, lock_timeout=lock_timeout)
        if embedder is not None and store.embedder_name != embedder:
            store.close()
            raise EmbedderMismatch("store.embedder_mismatch", kb=name, built=store.embedder_name, configured=embedder)
        return store

    def _migrate(self, manifest: dict[str, Any]) -> None:
        """Bring an older database up to the current format, in place: format 1 lacks the uuid and the
        changelog, format 2 the curation and edits tables (3), format 3 the chunks' `origin` column (4),
        which is filled from what format 3 wrote into the heading path (kb/store/origin.py). Every step
        only adds; the whole migration is one transaction."""
        conn = _connect(self.db_path, read_only=False)
        try:
            meta = _meta(conn)
            if meta.get("format_version") == str(FORMAT_VERSION) and "uuid" in meta and has_origin(conn):
                return
            conn.executescript(_SCHEMA)  # idempotent: adds what format 1 lacks
            conn.execute("BEGIN IMMEDIATE")
            if not has_origin(conn):
                from kb.store.origin import backfill

                conn.execute("ALTER TABLE chunks ADD COLUMN origin TEXT")
                backfill(conn)
            kb_uuid = meta.get("uuid") or manifest.get("uuid") or uuidlib.uuid4().hex
            gen = meta.get("generation", "0")
            conn.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                             [("uuid", kb_uuid), ("embedder", manifest["embedder"]), ("dim", str(manifest["dim"])),
                              ("generation", gen), ("log_floor", gen)])
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('format_version', ?)",
                         (str(FORMAT_VERSION),))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.warning("could not migrate kb=%s error=%s; opening read-only", self.name, exc)
            self.read_only = True
            return
        finally:
            conn.close()
        write_manifest(self.folder, self.name, kb_uuid, manifest["embedder"], manifest["dim"], manifest["created_at"])
        log.info("migrated kb=%s to format %d", self.name, FORMAT_VERSION)

    def close(self) -> None:
        self._closed = True
        with self._conns_lock:
            for conn in self._conns:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._conns.clear()
        self._writer_conn = None

    # ------------------------------------------------------------------ identity

    def _verify(self) -> None:
        """Raise kb.deleted if the knowledge base is gone; reopen if its database was replaced in place."""
        if self._closed:
            raise StoreError("store.closed", kb=self.name)
        current = _file_id(self.db_path)
        if current == self._identity and current is not None:
            return
        if current is None or not (self.folder / "manifest.json").exists():
            raise KnowledgeBaseNotFound("kb.deleted", name=self.name)
        try:
            conn = connect_ro(self.db_path)
            try:
                other = _meta(conn).get("uuid")
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StoreError("store.db_damaged", kb=self.name, path=str(self.db_path), reason=str(exc)) from exc
        if other != self.uuid:
            raise KnowledgeBaseNotFound("kb.deleted", name=self.name)
        log.info("database replaced in place (repair) kb=%s; reopening", self.name)
        self._identity = current
        self._epoch += 1
        self._writer_conn = None

    # ------------------------------------------------------------------ access

    def _read_conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "epoch", -1) == self._epoch:
            return conn
        immutable = self.read_only and not os.access(self.folder, os.W_OK)
        try:
            conn = _connect(self.db_path, read_only=True, immutable=immutable)
        except sqlite3.Error as exc:
            raise db_error(exc, self.name, self.db_path) from exc
        with self._conns_lock:
            self._conns.append(conn)
        self._local.conn, self._local.epoch = conn, self._epoch
        return conn

    @contextlib.contextmanager
    def read(self) -> Iterator[ReadView]:
        """A consistent view of one committed generation (nested reads in a thread share it)."""
        self._verify()
        conn = self._read_conn()
        own = not conn.in_transaction
        try:
            view = ReadView(conn, self.name, own)
        except sqlite3.Error as exc:
            if conn.in_transaction and own:
                conn.execute("ROLLBACK")
            raise db_error(exc, self.name, self.db_path) from exc
        try:
            yield view
        except sqlite3.DatabaseError as exc:
            raise db_error(exc, self.name, self.db_path) from exc
        finally:
            if own and conn.in_transaction:
                conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def writer(self, waiting=None) -> Iterator[Writer]:
        """The only way to write: under the writer lock, for the whole operation."""
        if self.read_only:
            raise StoreError("store.read_only", kb=self.name, folder=str(self.folder))
        with self.lock.hold(waiting):
            self._verify()
            if self._writer_conn is None:
                try:
                    conn = _connect(self.db_path, read_only=False)
                except sqlite3.Error as exc:
                    raise StoreError("store.cannot_write", kb=self.name, folder=str(self.folder),
                                     reason=str(exc)) from exc
                with self._conns_lock:
                    self._conns.append(conn)
                self._writer_conn = conn
            writer = Writer(self, self._writer_conn)
            meta = writer.meta()
            self.embedder_name = meta.get("embedder", self.embedder_name)
            self.dim = int(meta.get("dim", self.dim))
            yield writer

    def writer_held(self) -> bool:
        """Whether this thread holds the writer lock."""
        return self.lock.held

    def originals(self):
        from kb.store.files import Originals

        return Originals(self.folder)

    def size_bytes(self) -> int:
        total = 0
        for f in self.folder.rglob("*"):
            try:
                if f.is_file():
                    total += f.stat().st_size
            except OSError:
                continue
        return total

    @property
    def manifest(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "name": self.name, "uuid": self.uuid,
                "embedder": self.embedder_name, "dim": self.dim, "created_at": self.created_at}

    # ------------------------------------------------------------------ convenience reads

    def generation(self) -> int:
        with self.read() as view:
            return view.generation()

    def documents(self) -> list[Document]:
        with self.read() as view:
            return view.documents()

    def document(self, key: str) -> Document | None:
        with self.read() as view:
            return view.document(key)

    def chunks(self, doc_id: str | None = None) -> list[Chunk]:
        with self.read() as view:
            return view.chunks(doc_id)

    def counts(self) -> tuple[int, int, int]:
        with self.read() as view:
            return view.counts()


__all__ = ["KBStore", "ReadView", "Writer", "read_manifest", "write_manifest", "assess_database", "FORMAT_VERSION",
           "DB_NAME", "KBError"]
