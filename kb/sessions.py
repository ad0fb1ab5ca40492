"""Chat sessions persisted in SQLite (`<kb folder>/chats.sqlite`), one row per turn.

Each assistant turn keeps its answer's data (citations, budget, usage, flags) as JSON, so a
reloaded conversation shows exactly what was shown before. The conversation buffer given to
the model is rebuilt from these rows (kb/chat.py loads them into ConversationBufferMemory).
"""
from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import KBError, StoreError
from .store import utc_now

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (name TEXT PRIMARY KEY, title TEXT NOT NULL, created_at TEXT NOT NULL,
                                     updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS turns (id INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT NOT NULL
                                  REFERENCES sessions(name) ON DELETE CASCADE, role TEXT NOT NULL,
                                  content TEXT NOT NULL, data TEXT, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS turns_session ON turns(session, id);
"""


@dataclass(frozen=True)
class SessionInfo:
    name: str
    title: str
    n_turns: int
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class StoredTurn:
    role: str  # user | assistant
    content: str
    data: dict[str, Any] | None  # the answer's data for assistant turns
    created_at: str


def valid_session_name(name: str) -> bool:
    return bool(name) and len(name) <= 80 and all(ch.isalnum() or ch in "-_.:" for ch in name)


class SessionStore:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open the chat history {path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def new_name(self) -> str:
        return "chat-" + uuid.uuid4().hex[:8]

    def ensure(self, name: str, title: str = "") -> None:
        if not valid_session_name(name):
            raise KBError(f"'{name}' is not a valid conversation name: use letters, digits, - _ . :")
        now = utc_now()
        with self._lock, self._conn:
            self._conn.execute("INSERT OR IGNORE INTO sessions VALUES (?,?,?,?)", (name, title[:60] or name, now, now))

    def list(self) -> list[SessionInfo]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT s.name, s.title, COUNT(t.id), s.created_at, s.updated_at FROM sessions s "
                "LEFT JOIN turns t ON t.session = s.name GROUP BY s.name ORDER BY s.updated_at DESC").fetchall()
        return [SessionInfo(*r) for r in rows]

    def turns(self, name: str) -> list[StoredTurn]:
        with self._lock:
            rows = self._conn.execute("SELECT role, content, data, created_at FROM turns WHERE session=? ORDER BY id",
                                      (name,)).fetchall()
        return [StoredTurn(r[0], r[1], json.loads(r[2]) if r[2] else None, r[3]) for r in rows]

    def add_exchange(self, name: str, question: str, answer: str, data: dict[str, Any]) -> None:
        """Store a question and its answer together, in one transaction."""
        now = utc_now()
        with self._lock, self._conn:
            self._conn.execute("INSERT OR IGNORE INTO sessions VALUES (?,?,?,?)", (name, question[:60], now, now))
            self._conn.execute("UPDATE sessions SET updated_at=?, title=CASE WHEN title=name THEN ? ELSE title END "
                               "WHERE name=?", (now, question[:60], name))
            self._conn.execute("INSERT INTO turns (session, role, content, data, created_at) VALUES (?,?,?,?,?)",
                               (name, "user", question, None, now))
            self._conn.execute("INSERT INTO turns (session, role, content, data, created_at) VALUES (?,?,?,?,?)",
                               (name, "assistant", answer, json.dumps(data, ensure_ascii=False, default=str), now))

    def delete(self, name: str) -> None:
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM turns WHERE session=?", (name,))
            self._conn.execute("DELETE FROM sessions WHERE name=?", (name,))
