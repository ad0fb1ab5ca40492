"""Stored originals in PostgreSQL (bytea, keyed by sha256 and extension), so every machine can reindex.

The same rules as kb/store/files.py's `Originals`: kept once per content, again when the stored
copy no longer has its hash, with the names of the documents that use it; released when the last
user goes. Each call is its own short transaction on the writer's connection (the facade calls
them under the writer lock, the original before the document's transaction, as with files).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb


class PGOriginals:
    def __init__(self, store: Any):
        self.store = store

    def _conn(self) -> Any:
        conn = self.store._writer_conn if self.store.writer_held() else None
        if conn is None:
            conn = getattr(self.store._local, "orig_conn", None)
            if conn is None or conn.closed:
                conn = self.store._local.orig_conn = self.store._new_conn()
        return conn

    @staticmethod
    def _ext(file_name: str) -> str:
        return Path(file_name).suffix.lower()

    def keep(self, file_hash: str, file_name: str, data: bytes) -> None:
        s, ext = self.store.schema, self._ext(file_name)
        with self._conn().transaction() as tx:
            conn = tx.connection
            row = conn.execute(f"SELECT data, names FROM {s}.originals WHERE sha256=%s AND ext=%s FOR UPDATE",
                               (file_hash, ext)).fetchone()
            if row is None:
                conn.execute(f"INSERT INTO {s}.originals VALUES (%s,%s,%s,%s)", (file_hash, ext, data,
                                                                                  Jsonb([file_name])))
                return
            names = list(row[1])
            intact = hashlib.sha256(bytes(row[0])).hexdigest() == file_hash
            if not intact or file_name not in names:
                conn.execute(f"UPDATE {s}.originals SET data=%s, names=%s WHERE sha256=%s AND ext=%s",
                             (data if not intact else row[0], Jsonb(sorted({*names, file_name})), file_hash, ext))

    def read_intact(self, file_hash: str, file_name: str) -> bytes | None:
        with self.store.read() as view:
            rows = view._q("SELECT data FROM {s}.originals WHERE sha256=%s AND ext=%s",
                           (file_hash, self._ext(file_name)))
        if not rows:
            return None
        data = bytes(rows[0][0])
        return data if hashlib.sha256(data).hexdigest() == file_hash else None

    def release(self, file_hash: str, file_name: str, still_used: bool) -> None:
        s, ext = self.store.schema, self._ext(file_name)
        with self._conn().transaction() as tx:
            conn = tx.connection
            row = conn.execute(f"SELECT names FROM {s}.originals WHERE sha256=%s AND ext=%s FOR UPDATE",
                               (file_hash, ext)).fetchone()
            if row is None:
                return
            names = [n for n in row[0] if n != file_name]
            if still_used or names:
                conn.execute(f"UPDATE {s}.originals SET names=%s WHERE sha256=%s AND ext=%s",
                             (Jsonb(names), file_hash, ext))
            else:
                conn.execute(f"DELETE FROM {s}.originals WHERE sha256=%s AND ext=%s", (file_hash, ext))

    def stored(self) -> list[tuple[str, str, bytes, list[str]]]:
        with self.store.read() as view:
            return [(r[0], r[1], bytes(r[2]), list(r[3]))
                    for r in view._q("SELECT sha256, ext, data, names FROM {s}.originals ORDER BY sha256, ext")]
