"""Heavy objects shared by every session, built once per process (st.cache_resource).

The knowledge base is thread-safe for one process (writes take its lock), so sessions can share
one instance per (settings, name). Settings are re-read on every run: it is one small file, and
it keeps the cache key honest when KB_* variables differ between test runs in one process.

Opening never creates: a session whose knowledge base was deleted (by another session, or the CLI)
must hear that it is gone, not get an empty one of the same name. Only `create` (the sidebar's
explicit action) makes one. A dropped instance is not closed here: other sessions, or an ingest
thread, may still hold it; deleting is the core's business (`KnowledgeBase.remove`), and an
instance whose knowledge base is gone answers its verbs with `KnowledgeBaseNotFound`.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from kb import KnowledgeBase, Settings

log = logging.getLogger(__name__)


def settings() -> "Settings":
    """config.toml + KB_* overrides; a ConfigError is the caller's to show."""
    from kb import Settings

    return Settings.load()


@st.cache_resource(show_spinner=False)
def _knowledge_base(signature: str, name: str, _settings: "Settings", _create: bool = False) -> "KnowledgeBase":
    from kb import KnowledgeBase

    return KnowledgeBase.open(_settings, name, create=_create, background_ollama=True)


def knowledge_base(settings: "Settings", name: str) -> "KnowledgeBase":
    """The shared, open knowledge base `name`; `KnowledgeBaseNotFound` when there is none."""
    return _knowledge_base(repr(settings), name, settings)


def create(settings: "Settings", name: str) -> "KnowledgeBase":
    """Create the knowledge base `name` (or open it, if it exists). A bad name is a KBError."""
    return _knowledge_base(repr(settings), name, settings, _create=True)


def forget(settings: "Settings", name: str) -> None:
    """Drop the cached instance (without closing it under the sessions that still hold it)."""
    _knowledge_base.clear(repr(settings), name, settings)


def list_all(settings: "Settings") -> list:
    """Every knowledge base of the data folder, damaged ones included (KBInfo.problem_code set)."""
    from kb import KnowledgeBase

    return KnowledgeBase.list_all(settings)


def list_names(settings: "Settings") -> list[str]:
    return [info.name for info in list_all(settings)]


@st.cache_resource(show_spinner=False)
def _warm_up(signature: str, name: str, _kb: "KnowledgeBase") -> threading.Thread:
    thread = threading.Thread(target=_warm, args=(_kb,), name=f"kb-warm-up-{name}", daemon=True)
    thread.start()
    return thread


def _warm(kb: "KnowledgeBase") -> None:
    """Load what the retrieval and chat pages need (tables, charts, embedder, tokenizer, chat stack)."""
    from kb import KBError

    started = time.perf_counter()
    import altair  # noqa: F401
    import pandas  # noqa: F401

    try:
        kb.prompt_preview("知识库 warm-up")
    except KBError as exc:
        log.info("warm_up kb=%s skipped=%s", kb.name, exc)
    except Exception:  # only a head start: the page that needs it will meet (and show) the same error
        log.exception("warm_up_failed kb=%s", kb.name)
        return
    log.info("warm_up kb=%s seconds=%.2f", kb.name, time.perf_counter() - started)


def warm_up(kb: "KnowledgeBase") -> None:
    """Once per knowledge base and process, after the first page is drawn: so the first visit to the
    retrieval or chat page does not wait for imports and model loading."""
    _warm_up(repr(kb.settings), kb.name, kb)
