"""Heavy objects shared by every session, built once per process (st.cache_resource).

The knowledge base is thread-safe for one process (writes take its lock), so sessions can share
one instance per (settings, name). Settings are re-read on every run: it is one small file, and
it keeps the cache key honest when KB_* variables differ between test runs in one process.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from kb import KnowledgeBase, Settings
    from kb.ollama import OllamaStatus

log = logging.getLogger(__name__)


def settings() -> "Settings":
    """config.toml + KB_* overrides; a ConfigError is the caller's to show."""
    from kb import Settings

    return Settings.load()


def _release(kb: "KnowledgeBase") -> None:
    kb.close()


@st.cache_resource(show_spinner=False, on_release=_release)
def _knowledge_base(signature: str, name: str, _settings: "Settings") -> "KnowledgeBase":
    from kb import KnowledgeBase

    return KnowledgeBase.open(_settings, name, create=True)


def knowledge_base(settings: "Settings", name: str) -> "KnowledgeBase":
    """The shared, open knowledge base `name` (created empty on first use)."""
    return _knowledge_base(repr(settings), name, settings)


def forget(settings: "Settings", name: str) -> None:
    """Close and drop the cached instance, e.g. before the knowledge base is deleted."""
    _knowledge_base.clear(repr(settings), name, settings)
    _ollama_status.clear()


def list_names(settings: "Settings") -> list[str]:
    from kb import KnowledgeBase

    return [info.name for info in KnowledgeBase.list_all(settings)]


@st.cache_resource(show_spinner=False, ttl=5, max_entries=16)
def _ollama_status(url: str, model: str, _kb: "KnowledgeBase") -> "OllamaStatus":
    return _kb.ollama_status()


def ollama_status(kb: "KnowledgeBase") -> "OllamaStatus":
    """Ollama's state, re-asked at most every 5 s: the sidebar shows it on every page."""
    return _ollama_status(kb.settings.ollama.url, kb.settings.ollama.model, kb)


def refresh_ollama_status() -> None:
    _ollama_status.clear()


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
