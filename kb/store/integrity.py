"""Check every file of a knowledge base, and repair what can be repaired from what is left.

`check` reads the folder directly (not through an open KnowledgeBase), so it answers for a knowledge
base too damaged to open. It tells "empty" (healthy, no documents) from "damaged" (any problem), and
gives each problem the file it concerns and advice that works: `python -m kb repair --kb NAME` for
everything repair can fix, `python -m kb ingest FILE --kb NAME` for an original that is gone.

`repair` runs under the writer lock. It never deletes a damaged file: it moves it under `damaged/`.
- database missing, empty or failing SQLite's integrity check: a new database restored from the stored
  originals (names from their sidecars), with the same uuid, so open processes reopen it;
- manifest missing or damaged: rewritten from the database;
- a chunk whose text no longer matches its hash: its document re-made from its original;
- a vector of the wrong size, non-finite or not unit length: re-embedded from its chunk;
- chunks or vectors that belong to nothing: removed; wrong chunk counts: corrected;
- conversations database damaged: set aside (a new one starts);
- index files: always rewritten from the database.
"""
from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
import uuid as uuidlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.errors import KBError, StoreError
from kb.types import CheckReport, Problem, RepairReport
from kb.store.files import Originals, sha256_file
from kb.store.lock import WriterLock, busy
from kb.store.snapshot import BM25_DIR, FAISS_FILE, STAMP, Indexes, index_files_state
from kb.store.sqlite import DB_NAME, _SCHEMA, connect_ro, FORMAT_VERSION, KBStore, ReadView, assess_database, read_manifest, write_manifest

if TYPE_CHECKING:
    from kb.curate.maintenance import Rebuilder

log = logging.getLogger(__name__)

NORM_TOLERANCE = 1e-3
BATCH = 5000


class _Found:
    def __init__(self, name: str):
        self.name = name
        self.problems: list[Problem] = []
        self.notes: list[Problem] = []

    def add(self, code: str, where: str, advice: str = "advice.repair", /, **params: Any) -> None:
        self.problems.append(Problem(code, {"kb": self.name, **params}, where, advice, {"kb": self.name, **params}))

    def note(self, code: str, where: str, advice: str, /, **params: Any) -> None:
        self.notes.append(Problem(code, {"kb": self.name, **params}, where, advice, {"kb": self.name, **params}))

    def report(self, counts: tuple[int, int, int]) -> CheckReport:
        return CheckReport(self.name, not self.problems, tuple(self.problems), *counts, notes=tuple(self.notes))

    def codes(self) -> set[str]:
        return {p.code for p in self.problems}


def _connect_ro(db: Path) -> sqlite3.Connection:
    return connect_ro(db, timeout=30)


def check(folder: Path, name: str, indexes: Indexes | None = None) -> CheckReport:
    """Everything that is wrong with the knowledge base in `folder` (see the module docstring)."""
    found = _Found(name)
    originals = Originals(folder)
    n_originals = sum(1 for _ in originals.stored())
    manifest = None
    try:
        manifest = read_manifest(folder, name)
    except StoreError as exc:
        found.add(exc.code, "manifest.json", "advice.repair", **{k: v for k, v in exc.params.items() if k != "kb"})
    try:
        assess_database(folder, name)
        conn = _connect_ro(folder / DB_NAME)
    except (StoreError, sqlite3.Error) as exc:
        code = exc.code if isinstance(exc, StoreError) else "store.db_damaged"
        params = {k: v for k, v in exc.params.items() if k != "kb"} if isinstance(exc, StoreError) else \
            {"path": str(folder / DB_NAME), "reason": str(exc)}
        advice = "advice.repair_restore" if n_originals else "advice.recreate"
        found.add(code, DB_NAME, advice, originals=n_originals, **params)
        return found.report((0, 0, 0))
    try:
        counts = _check_database(conn, found, manifest, n_originals)
        if DB_NAME in {p.file for p in found.problems if p.code == "check.sqlite_integrity"}:
            return found.report(counts)
        view = ReadView(conn, name, own=True)
        _check_index_files(folder, view, found)
        _check_originals(view, originals, found)
        if indexes is not None:
            _check_memory(indexes, view, found)
    except sqlite3.DatabaseError as exc:
        found.add("store.db_damaged", DB_NAME, "advice.repair_restore" if n_originals else "advice.recreate",
                  reason=str(exc), originals=n_originals)
        counts = (0, 0, 0)
    finally:
        conn.close()
    _check_chats(folder, found)
    return found.report(counts)


def _check_database(conn: sqlite3.Connection, found: _Found, manifest: dict | None,
                    n_originals: int) -> tuple[int, int, int]:
    result = [r[0] for r in conn.execute("PRAGMA integrity_check(20)").fetchall()]
    if result != ["ok"]:
        found.add("check.sqlite_integrity", DB_NAME, "advice.repair_restore" if n_originals else "advice.recreate",
                  detail="; ".join(result[:3]), originals=n_originals)
        return 0, 0, 0
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if manifest is not None:
        for key in ("uuid", "embedder", "dim"):
            if key in meta and key in manifest and str(manifest[key]) != meta[key]:
                found.add("check.manifest_differs", "manifest.json", key=key, manifest=str(manifest[key]),
                          database=meta[key])
    dim = int(meta.get("dim") or (manifest or {}).get("dim") or 0)
    n_docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    n_chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    n_vectors = conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    orphans = conn.execute("SELECT COUNT(*) FROM chunks WHERE doc_id NOT IN (SELECT doc_id FROM documents)").fetchone()[0]
    if orphans:
        found.add("check.orphan_chunks", DB_NAME, n=orphans)
    missing = conn.execute("SELECT COUNT(*) FROM chunks WHERE rowid NOT IN (SELECT rowid FROM vectors)").fetchone()[0]
    if missing:
        found.add("check.chunks_without_vector", DB_NAME, n=missing)
    extra = conn.execute("SELECT COUNT(*) FROM vectors WHERE rowid NOT IN (SELECT rowid FROM chunks)").fetchone()[0]
    if extra:
        found.add("check.orphan_vectors", DB_NAME, n=extra)
    for (file_name,) in conn.execute("SELECT d.file_name FROM documents d LEFT JOIN chunks c USING (doc_id) "
                                     "GROUP BY d.doc_id HAVING COUNT(c.rowid) != d.n_chunks"):
        found.add("check.chunk_count", DB_NAME, file=file_name)
    changed: dict[str, int] = {}
    for file_name, text, digest in conn.execute("SELECT d.file_name, c.text, c.content_hash FROM chunks c "
                                                "JOIN documents d USING (doc_id)"):
        if hashlib.sha256(str(text).encode("utf-8")).hexdigest() != digest:
            changed[file_name] = changed.get(file_name, 0) + 1
    for file_name, n in sorted(changed.items()):
        found.add("check.chunk_text_changed", DB_NAME, file=file_name, n=n)
    bad = len(bad_vector_rows(conn, dim))
    if bad:
        found.add("check.vectors_bad", DB_NAME, n=bad, dim=dim)
    _check_curation(conn, found)
    return n_docs, n_chunks, n_vectors


def _check_curation(conn: sqlite3.Connection, found: _Found) -> None:
    """Hand edits: each curation row belongs to a chunk of its document, and an edited or hand-written
    chunk holds exactly the text the row remembers (its hash was checked above, so that is its edited text)."""
    from kb.store.curation import has_tables

    if not has_tables(conn):
        return
    lost = conn.execute("SELECT COUNT(*) FROM curation u LEFT JOIN chunks c ON c.id = u.chunk_id "
                        "WHERE c.rowid IS NULL OR c.doc_id != u.doc_id").fetchone()[0]
    if lost:
        found.add("check.curation_orphans", DB_NAME, n=lost)
    for (file_name,) in conn.execute("SELECT DISTINCT d.file_name FROM curation u JOIN chunks c ON c.id = u.chunk_id "
                                     "JOIN documents d ON d.doc_id = c.doc_id "
                                     "WHERE u.text IS NOT NULL AND u.text != c.text"):
        found.add("check.curation_text", DB_NAME, file=file_name)


def bad_vector_rows(conn: sqlite3.Connection, dim: int) -> list[int]:
    """Row ids whose vector has the wrong size, a non-finite value, or a norm that is neither 0 nor 1."""
    bad: list[int] = []
    last = -1
    while True:
        rows = conn.execute("SELECT rowid, vec FROM vectors WHERE rowid > ? ORDER BY rowid LIMIT ?",
                            (last, BATCH)).fetchall()
        if not rows:
            return bad
        last = rows[-1][0]
        good = [(r, v) for r, v in rows if isinstance(v, bytes) and len(v) == dim * 4]
        bad += [r for r, v in rows if not (isinstance(v, bytes) and len(v) == dim * 4)]
        if not good:
            continue
        mat = np.frombuffer(b"".join(v for _, v in good), dtype=np.float32).reshape(len(good), dim)
        with np.errstate(all="ignore"):
            finite = np.isfinite(mat).all(axis=1)
            norms = np.linalg.norm(np.where(np.isfinite(mat), mat, 0), axis=1)
        ok = finite & ((np.abs(norms - 1) <= NORM_TOLERANCE) | (norms == 0))
        bad += [good[i][0] for i in np.flatnonzero(~ok)]


def _check_index_files(folder: Path, view: ReadView, found: _Found) -> None:
    state, file = index_files_state(folder, view.uuid, view.generation())
    if state == "damaged":
        found.add("check.index_damaged", file)
    elif state in ("missing", "stale") and view.generation() > 0 and not busy(folder):
        # derived files behind the database (a crash between commit and rewrite): not damage, the next
        # open of the knowledge base rewrites them
        found.note("check.index_" + state, STAMP, "advice.index_on_open")
    if state == "current":
        import faiss

        try:
            index = faiss.read_index(str(folder / FAISS_FILE))
            n_chunks = view.n_enabled()  # disabled chunks are in no index
            if index.ntotal != n_chunks or index.d != view.dim():
                found.add("check.index_damaged", FAISS_FILE)
        except RuntimeError:
            found.add("check.index_damaged", FAISS_FILE)


def _check_originals(view: ReadView, originals: Originals, found: _Found) -> None:
    for doc in view.documents():
        path = originals.path(doc.file_hash, doc.file_name)
        rel = f"files/{path.name}"
        if not path.exists():
            found.add("check.original_missing", rel, "advice.ingest_again", file=doc.file_name)
            continue
        try:
            same = sha256_file(path) == doc.file_hash
        except OSError:
            same = False
        if not same:
            found.add("check.original_changed", rel, "advice.ingest_again", file=doc.file_name)
        elif doc.file_name not in originals.names(path):
            found.add("check.sidecar_missing", rel + ".json", file=doc.file_name)


def _check_memory(indexes: Indexes, view: ReadView, found: _Found) -> None:
    snapshot = indexes.at(view)
    ids, _ = view.vectors() if not found.codes() & {"check.vectors_bad"} else (np.zeros(0, np.int64), None)
    db_ids = set(int(i) for i in view.terms()[0])
    if snapshot.ids() != db_ids:
        found.add("check.memory_vectors", FAISS_FILE)
    if set(int(i) for i in snapshot.bm25.ids()) != db_ids:
        found.add("check.memory_keywords", BM25_DIR)


def _check_chats(folder: Path, found: _Found) -> None:
    path = folder / "chats.sqlite"
    if not path.exists():
        return
    try:
        conn = _connect_ro(path)
        try:
            result = conn.execute("PRAGMA integrity_check(5)").fetchall()
        finally:
            conn.close()
        ok = [r[0] for r in result] == ["ok"]
    except sqlite3.Error:
        ok = path.stat().st_size == 0
    if not ok:
        found.add("check.chats_damaged", "chats.sqlite")


# ---------------------------------------------------------------------- repair


def repair(folder: Path, name: str, rebuilder: "Rebuilder") -> RepairReport:
    actions: list[tuple[str, dict[str, Any]]] = []
    aside = folder / "damaged" / time.strftime("%Y%m%d-%H%M%S")

    def set_aside(path: Path) -> None:
        if not path.exists():
            return
        aside.mkdir(parents=True, exist_ok=True)
        target = aside / path.name
        os.replace(path, target)
        actions.append(("repair.set_aside", {"file": path.name, "where": str(target.relative_to(folder))}))

    with WriterLock(folder, name).hold(rebuilder.waiting):
        before = check(folder, name)
        files = {p.file for p in before.problems}
        codes = {p.code for p in before.problems}
        db_bad = DB_NAME in files and codes & {"store.db_missing", "store.db_empty", "store.db_damaged",
                                               "check.sqlite_integrity"}
        manifest = _manifest_or_none(folder, name)
        if db_bad:
            for suffix in ("", "-wal", "-shm"):
                set_aside(folder / f"{DB_NAME}{suffix}")
            kb_uuid = (manifest or {}).get("uuid") or uuidlib.uuid4().hex
            _create_database(folder, kb_uuid, rebuilder.embedder.name, rebuilder.embedder.dim)
            write_manifest(folder, name, kb_uuid, rebuilder.embedder.name, rebuilder.embedder.dim,
                           (manifest or {}).get("created_at") or time.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
            actions += _restore_from_originals(folder, name, rebuilder)
        elif manifest is None or "check.manifest_differs" in codes:
            conn = _connect_ro(folder / DB_NAME)
            try:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            finally:
                conn.close()
            write_manifest(folder, name, meta.get("uuid") or uuidlib.uuid4().hex,
                           meta.get("embedder") or rebuilder.embedder.name,
                           int(meta.get("dim") or rebuilder.embedder.dim),
                           (manifest or {}).get("created_at") or time.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
            actions.append(("repair.manifest_rewritten", {}))
        if not db_bad:
            actions += _repair_contents(folder, name, rebuilder, codes, set_aside)
        if "check.chats_damaged" in codes:
            for suffix in ("", "-wal", "-shm"):
                set_aside(folder / f"chats.sqlite{suffix}")
        for rel in (STAMP, FAISS_FILE, f"{BM25_DIR}/bm25.npz"):
            (folder / rel).unlink(missing_ok=True)
        store = KBStore.open(folder, name)
        try:
            with store.writer() as w:
                Indexes(store, rebuilder.settings.index.approximate_above).persist(w)
        finally:
            store.close()
        actions.append(("repair.indexes_rewritten", {}))
    after = check(folder, name)
    log.info("repair kb=%s actions=%d problems_left=%d", name, len(actions), len(after.problems))
    return RepairReport(name, tuple(actions), after)


def _manifest_or_none(folder: Path, name: str) -> dict | None:
    try:
        return read_manifest(folder, name)
    except StoreError:
        return None


def _create_database(folder: Path, kb_uuid: str, embedder: str, dim: int) -> None:
    conn = sqlite3.connect(folder / DB_NAME, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                         [("uuid", kb_uuid), ("embedder", embedder), ("dim", str(int(dim))), ("generation", "0"),
                          ("log_floor", "0"), ("format_version", str(FORMAT_VERSION))])
    finally:
        conn.close()


def _restore_from_originals(folder: Path, name: str, rebuilder: "Rebuilder") -> list[tuple[str, dict[str, Any]]]:
    actions: list[tuple[str, dict[str, Any]]] = []
    originals = Originals(folder)
    store = KBStore.open(folder, name)
    try:
        with store.writer() as w:
            stored = list(originals.stored())
            for i, (path, names) in enumerate(stored):
                data = path.read_bytes()
                for file_name in names or [path.name]:
                    try:
                        prepared = rebuilder.from_original(file_name, data)
                        vectors = rebuilder.embed(prepared, i, len(stored))
                        w.replace_document(prepared.document, prepared.chunks, vectors, prepared.terms)
                    except KBError as exc:
                        actions.append(("repair.restore_failed", {"file": file_name, "reason": exc.message()}))
                        continue
                    originals.keep(prepared.document.file_hash, file_name, data)
                    actions.append(("repair.restored", {"file": file_name, "chunks": len(prepared.chunks)}))
                    if not names:
                        actions.append(("repair.restored_unnamed", {"file": file_name}))
    finally:
        store.close()
    return actions


def _repair_contents(folder: Path, name: str, rebuilder: "Rebuilder", codes: set[str],
                     set_aside) -> list[tuple[str, dict[str, Any]]]:
    from kb.ingest.pipeline import embed_input

    actions: list[tuple[str, dict[str, Any]]] = []
    originals = Originals(folder)
    store = KBStore.open(folder, name)
    try:
        with store.writer() as w:
            conn = w._conn
            removed = w.remove_orphans()
            if removed:
                actions.append(("repair.orphans_removed", {"n": removed}))
            fixed = w.fix_chunk_counts()
            if fixed:
                actions.append(("repair.counts_fixed", {"n": fixed}))
            # documents whose chunk text changed: re-made from their original
            changed = sorted({doc_id for doc_id, text, digest in
                              conn.execute("SELECT doc_id, text, content_hash FROM chunks")
                              if hashlib.sha256(str(text).encode("utf-8")).hexdigest() != digest})
            for doc_id in changed:
                doc = w.document(doc_id)
                if doc is None:
                    continue
                path = originals.path(doc.file_hash, doc.file_name)
                data = path.read_bytes() if path.exists() else None
                if data is None or hashlib.sha256(data).hexdigest() != doc.file_hash:
                    actions.append(("repair.text_unfixable", {"file": doc.file_name}))
                    continue
                prepared, rows, edits = rebuilder.curated(w, doc.file_name, data)
                w.replace_document(prepared.document, prepared.chunks, rebuilder.embed(prepared), prepared.terms,
                                   rows, edits)
                actions.append(("repair.document_remade", {"file": doc.file_name}))
            # vectors that are damaged or missing: re-embedded from their chunk
            bad = set(bad_vector_rows(conn, w.dim()))
            bad |= {r for (r,) in conn.execute("SELECT rowid FROM chunks WHERE rowid NOT IN (SELECT rowid FROM vectors)")}
            if bad:
                if w.embedder != rebuilder.embedder.name:
                    actions.append(("repair.vectors_need_rebuild", {"n": len(bad), "built": w.embedder}))
                else:
                    rows = w.chunks_by_rowid(sorted(bad))
                    texts = [embed_input(rows[r]) for r in sorted(rows)]
                    vectors = rebuilder.embedder.embed_passages(texts) if texts else []
                    w.replace_vectors(dict(zip(sorted(rows), vectors)))
                    actions.append(("repair.vectors_reembedded", {"n": len(rows)}))
            # originals: sidecars rewritten; changed ones set aside (the document keeps its chunks)
            for doc in w.documents():
                path = originals.path(doc.file_hash, doc.file_name)
                if not path.exists():
                    continue
                if sha256_file(path) != doc.file_hash:
                    set_aside(path)
                    continue
                if doc.file_name not in originals.names(path):
                    originals.keep(doc.file_hash, doc.file_name, path.read_bytes())
                    actions.append(("repair.sidecar_written", {"file": doc.file_name}))
    finally:
        store.close()
    return actions
