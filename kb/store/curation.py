"""Hand curation of chunks, stored beside the chunks (format 3): edits, disables, manual chunks, and the log.

Chunks are re-made from the original whenever a document is re-ingested, re-indexed or rebuilt, so a
hand edit cannot live only in the chunk row: it would be lost at the next re-chunking (the complaint
about Langchain-Chatchat's editor). A `curation` row therefore says, per chunk id, what the user did
and what the chunk was made from (`orig_hash`, the sha256 of the text the chunker produced), and
kb/curate/chunks.py applies the rows to every freshly prepared document. A disabled chunk stays in `chunks`
(it is still shown) but its row id is left out of `vectors()` / `terms()`, so no index ever holds it.
Every change is appended to `edits`: who (user@host), when, before and after.
"""
from __future__ import annotations

import getpass
import json
import socket
import sqlite3
from dataclasses import dataclass
from typing import Any, Sequence

from kb.store.files import utc_now

SCHEMA = """
CREATE TABLE IF NOT EXISTS curation (
    chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, orig_hash TEXT, position INTEGER NOT NULL, text TEXT,
    heading_path TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, review INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS curation_doc ON curation(doc_id);
CREATE TABLE IF NOT EXISTS edits (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,
    chunk_id TEXT NOT NULL, doc_id TEXT NOT NULL, file_name TEXT NOT NULL, before TEXT, after TEXT);
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, who TEXT NOT NULL, question TEXT NOT NULL,
    chunk_id TEXT NOT NULL, file_name TEXT NOT NULL, evidence TEXT NOT NULL, UNIQUE (question, chunk_id));
CREATE TABLE IF NOT EXISTS activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, action TEXT NOT NULL, doc_id TEXT NOT NULL,
    file_name TEXT NOT NULL, n_chunks INTEGER NOT NULL);
"""

# the row ids an index may hold: every chunk but the disabled ones
ENABLED = ("rowid NOT IN (SELECT c.rowid FROM chunks c JOIN curation u ON u.chunk_id = c.id "
           "WHERE u.disabled = 1)")


@dataclass(frozen=True)
class Curation:
    """What the user did to one chunk. `orig_hash` None: a chunk added by hand. `text` None: not edited."""

    chunk_id: str
    doc_id: str
    orig_hash: str | None
    position: int
    text: str | None
    heading_path: tuple[str, ...] = ()
    disabled: bool = False
    review: bool = False  # edited, and the file changed so that the text it was made from is gone

    @property
    def manual(self) -> bool:
        return self.orig_hash is None

    @property
    def edited(self) -> bool:
        return self.text is not None and not self.manual

    @property
    def empty(self) -> bool:
        """Nothing left to remember (an edit undone and the chunk enabled)."""
        return not self.manual and self.text is None and not self.disabled and not self.review


@dataclass(frozen=True)
class Edit:
    """One line of the edit log."""

    action: str  # edit | disable | enable | add | review | dropped
    chunk_id: str
    doc_id: str
    file_name: str
    before: str | None = None
    after: str | None = None
    who: str = ""
    at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def who() -> str:
    """This machine's user and host: the app runs locally, so that is who made the change."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"{user}@{socket.gethostname()}"


def has_tables(conn: sqlite3.Connection) -> bool:
    """False on a format-2 database opened read-only (it could not be migrated): nothing curated."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='curation'").fetchone() is not None


def rows(conn: sqlite3.Connection, doc_id: str | None = None) -> list[Curation]:
    if not has_tables(conn):
        return []
    sql = "SELECT chunk_id, doc_id, orig_hash, position, text, heading_path, disabled, review FROM curation"
    args: tuple[Any, ...] = ()
    if doc_id is not None:
        sql += " WHERE doc_id=?"
        args = (doc_id,)
    return [Curation(r[0], r[1], r[2], int(r[3]), r[4], tuple(json.loads(r[5])), bool(r[6]), bool(r[7]))
            for r in conn.execute(sql + " ORDER BY doc_id, position", args)]


def edits(conn: sqlite3.Connection, since: str | None = None, limit: int = 1000) -> list[Edit]:
    if not has_tables(conn):
        return []
    rows_ = conn.execute("SELECT action, chunk_id, doc_id, file_name, before, after, who, at FROM edits "
                         "WHERE at >= ? ORDER BY id DESC LIMIT ?", (since or "", int(limit))).fetchall()
    return [Edit(*r) for r in rows_]


def put(conn: sqlite3.Connection, row: Curation) -> None:
    """Store a curation row, or forget it when nothing is left to remember (inside a transaction)."""
    if row.empty:
        conn.execute("DELETE FROM curation WHERE chunk_id=?", (row.chunk_id,))
        return
    conn.execute("INSERT OR REPLACE INTO curation VALUES (?,?,?,?,?,?,?,?)",
                 (row.chunk_id, row.doc_id, row.orig_hash, row.position, row.text,
                  json.dumps(list(row.heading_path), ensure_ascii=False), int(row.disabled), int(row.review)))


def replace_for_doc(conn: sqlite3.Connection, doc_id: str, new_rows: Sequence[Curation]) -> None:
    conn.execute("DELETE FROM curation WHERE doc_id=?", (doc_id,))
    for row in new_rows:
        put(conn, row)


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def questions(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The knowledge base's own question set: each question with the chunk a user marked right for it."""
    if not has_table(conn, "questions"):
        return []
    cols = ("id", "at", "who", "question", "chunk_id", "file_name", "evidence")
    return [dict(zip(cols, r)) for r in conn.execute(f"SELECT {', '.join(cols)} FROM questions ORDER BY id")]


def activity(conn: sqlite3.Connection, since: str) -> list[dict[str, Any]]:
    """Documents added, replaced and removed since `since` (ISO time), oldest first."""
    if not has_table(conn, "activity"):
        return []
    cols = ("at", "action", "doc_id", "file_name", "n_chunks")
    return [dict(zip(cols, r)) for r in conn.execute(f"SELECT {', '.join(cols)} FROM activity WHERE at >= ? "
                                                     "ORDER BY id", (since,))]


def record(conn: sqlite3.Connection, action: str, doc_id: str, file_name: str, n_chunks: int) -> None:
    conn.execute("INSERT INTO activity (at, action, doc_id, file_name, n_chunks) VALUES (?,?,?,?,?)",
                 (utc_now(), action, doc_id, file_name, int(n_chunks)))


def log(conn: sqlite3.Connection, entries: Sequence[Edit]) -> None:
    at, by = utc_now(), who()
    conn.executemany("INSERT INTO edits (at, who, action, chunk_id, doc_id, file_name, before, after) "
                     "VALUES (?,?,?,?,?,?,?,?)",
                     [(e.at or at, e.who or by, e.action, e.chunk_id, e.doc_id, e.file_name, e.before, e.after)
                      for e in entries])
