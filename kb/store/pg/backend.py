"""Knowledge bases by name on one PostgreSQL server: create, open, list, remove, check (kb/store/base.py Backend)."""
from __future__ import annotations

import hashlib
import logging
import uuid as uuidlib
from pathlib import Path

from kb.errors import EmbedderMismatch, KnowledgeBaseNotFound, StoreError
from kb.types import CheckReport, KBInfo, Problem
from kb.store.files import utc_now
from kb.store.pg.schema import (FORMAT_VERSION, HNSW_DDL, KB_DDL, POSTINGS_DDL, REGISTRY, UPGRADE_2, connect,
                                ensure_extension, ensure_registry, import_psycopg, schema_for, shown_url)
from kb.store.pg.search import PGIndexes
from kb.store.pg.store import _N_TERMS, PGStore, lock_key

log = logging.getLogger(__name__)


class PGBackend:
    kind = "postgres"

    def __init__(self, url: str, local_dir: Path, ef_search: int = 100):
        self.url = url
        self.local_dir = local_dir  # <data_dir>/pg/<name>/: this machine's conversations
        self.ef_search = ef_search
        self._ready = False

    def _admin(self):
        conn = connect(self.url)
        if not self._ready:
            try:
                ensure_extension(conn, self.url)
                ensure_registry(conn, self.url)
            except BaseException:
                conn.close()
                raise
            self._ready = True
        return conn

    def _row(self, conn, name: str):
        return conn.execute(f"SELECT schema_name, uuid, created_at FROM {REGISTRY} WHERE name=%s", (name,)).fetchone()

    def exists(self, name: str) -> bool:
        with self._admin() as conn:
            return self._row(conn, name) is not None

    def not_found(self, name: str) -> Exception:
        return KnowledgeBaseNotFound("kb.not_found", name=name, folder=shown_url(self.url))

    def create(self, name: str, embedder: str, dim: int) -> PGStore:
        kb_uuid = uuidlib.uuid4().hex
        schema = schema_for(kb_uuid)
        psycopg = import_psycopg()
        with self._admin() as conn:
            try:
                with conn.transaction():
                    conn.execute(f"LOCK TABLE {REGISTRY} IN SHARE ROW EXCLUSIVE MODE")
                    if self._row(conn, name) is not None:
                        raise StoreError("pg.kb_exists", kb=name, url=shown_url(self.url))
                    conn.execute(KB_DDL.format(s=schema, dim=int(dim)))
                    conn.execute(HNSW_DDL.format(s=schema))
                    conn.cursor().executemany(f"INSERT INTO {schema}.meta (key, value) VALUES (%s, %s)",
                                              [("uuid", kb_uuid), ("embedder", embedder), ("dim", str(int(dim))),
                                               ("generation", "0"), ("format_version", str(FORMAT_VERSION)),
                                               ("bm25_n", "0"), ("bm25_len", "0")])
                    conn.execute(f"INSERT INTO {REGISTRY} VALUES (%s,%s,%s,%s,%s)",
                                 (name, schema, kb_uuid, utc_now(), FORMAT_VERSION))
            except psycopg.errors.InsufficientPrivilege as exc:
                raise StoreError("pg.schema_privilege", url=shown_url(self.url), reason=str(exc).strip()) from exc
        return self.open(name, None)

    def open(self, name: str, embedder: str | None, read_only: bool = False) -> PGStore:
        with self._admin() as conn:
            row = self._row(conn, name)
            if row is not None and not read_only:
                upgrade_kb(conn, row[0], row[1])
        if row is None:
            raise self.not_found(name)
        store = PGStore(self.url, name, row[0], row[1], row[2], self.local_dir / name, read_only=read_only)
        if embedder is not None and store.embedder_name != embedder:
            store.close()
            raise EmbedderMismatch("store.embedder_mismatch", kb=name, built=store.embedder_name, configured=embedder)
        store.folder.mkdir(parents=True, exist_ok=True)
        return store

    def indexes(self, store: PGStore) -> PGIndexes:
        return PGIndexes(store, self.ef_search)

    def list_all(self) -> list[KBInfo]:
        with self._admin() as conn:
            rows = conn.execute(f"SELECT name FROM {REGISTRY} ORDER BY name").fetchall()
        out = []
        for (name,) in rows:
            try:
                store = self.open(name, None, read_only=True)
            except KnowledgeBaseNotFound:
                continue  # removed meanwhile
            try:
                d, c, _ = store.counts()
                out.append(KBInfo(name, d, c, store.embedder_name, store.dim, store.size_bytes(), store.created_at))
            finally:
                store.close()
        return out

    def remove(self, name: str) -> None:
        """Wait for a running write (the advisory lock), then drop the registry row and the schema in one
        transaction: every process that has it open sees `kb.deleted` from then on."""
        with self._admin() as conn:
            row = self._row(conn, name)
            if row is None:
                raise self.not_found(name)
            conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(row[1]),))
            try:
                with conn.transaction():
                    conn.execute(f"DELETE FROM {REGISTRY} WHERE name=%s AND uuid=%s", (name, row[1]))
                    conn.execute(f"DROP SCHEMA IF EXISTS {row[0]} CASCADE")
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(row[1]),))

    def check(self, name: str, store: PGStore | None = None, indexes=None) -> CheckReport:
        own = store is None
        store = store or self.open(name, None, read_only=True)
        try:
            return check_store(store)
        finally:
            if own:
                store.close()


def upgrade_kb(conn, schema: str, kb_uuid: str) -> None:
    """Bring a knowledge base written by an older version to FORMAT_VERSION, once, under its writer lock."""
    version = conn.execute(f"SELECT value FROM {schema}.meta WHERE key='format_version'").fetchone()
    if version is None or int(version[0]) >= FORMAT_VERSION:
        return
    key = lock_key(kb_uuid)
    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        with conn.transaction():
            version = conn.execute(f"SELECT value FROM {schema}.meta WHERE key='format_version'").fetchone()
            if int(version[0]) >= FORMAT_VERSION:
                return
            conn.execute(UPGRADE_2.format(s=schema))
            conn.execute(POSTINGS_DDL.format(s=schema))
            n, total = conn.execute(f"SELECT count(*), COALESCE(sum({_N_TERMS}), 0) FROM {schema}.chunks c "
                                    f"JOIN {schema}.vectors v USING (rowid) WHERE v.live").fetchone()
            for k, v in (("bm25_n", n), ("bm25_len", total), ("format_version", FORMAT_VERSION)):
                conn.execute(f"INSERT INTO {schema}.meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                             "SET value = excluded.value", (k, str(int(v))))
            conn.execute(f"UPDATE {REGISTRY} SET format_version = %s WHERE schema_name = %s", (FORMAT_VERSION, schema))
        log.info("pg upgraded schema=%s to format=%d", schema, FORMAT_VERSION)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def check_store(store: PGStore) -> CheckReport:
    """Counts, content hashes, vector dimensions and norms, live flags and postings, originals' sha256."""
    problems: list[Problem] = []
    advice = "check.advice_pg_reingest"

    def add(code: str, where: str, **params) -> None:
        problems.append(Problem(code, {"kb": store.name, **params}, where, advice, {"kb": store.name}))

    with store.read() as view:
        n_docs, n_chunks, n_vectors = view.counts()
        q = view._q
        bad_counts = q("SELECT d.file_name FROM {s}.documents d LEFT JOIN {s}.chunks c USING (doc_id) "
                       "GROUP BY d.doc_id, d.file_name, d.n_chunks HAVING count(c.rowid) <> d.n_chunks")
        for (file_name,) in bad_counts:
            add("check.pg_chunk_count", "documents", file=file_name)
        if n_vectors != n_chunks:
            add("check.pg_vector_count", "vectors", chunks=n_chunks, vectors=n_vectors)
        bad_hash = [cid for cid, text, h in q("SELECT id, text, content_hash FROM {s}.chunks")
                    if hashlib.sha256(text.encode("utf-8")).hexdigest()[:len(h)] != h]
        if bad_hash:
            add("check.pg_content_hash", "chunks", n=len(bad_hash), first=bad_hash[0])
        dim = view.dim()
        wrong_dim = q("SELECT count(*) FROM {s}.vectors WHERE vector_dims(vec) <> %s", (dim,))[0][0]
        if wrong_dim:
            add("check.pg_vector_dim", "vectors", n=int(wrong_dim), dim=dim)
        off_norm = q("SELECT count(*) FROM {s}.vectors WHERE abs(vector_norm(vec) - 1) > 0.01")[0][0]
        if off_norm:
            add("check.pg_vector_norm", "vectors", n=int(off_norm))
        live = q("SELECT count(*) FROM {s}.vectors v JOIN {s}.chunks c USING (rowid) LEFT JOIN {s}.curation u "
                 "ON u.chunk_id = c.id WHERE v.live = COALESCE(u.disabled = 1, FALSE)")[0][0]
        if live:
            add("check.pg_live_flags", "vectors", n=int(live))
        postings = q("SELECT count(*) FROM {s}.chunks c WHERE c.terms <> '' AND NOT EXISTS "
                     "(SELECT 1 FROM {s}.postings p WHERE p.rowid = c.rowid)")[0][0]
        orphans = q("SELECT count(DISTINCT p.rowid) FROM {s}.postings p WHERE NOT EXISTS "
                    "(SELECT 1 FROM {s}.chunks c WHERE c.rowid = p.rowid)")[0][0]
        if postings or orphans:
            add("check.pg_postings", "postings", n=int(postings) + int(orphans))
        wrong_df = q("SELECT count(*) FROM (SELECT term, count(*) AS n FROM {s}.postings WHERE live GROUP BY term) p "
                     "FULL JOIN (SELECT term, df FROM {s}.terms WHERE df <> 0) t USING (term) "
                     "WHERE p.n IS DISTINCT FROM t.df")[0][0]
        n_live, total = q(f"SELECT count(*), COALESCE(sum({_N_TERMS}), 0) FROM {{s}}.chunks c JOIN {{s}}.vectors v "
                          "USING (rowid) WHERE v.live")[0]
        meta = view.meta()
        if wrong_df or (int(meta.get("bm25_n", -1)), int(meta.get("bm25_len", -1))) != (int(n_live), int(total)):
            add("check.pg_keyword_stats", "terms", n=int(wrong_df))
        for (file_name, file_hash) in q("SELECT file_name, file_hash FROM {s}.documents"):
            ext = Path(file_name).suffix.lower()
            rows = q("SELECT data FROM {s}.originals WHERE sha256=%s AND ext=%s", (file_hash, ext))
            if not rows:
                add("check.pg_original_missing", "originals", file=file_name)
            elif hashlib.sha256(bytes(rows[0][0])).hexdigest() != file_hash:
                add("check.pg_original_damaged", "originals", file=file_name)
    return CheckReport(store.name, not problems, tuple(problems), n_docs, n_chunks, n_vectors)


__all__ = ["PGBackend", "check_store"]
