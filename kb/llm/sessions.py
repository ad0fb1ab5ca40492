"""Chat sessions persisted in SQLite (`<kb folder>/chats.sqlite`), one row per turn.

Each assistant turn keeps its answer's data (citations, budget, usage, flags) as JSON, so a
reloaded conversation shows exactly what was shown before. The conversation buffer given to
the model is rebuilt from these rows (kb/llm/chat.py loads them into ConversationBufferMemory).

An answer is saved while it streams: `begin_exchange` stores the question and an empty answer
marked `streaming` when the stream starts, `update_answer` rewrites the answer as tokens arrive
(the caller throttles), and the end marks it `complete` or `interrupted` (the reader went away,
e.g. a Streamlit rerun closed the generator). A turn left `streaming` by a process that died
reads as `interrupted`. Every SQLite failure is a `StoreError` with a code; chat turns a failed
save into a notice on the answer, never a lost answer.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from kb.errors import KBError, StoreError
from kb.store import utc_now

log = logging.getLogger(__name__)

STATES = ("complete", "streaming", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (name TEXT PRIMARY KEY, title TEXT NOT NULL, created_at TEXT NOT NULL,
                                     updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS turns (id INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT NOT NULL
                                  REFERENCES sessions(name) ON DELETE CASCADE, role TEXT NOT NULL,
                                  content TEXT NOT NULL, data TEXT, created_at TEXT NOT NULL,
                                  state TEXT NOT NULL DEFAULT 'complete');
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
    role: str  # user | assistant (as stored: kb.llm.chat validates before use)
    content: Any  # text, as stored: kb.llm.chat refuses anything else with a clear error
    data: dict[str, Any] | None  # the answer's data for assistant turns (None when absent or unreadable)
    created_at: str
    state: str = "complete"  # complete | streaming | interrupted
    id: int = 0


def valid_session_name(name: str) -> bool:
    return bool(name) and len(name) <= 80 and all(ch.isalnum() or ch in "-_.:" for ch in name)


class SessionStore:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.RLock()
        self._live: set[int] = set()  # turns this process is streaming into right now
        try:
            self._conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(turns)")}
            if "state" not in columns:  # a history written before answers were saved while streaming
                self._conn.execute("ALTER TABLE turns ADD COLUMN state TEXT NOT NULL DEFAULT 'complete'")
        except sqlite3.Error as exc:
            raise StoreError("session.open_failed", path=path, error=exc) from exc

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One transaction; a SQLite failure (full disk, read-only folder) becomes a coded StoreError."""
        with self._lock:
            try:
                with self._conn:
                    yield self._conn
            except sqlite3.Error as exc:
                raise StoreError("session.save_failed", path=self.path, error=exc) from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def new_name(self) -> str:
        return "chat-" + uuid.uuid4().hex[:8]

    def ensure(self, name: str, title: str = "") -> None:
        _check_name(name)
        now = utc_now()
        with self._writing() as conn:
            conn.execute("INSERT OR IGNORE INTO sessions VALUES (?,?,?,?)", (name, title[:60] or name, now, now))

    def list(self) -> list[SessionInfo]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT s.name, s.title, COUNT(t.id), s.created_at, s.updated_at FROM sessions s "
                "LEFT JOIN turns t ON t.session = s.name GROUP BY s.name ORDER BY s.updated_at DESC").fetchall()
        return [SessionInfo(*r) for r in rows]

    def turns(self, name: str) -> list[StoredTurn]:
        with self._lock:
            rows = self._conn.execute("SELECT id, role, content, data, created_at, state FROM turns WHERE session=? "
                                      "ORDER BY id", (name,)).fetchall()
            live = set(self._live)
        out = []
        for turn_id, role, content, data, created_at, state in rows:
            if state == "streaming" and turn_id not in live:
                state = "interrupted"  # nobody here is writing it: its writer died or went away
            out.append(StoredTurn(role, content, _load_data(data, name, turn_id), created_at, state, turn_id))
        return out

    def begin_exchange(self, name: str, question: str) -> int:
        """Store the question and an empty answer marked `streaming`; returns the answer's turn id."""
        _check_name(name)
        now = utc_now()
        with self._writing() as conn:
            conn.execute("INSERT OR IGNORE INTO sessions VALUES (?,?,?,?)", (name, question[:60], now, now))
            conn.execute("UPDATE sessions SET updated_at=?, title=CASE WHEN title=name THEN ? ELSE title END "
                         "WHERE name=?", (now, question[:60], name))
            conn.execute("INSERT INTO turns (session, role, content, data, created_at, state) VALUES (?,?,?,?,?,?)",
                         (name, "user", question, None, now, "complete"))
            turn_id = conn.execute(
                "INSERT INTO turns (session, role, content, data, created_at, state) VALUES (?,?,?,?,?,?)",
                (name, "assistant", "", None, now, "streaming")).lastrowid
            assert turn_id is not None
            self._live.add(turn_id)
        return turn_id

    def update_answer(self, turn_id: int, text: str, data: dict[str, Any] | None = None,
                      state: str = "streaming") -> None:
        """Rewrite a streaming answer (and, at the end, its data and final state)."""
        if state not in STATES:
            raise ValueError(state)
        blob = json.dumps(data, ensure_ascii=False, default=str) if data is not None else None
        try:
            with self._writing() as conn:
                conn.execute("UPDATE turns SET content=?, data=COALESCE(?, data), state=? WHERE id=?",
                             (text, blob, state, turn_id))
        finally:
            if state != "streaming":
                with self._lock:
                    self._live.discard(turn_id)

    def add_exchange(self, name: str, question: str, answer: str, data: dict[str, Any]) -> None:
        """Store a finished question and answer (begin + complete)."""
        turn_id = self.begin_exchange(name, question)
        self.update_answer(turn_id, answer, data, state="complete")

    def delete(self, name: str) -> None:
        with self._writing() as conn:
            conn.execute("DELETE FROM turns WHERE session=?", (name,))
            conn.execute("DELETE FROM sessions WHERE name=?", (name,))


def _check_name(name: str) -> None:
    if not valid_session_name(name):
        raise KBError("session.name_invalid", name=name)


def _load_data(raw: Any, session: str, turn_id: int) -> dict[str, Any] | None:
    """The answer's stored data; unreadable data is logged and dropped (the turn's text is kept)."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (TypeError, ValueError) as exc:
        log.warning("chat turn data unreadable session=%s turn=%d error=%s", session, turn_id, exc)
        return None
    return data if isinstance(data, dict) else None
