"""The shared store: one knowledge base in PostgreSQL (layout in kb/store/pg/schema.py).

Same contract as kb/store/sqlite.py (written down in kb/store/base.py):
- `read()`: a `PGReadView` inside one REPEATABLE READ, READ ONLY transaction on this thread's
  connection, so everything it reads, searches included, belongs to one committed generation;
  nested reads in a thread share it.
- `writer()`: a `PGWriter` while this process holds `pg_advisory_lock` on the knowledge base's key
  (a session lock on the writer's own connection, held for the whole operation: one writer across
  every process on every machine). Re-entrant per thread like kb/store/lock.py's WriterLock. Each
  write method is one transaction that bumps `generation`.
There is no changelog: no process keeps an index in memory, the indexes are in the database.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from kb.errors import KnowledgeBaseNotFound, StoreError
from kb.types import Chunk, Document
from kb.store.curation import Curation, Edit, who
from kb.store.files import utc_now
from kb.store.pg.schema import REGISTRY, connect, import_psycopg, register_vector, shown_url

log = logging.getLogger(__name__)

_DOC_COLS = "doc_id, file_name, file_hash, size_bytes, kind, n_chunks, n_pages, ingested_at, metadata, warnings"
_CHUNK_COLS = ("c.rowid, c.id, c.doc_id, d.file_name, c.position, c.text, c.content_hash, c.page, c.page_end, "
               "c.heading_path, c.kind, c.origin")
# a chunk's length for BM25 is its number of terms (kb/search/bm25.py): spaces in `terms` plus one
_N_TERMS = "CASE WHEN c.terms = '' THEN 0 ELSE length(c.terms) - length(replace(c.terms, ' ', '')) + 1 END"
_CUR_COLS = "chunk_id, doc_id, orig_hash, position, text, heading_path, disabled, review"


def lock_key(uuid: str) -> int:
    """The advisory lock key of a knowledge base: 63 bits of its uuid."""
    return int(hashlib.sha256(uuid.encode()).hexdigest()[:15], 16)


def _copy_text(value: str) -> str:
    """A value in COPY's text format."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def term_counts(terms: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in terms:
        t = t.replace(" ", "_")
        out[t] = out.get(t, 0) + 1
    return out


class _Reads:
    """Read queries over one connection in a transaction; shared by PGReadView and PGWriter."""

    _conn: Any
    name: str
    s: str  # the schema

    def _q(self, sql: str, args: Sequence[Any] = (), binary: bool = False) -> list[tuple]:
        with self._conn.cursor(binary=binary) as cur:
            cur.execute(sql.replace("{s}", self.s), args)
            return cur.fetchall() if cur.description else []

    def meta(self) -> dict[str, str]:
        return dict(self._q("SELECT key, value FROM {s}.meta"))

    def generation(self) -> int:
        rows = self._q("SELECT value FROM {s}.meta WHERE key='generation'")
        return int(rows[0][0]) if rows else 0

    def dim(self) -> int:
        return int(self.meta().get("dim", "0"))

    def _doc(self, r: Sequence[Any]) -> Document:
        return Document(doc_id=r[0], kb=self.name, file_name=r[1], file_hash=r[2], size_bytes=r[3], kind=r[4],
                        n_chunks=r[5], n_pages=r[6], ingested_at=r[7], metadata=r[8], warnings=tuple(r[9]))

    def _chunk(self, r: Sequence[Any]) -> tuple[int, Chunk]:
        return int(r[0]), Chunk(id=r[1], kb=self.name, doc_id=r[2], file_name=r[3], position=r[4], text=r[5],
                                content_hash=r[6], page=r[7], page_end=r[8], heading_path=tuple(r[9]), kind=r[10],
                                **Chunk.origin_fields(r[11] if isinstance(r[11], dict) else None))

    def documents(self) -> list[Document]:
        return [self._doc(r) for r in self._q(f"SELECT {_DOC_COLS} FROM {{s}}.documents ORDER BY file_name")]

    def document(self, key: str) -> Document | None:
        rows = self._q(f"SELECT {_DOC_COLS} FROM {{s}}.documents WHERE doc_id=%s OR file_name=%s", (key, key))
        return self._doc(rows[0]) if rows else None

    def chunk_rows(self, doc_id: str | None = None) -> list[tuple[int, Chunk]]:
        sql = f"SELECT {_CHUNK_COLS} FROM {{s}}.chunks c JOIN {{s}}.documents d USING (doc_id)"
        args: tuple = ()
        if doc_id is not None:
            sql, args = sql + " WHERE c.doc_id=%s", (doc_id,)
        return [self._chunk(r) for r in self._q(sql + " ORDER BY d.file_name, c.position", args)]

    def chunks(self, doc_id: str | None = None) -> list[Chunk]:
        return [c for _, c in self.chunk_rows(doc_id)]

    def chunk_row(self, chunk_id: str) -> tuple[int, Chunk] | None:
        rows = self._q(f"SELECT {_CHUNK_COLS} FROM {{s}}.chunks c JOIN {{s}}.documents d USING (doc_id) "
                       "WHERE c.id=%s", (chunk_id,))
        return self._chunk(rows[0]) if rows else None

    def chunks_by_rowid(self, rowids: Sequence[int]) -> dict[int, Chunk]:
        rows = self._q(f"SELECT {_CHUNK_COLS} FROM {{s}}.chunks c JOIN {{s}}.documents d USING (doc_id) "
                       "WHERE c.rowid = ANY(%s)", ([int(i) for i in rowids],))
        return dict(self._chunk(r) for r in rows)

    def rowids_for_docs(self, doc_ids: Sequence[str]) -> list[int]:
        return [int(r[0]) for r in self._q("SELECT rowid FROM {s}.chunks WHERE doc_id = ANY(%s)", (list(doc_ids),))]

    def vectors(self, rowids: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(row ids, matrix) of the vectors an index holds (disabled chunks left out)."""
        dim = self.dim()
        if rowids is None:
            rows = self._q("SELECT rowid, vec FROM {s}.vectors WHERE live ORDER BY rowid", binary=True)
        else:
            rows = self._q("SELECT rowid, vec FROM {s}.vectors WHERE live AND rowid = ANY(%s) ORDER BY rowid",
                           ([int(i) for i in rowids],), binary=True)
        ids = np.array([int(r[0]) for r in rows], dtype=np.int64)
        if not rows:
            return ids, np.zeros((0, dim), dtype=np.float32)
        return ids, np.vstack([r[1] for r in rows]).astype(np.float32)

    def terms(self, rowids: Sequence[int] | None = None) -> tuple[list[int], list[list[str]]]:
        on = "c.rowid = ANY(%s) AND " if rowids is not None else ""
        args = ([int(i) for i in rowids],) if rowids is not None else ()
        rows = self._q(f"SELECT c.rowid, c.terms FROM {{s}}.chunks c JOIN {{s}}.vectors v USING (rowid) "
                       f"WHERE {on}v.live ORDER BY c.rowid", args)
        return [int(r[0]) for r in rows], [r[1].split(" ") if r[1] else [] for r in rows]

    def counts(self) -> tuple[int, int, int]:
        r = self._q("SELECT (SELECT count(*) FROM {s}.documents), (SELECT count(*) FROM {s}.chunks), "
                    "(SELECT count(*) FROM {s}.vectors)")[0]
        return int(r[0]), int(r[1]), int(r[2])

    def n_enabled(self) -> int:
        return int(self._q("SELECT count(*) FROM {s}.vectors WHERE live")[0][0])

    def curation(self, doc_id: str | None = None) -> list[Curation]:
        sql = f"SELECT {_CUR_COLS} FROM {{s}}.curation"
        args: tuple = ()
        if doc_id is not None:
            sql, args = sql + " WHERE doc_id=%s", (doc_id,)
        return [Curation(r[0], r[1], r[2], int(r[3]), r[4], tuple(json.loads(r[5])), bool(r[6]), bool(r[7]))
                for r in self._q(sql + " ORDER BY doc_id, position", args)]

    def edits(self, since: str | None = None, limit: int = 1000) -> list[Edit]:
        rows = self._q("SELECT action, chunk_id, doc_id, file_name, before, after, who, at FROM {s}.edits "
                       "WHERE at >= %s ORDER BY id DESC LIMIT %s", (since or "", int(limit)))
        return [Edit(*r) for r in rows]

    def questions(self) -> list[dict[str, Any]]:
        cols = ("id", "at", "who", "question", "chunk_id", "file_name", "evidence")
        return [dict(zip(cols, r)) for r in self._q(f"SELECT {', '.join(cols)} FROM {{s}}.questions ORDER BY id")]

    def activity(self, since: str) -> list[dict[str, Any]]:
        cols = ("at", "action", "doc_id", "file_name", "n_chunks")
        return [dict(zip(cols, r)) for r in self._q(f"SELECT {', '.join(cols)} FROM {{s}}.activity WHERE at >= %s "
                                                     "ORDER BY id", (since,))]


class PGReadView(_Reads):
    """One REPEATABLE READ transaction: everything read through it belongs to `generation`."""

    def __init__(self, conn: Any, store: "PGStore", own: bool):
        self._conn, self.name, self.s, self._own, self._store = conn, store.name, store.schema, own, store
        if own:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self._load()

    def _load(self) -> None:
        self._store._verify(self._conn)  # the first read fixes the transaction's snapshot
        meta = self.meta()
        self.generation_value = int(meta.get("generation", "0"))
        self.uuid = meta.get("uuid", "")
        self.embedder = meta.get("embedder", "")

    def generation(self) -> int:  # type: ignore[override]
        return self.generation_value

    def renew(self) -> None:
        if self._own:
            self._conn.execute("ROLLBACK")
            self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self._load()


class PGWriter(_Reads):
    """Writes of one knowledge base; exists only while the advisory lock is held (PGStore.writer)."""

    def __init__(self, store: "PGStore", conn: Any):
        self.store, self._conn, self.name, self.s = store, conn, store.name, store.schema

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
        psycopg = import_psycopg()
        try:
            with self._conn.transaction():
                generation = self.generation() + 1
                yield generation
                self._set("generation", str(generation))
        except psycopg.Error as exc:
            raise StoreError("store.write_failed", kb=self.name, action=action,
                             reason=str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                             ) from exc

    def _set(self, key: str, value: str) -> None:
        self._q("INSERT INTO {s}.meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = "
                "excluded.value", (key, value))

    # ------------------------------------------------------------------ helpers inside a transaction

    def _insert(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray,
                terms: Sequence[Sequence[str]], stats: bool = True) -> list[int]:
        """One document and its chunks, vectors and postings: three batched statements, not a round trip
        per row (the row ids are taken from the identity's sequence first, in chunk order)."""
        from psycopg.types.json import Jsonb

        self._q("INSERT INTO {s}.documents VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (doc.doc_id, doc.file_name, doc.file_hash, doc.size_bytes, doc.kind, doc.n_chunks, doc.n_pages,
                 doc.ingested_at, Jsonb(doc.metadata), Jsonb(list(doc.warnings))))
        if not chunks:
            return []
        rowids = sorted(int(r[0]) for r in self._q(
            "SELECT nextval(pg_get_serial_sequence('{s}.chunks', 'rowid')) FROM generate_series(1, %s)",
            (len(chunks),)))
        self._put_chunks(list(zip(rowids, chunks, vectors, terms)), stats)
        return rowids

    def _insert_chunk(self, chunk: Chunk, vec: np.ndarray, toks: Sequence[str], rowid: int | None = None) -> int:
        if rowid is None:
            rowid = int(self._q("SELECT nextval(pg_get_serial_sequence('{s}.chunks', 'rowid'))")[0][0])
        self._put_chunks([(rowid, chunk, vec, toks)])
        return rowid

    def _put_chunks(self, rows: Sequence[tuple[int, Chunk, np.ndarray, Sequence[str]]], stats: bool = True) -> None:
        """Chunks and postings by COPY, vectors by one pipelined executemany (binary vectors); with `stats`
        the keyword statistics follow (without: the caller recounts them, `_recount_keyword_stats`)."""
        from psycopg.types.json import Jsonb

        cols = "rowid, id, doc_id, position, text, content_hash, page, page_end, heading_path, kind, terms, origin"
        with self._conn.cursor() as cur:
            with cur.copy(f"COPY {self.s}.chunks ({cols}) FROM STDIN") as copy:
                for rowid, chunk, _, toks in rows:
                    origin = chunk.origin()
                    copy.write_row((rowid, chunk.id, chunk.doc_id, chunk.position, chunk.text, chunk.content_hash,
                                    chunk.page, chunk.page_end, Jsonb(list(chunk.heading_path)), chunk.kind,
                                    " ".join(t.replace(" ", "_") for t in toks),
                                    None if origin is None else Jsonb(origin)))
            cur.executemany(f"INSERT INTO {self.s}.vectors (rowid, vec) VALUES (%s, %s)",
                            [(rowid, np.asarray(vec, dtype=np.float32)) for rowid, _, vec, _ in rows])
            with cur.copy(f"COPY {self.s}.postings (term, rowid, tf, len) FROM STDIN") as copy:
                lines = []
                for rowid, _, _, toks in rows:
                    n_toks = len(toks)
                    lines.extend(f"{_copy_text(t)}\t{rowid}\t{n}\t{n_toks}\n" for t, n in term_counts(toks).items())
                copy.write("".join(lines))
        if stats:
            self._add_keyword_stats([(r[0], r[3]) for r in rows])

    def _recount_keyword_stats(self) -> None:
        """`terms` and bm25_n / bm25_len counted afresh from the live postings: once after a bulk write,
        where upserting each document's terms would rewrite the same rows thousands of times in one
        transaction (each update a new row version the transaction cannot prune)."""
        from kb.store.pg.schema import RECOUNT_TERMS

        self._q(RECOUNT_TERMS.replace("{s}", self.s))
        n, total = self._q(f"SELECT count(*), COALESCE(sum({_N_TERMS}), 0) FROM {{s}}.chunks c "
                           "JOIN {s}.vectors v USING (rowid) WHERE v.live")[0]
        self._set("bm25_n", str(int(n)))
        self._set("bm25_len", str(int(total)))

    def _add_keyword_stats(self, rows: Sequence[tuple[int, Sequence[str]]]) -> None:
        """_keyword_stats(+1) for rows just written (live), counted here from their terms."""
        stats: dict[str, list[int]] = {}
        total = 0
        for _, toks in rows:
            total += len(toks)
            for t, n in term_counts(toks).items():
                got = stats.get(t)
                if got is None:
                    stats[t] = [1, n, len(toks)]
                else:
                    got[0] += 1
                    got[1] = max(got[1], n)
                    got[2] = min(got[2], len(toks))
        if stats:
            self._q("INSERT INTO {s}.terms AS t (term, df, max_tf, min_len) SELECT * FROM unnest(%s::text[], "
                    "%s::int[], %s::int[], %s::int[]) ON CONFLICT (term) DO UPDATE SET df = t.df + excluded.df, "
                    "max_tf = GREATEST(t.max_tf, excluded.max_tf), min_len = LEAST(t.min_len, excluded.min_len)",
                    (list(stats), [v[0] for v in stats.values()], [v[1] for v in stats.values()],
                     [v[2] for v in stats.values()]))
        self._q("UPDATE {s}.meta SET value = (value::bigint + %s)::text WHERE key = %s", (len(rows), "bm25_n"))
        self._q("UPDATE {s}.meta SET value = (value::bigint + %s)::text WHERE key = %s", (total, "bm25_len"))

    def _put_postings(self, rowid: int, toks: Sequence[str]) -> None:
        counts = term_counts(toks)
        if counts:
            with self._conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {self.s}.postings (term, rowid, tf, len) VALUES (%s,%s,%s,%s)",
                                [(t, rowid, n, len(toks)) for t, n in counts.items()])

    def _sync_live(self, doc_ids: Sequence[str]) -> None:
        """vectors.live and postings.live follow curation's `disabled` (what an index may hold)."""
        live = ("(SELECT c.rowid, NOT COALESCE(u.disabled = 1, FALSE) AS live FROM {s}.chunks c "
                "LEFT JOIN {s}.curation u ON u.chunk_id = c.id WHERE c.doc_id = ANY(%s))")
        changed = [int(r[0]) for r in self._q(f"SELECT v.rowid FROM {{s}}.vectors v JOIN {live} x USING (rowid) "
                                               "WHERE v.live IS DISTINCT FROM x.live", (list(doc_ids),))]
        if not changed:
            return
        self._keyword_stats(changed, -1)
        self._q(f"UPDATE {{s}}.vectors v SET live = x.live FROM {live} x WHERE v.rowid = x.rowid "
                "AND v.live IS DISTINCT FROM x.live", (list(doc_ids),))
        self._q(f"UPDATE {{s}}.postings p SET live = x.live FROM {live} x WHERE p.rowid = x.rowid "
                "AND p.live IS DISTINCT FROM x.live", (list(doc_ids),))
        self._keyword_stats(changed, +1)

    def _keyword_stats(self, rowids: Sequence[int], sign: int) -> None:
        """Add (+1) or take away (-1) these rows' live postings to/from `terms` and `bm25_n`/`bm25_len`.

        Called after rows become live and before they stop being live, in the write's transaction, so
        the figures a search reads are always those of the live rows it sees. The bounds only widen."""
        ids = [int(i) for i in rowids]
        if not ids:
            return
        self._q("INSERT INTO {s}.terms AS t (term, df, max_tf, min_len) SELECT term, %s * count(*), max(tf), "
                "min(len) FROM {s}.postings WHERE live AND rowid = ANY(%s) GROUP BY term ON CONFLICT (term) DO "
                "UPDATE SET df = t.df + excluded.df, max_tf = GREATEST(t.max_tf, excluded.max_tf), "
                "min_len = LEAST(t.min_len, excluded.min_len)", (int(sign), ids))
        n, total = self._q(f"SELECT count(*), COALESCE(sum({_N_TERMS}), 0) FROM {{s}}.chunks c JOIN {{s}}.vectors v "
                           "USING (rowid) WHERE v.live AND c.rowid = ANY(%s)", (ids,))[0]
        if n:
            self._q("UPDATE {s}.meta SET value = (value::bigint + %s)::text WHERE key = %s",
                    (int(sign) * int(n), "bm25_n"))
            self._q("UPDATE {s}.meta SET value = (value::bigint + %s)::text WHERE key = %s",
                    (int(sign) * int(total), "bm25_len"))

    def _put_curation(self, row: Curation) -> None:
        if row.empty:
            self._q("DELETE FROM {s}.curation WHERE chunk_id=%s", (row.chunk_id,))
            return
        self._q(f"INSERT INTO {{s}}.curation ({_CUR_COLS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (chunk_id) "
                "DO UPDATE SET doc_id=excluded.doc_id, orig_hash=excluded.orig_hash, position=excluded.position, "
                "text=excluded.text, heading_path=excluded.heading_path, disabled=excluded.disabled, "
                "review=excluded.review",
                (row.chunk_id, row.doc_id, row.orig_hash, row.position, row.text,
                 json.dumps(list(row.heading_path), ensure_ascii=False), int(row.disabled), int(row.review)))

    def _log_edits(self, entries: Sequence[Edit]) -> None:
        at, by = utc_now(), who()
        with self._conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {self.s}.edits (at, who, action, chunk_id, doc_id, file_name, before, "
                            "after) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                            [(e.at or at, e.who or by, e.action, e.chunk_id, e.doc_id, e.file_name, e.before,
                              e.after) for e in entries])

    def _record(self, action: str, doc_id: str, file_name: str, n: int) -> None:
        self._q("INSERT INTO {s}.activity (at, action, doc_id, file_name, n_chunks) VALUES (%s,%s,%s,%s,%s)",
                (utc_now(), action, doc_id, file_name, int(n)))

    def _delete_rows(self, doc_ids: list[str]) -> list[int]:
        if not doc_ids:
            return []
        removed = self.rowids_for_docs(doc_ids)
        self._keyword_stats(removed, -1)
        self._q("DELETE FROM {s}.postings WHERE rowid = ANY(%s)", (removed,))
        self._q("DELETE FROM {s}.chunks WHERE doc_id = ANY(%s)", (doc_ids,))  # vectors: cascade
        self._q("DELETE FROM {s}.documents WHERE doc_id = ANY(%s)", (doc_ids,))
        return removed

    # ------------------------------------------------------------------ writes (kb/store/base.py Writer)

    def replace_document(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray,
                         terms: Sequence[Sequence[str]], curation: Sequence[Curation] | None = None,
                         edits: Sequence[Edit] = ()) -> tuple[list[int], list[int]]:
        if len(chunks) != len(vectors) or len(chunks) != len(terms):
            raise ValueError("chunks, vectors and terms must have the same length")
        with self.transaction(f"saving {doc.file_name}"):
            old = [r[0] for r in self._q("SELECT doc_id FROM {s}.documents WHERE file_name=%s OR doc_id=%s",
                                         (doc.file_name, doc.doc_id))]
            removed = self._delete_rows(old)
            added = self._insert(doc, chunks, vectors, terms)
            self._record("replaced" if old else "added", doc.doc_id, doc.file_name, len(chunks))
            if curation is not None:
                self._q("DELETE FROM {s}.curation WHERE doc_id=%s", (doc.doc_id,))
                for row in curation:
                    self._put_curation(row)
                self._log_edits(edits)
            self._sync_live([doc.doc_id])
        return added, removed

    def delete_document(self, doc_id: str) -> list[int]:
        with self.transaction("deleting a document"):
            row = self._q("SELECT file_name FROM {s}.documents WHERE doc_id=%s", (doc_id,))
            removed = self._delete_rows([doc_id])
            self._q("DELETE FROM {s}.curation WHERE doc_id=%s", (doc_id,))
            if row:
                self._record("removed", doc_id, row[0][0], len(removed))
        return removed

    def replace_all(self, items, embedder: str, dim: int, curation: Sequence[Curation] | None = None,
                    edits: Sequence[Edit] = ()) -> None:
        """A whole new content (rebuild) in one transaction; a new dimension retypes the vector column."""
        from kb.store.dense import RECALL_TARGET
        from kb.store.pg.schema import HNSW_BUILD_MEM_MB, HNSW_BUILD_WORKERS, HNSW_DDL
        from kb.store.pg.search import calibrate_ef_search

        with self.transaction("rebuilding"):
            if curation is not None:
                self._q("DELETE FROM {s}.curation")
                for row in curation:
                    self._put_curation(row)
                self._log_edits(edits)
            self._q("DELETE FROM {s}.postings")
            self._q("DELETE FROM {s}.chunks")
            self._q("DELETE FROM {s}.documents")
            # the graph is built once over all the rows (far faster than inserting them one by one into it)
            self._q("DROP INDEX IF EXISTS {s}.vectors_hnsw")
            if int(dim) != self.dim():
                self._q(f"ALTER TABLE {{s}}.vectors ALTER COLUMN vec TYPE vector({int(dim)})")
            n, doc_ids = 0, []
            for doc, chunks, vectors, terms in items:  # items may be a generator: read once
                self._insert(doc, chunks, vectors, terms, stats=False)
                n += len(chunks)
                doc_ids.append(doc.doc_id)
            self._sync_live(doc_ids)
            self._recount_keyword_stats()
            # the build keeps the graph in memory when it fits (vectors plus about as much again for the links)
            mem_mb = min(HNSW_BUILD_MEM_MB, max(64, n * int(dim) * 8 // 2**20 + 64))
            self._q(f"SET LOCAL maintenance_work_mem = '{int(mem_mb)}MB'")
            self._q(f"SET LOCAL max_parallel_maintenance_workers = {HNSW_BUILD_WORKERS}")
            self._q(HNSW_DDL.replace("{s}", self.s))
            ef, recall = calibrate_ef_search(self, int(dim), RECALL_TARGET)
            self._set("hnsw_ef_search", str(ef))
            log.info("pg hnsw built n=%d ef_search=%d calibrated_recall=%.3f", n, ef, recall)
            self._set("embedder", embedder)
            self._set("dim", str(int(dim)))

    def replace_vectors(self, vectors: dict[int, np.ndarray]) -> None:
        with self.transaction("repairing vectors"):
            for rowid, vec in vectors.items():
                self._q("UPDATE {s}.vectors SET vec=%s WHERE rowid=%s", (np.asarray(vec, np.float32), int(rowid)))

    def edit_chunk(self, rowid: int, text: str, content_hash: str, vector: np.ndarray, terms: Sequence[str],
                   row: Curation, edit: Edit) -> None:
        with self.transaction("editing a chunk"):
            self._keyword_stats([int(rowid)], -1)
            self._q("UPDATE {s}.chunks SET text=%s, content_hash=%s, terms=%s WHERE rowid=%s",
                    (text, content_hash, " ".join(t.replace(" ", "_") for t in terms), int(rowid)))
            self._q("UPDATE {s}.vectors SET vec=%s WHERE rowid=%s", (np.asarray(vector, np.float32), int(rowid)))
            self._q("DELETE FROM {s}.postings WHERE rowid=%s", (int(rowid),))
            self._put_postings(int(rowid), terms)
            self._keyword_stats([int(rowid)], +1)
            self._put_curation(row)
            self._log_edits([edit])
            self._sync_live([row.doc_id])

    def set_curation(self, rowid: int, row: Curation, edit: Edit) -> None:
        with self.transaction("disabling a chunk"):
            self._put_curation(row)
            self._log_edits([edit])
            self._sync_live([row.doc_id])

    def add_chunk(self, chunk: Chunk, vector: np.ndarray, terms: Sequence[str], row: Curation, edit: Edit) -> int:
        with self.transaction("adding a chunk"):
            rowid = self._insert_chunk(chunk, vector, terms)
            self._q("UPDATE {s}.documents SET n_chunks = n_chunks + 1 WHERE doc_id=%s", (chunk.doc_id,))
            self._put_curation(row)
            self._log_edits([edit])
            self._sync_live([chunk.doc_id])
        return rowid

    def add_question(self, question: str, chunk_id: str, file_name: str, evidence: str) -> bool:
        with self.transaction("marking a chunk relevant"):
            rows = self._q("INSERT INTO {s}.questions (at, who, question, chunk_id, file_name, evidence) VALUES "
                           "(%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING RETURNING id",
                           (utc_now(), who(), question, chunk_id, file_name, evidence))
        return bool(rows)


class PGStore:
    """One knowledge base in PostgreSQL. Thread-safe: one connection per thread for reads, one for the writer."""

    backend = "postgres"

    def __init__(self, url: str, name: str, schema: str, uuid: str, created_at: str, folder: Path,
                 lock_timeout: float = 1800.0, read_only: bool = False):
        self.url, self.name, self.schema, self.uuid, self.created_at = url, name, schema, uuid, created_at
        self.folder = folder  # per-machine files only: conversations (chats.sqlite)
        self.read_only = read_only
        self.lock_timeout = lock_timeout
        self._local = threading.local()
        self._conns: list[Any] = []
        self._conns_lock = threading.Lock()
        self._writer_lock = threading.RLock()  # threads of this process, before the advisory lock
        self._writer_conn: Any = None
        self._closed = False
        with self.read() as view:
            meta = view.meta()
        self.embedder_name = meta.get("embedder", "")
        self.dim = int(meta.get("dim", "0"))

    def _new_conn(self) -> Any:
        conn = connect(self.url)
        register_vector(conn)
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    def _verify(self, conn: Any) -> None:
        """kb.deleted when the registry no longer maps the name to this knowledge base's uuid."""
        if self._closed:
            raise StoreError("store.closed", kb=self.name)
        row = conn.execute(f"SELECT uuid FROM {REGISTRY} WHERE name=%s", (self.name,)).fetchone()
        if row is None or row[0] != self.uuid:
            raise KnowledgeBaseNotFound("kb.deleted", name=self.name)

    @contextlib.contextmanager
    def read(self) -> Iterator[PGReadView]:
        psycopg = import_psycopg()
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = self._new_conn()
        own = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        try:
            view = PGReadView(conn, self, own)
        except BaseException:
            if own:
                conn.rollback()
            raise
        try:
            yield view
        except psycopg.Error as exc:
            raise StoreError("pg.query_failed", kb=self.name, reason=str(exc).strip()) from exc
        finally:
            if own and not conn.closed:
                conn.rollback()

    def writer_held(self) -> bool:
        return getattr(self._local, "writer_depth", 0) > 0

    @contextlib.contextmanager
    def writer(self, waiting: Callable[[], None] | None = None) -> Iterator[PGWriter]:
        """The only way to write: `pg_advisory_lock` on this knowledge base, for the whole operation."""
        if self.read_only:
            raise StoreError("store.read_only", kb=self.name, folder=shown_url(self.url))
        if self.writer_held():
            self._local.writer_depth += 1
            try:
                yield PGWriter(self, self._writer_conn)
            finally:
                self._local.writer_depth -= 1
            return
        if not self._writer_lock.acquire(blocking=False):
            if waiting:
                waiting()
            if not self._writer_lock.acquire(timeout=self.lock_timeout):
                raise StoreError("store.lock_timeout", kb=self.name, seconds=round(self.lock_timeout))
        try:
            if self._writer_conn is None or self._writer_conn.closed:
                self._writer_conn = self._new_conn()
            conn = self._writer_conn
            self._advisory_lock(conn, waiting)
            try:
                self._verify(conn)
                self._local.writer_depth = 1
                writer = PGWriter(self, conn)
                meta = writer.meta()
                self.embedder_name, self.dim = meta.get("embedder", self.embedder_name), int(meta.get("dim", self.dim))
                yield writer
            finally:
                self._local.writer_depth = 0
                if not conn.closed:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(self.uuid),))
        finally:
            self._writer_lock.release()

    def _advisory_lock(self, conn: Any, waiting: Callable[[], None] | None) -> None:
        psycopg = import_psycopg()
        key = lock_key(self.uuid)
        if conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
            return
        if waiting:
            waiting()
        try:
            conn.execute(f"SET statement_timeout = {int(self.lock_timeout * 1000)}")
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        except psycopg.errors.QueryCanceled:
            raise StoreError("store.lock_timeout", kb=self.name, seconds=round(self.lock_timeout)) from None
        finally:
            conn.execute("SET statement_timeout = 0")

    def originals(self):
        from kb.store.pg.originals import PGOriginals

        return PGOriginals(self)

    def size_bytes(self) -> int:
        with self.read() as view:
            row = view._q("SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n "
                          "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'", (self.schema,))
        return int(row[0][0])

    def close(self) -> None:
        self._closed = True
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._writer_conn = None

    @property
    def manifest(self) -> dict[str, Any]:
        return {"format_version": 1, "name": self.name, "uuid": self.uuid, "embedder": self.embedder_name,
                "dim": self.dim, "created_at": self.created_at}

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
