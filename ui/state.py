"""Typed accessors for per-user state. Widget keys are named here once, so pages and tests agree.

Keys bound to the URL (`lang`, `kb`, `chat`) survive a page reload; the others live as long as the
browser session. Shared, heavy objects never go here: they are in `ui.resources`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

if TYPE_CHECKING:
    from ui.jobs import Job

LANGUAGES = ("zh", "en")


class K:
    """Widget and state keys."""

    LANG = "lang"  # bound to ?lang=
    KB = "kb"  # bound to ?kb=
    KB_NEW_NAME = "kb_new_name"
    KB_CREATE = "kb_create"
    KB_DELETE_CONFIRM = "kb_delete_confirm"
    KB_DELETE = "kb_delete"
    KB_INFOS = "_kb_infos"  # this run's listing of the knowledge bases (the picker fills it)
    KB_GONE = "_kb_gone"  # a knowledge base found deleted during the last run
    KB_CREATE_DEFAULT = "kb_create_default"  # the empty state's button
    STATUS_WANTED = "_status_wanted"
    FLASH = "_flash"  # one-shot messages shown on the next run
    JOBS = "_jobs"
    JOBS_FINISHED = "_jobs_finished"  # the last finished job of each kind, kept after its page retired it

    OVERVIEW_SETUP = "overview_setup_model"
    OVERVIEW_REFRESH = "overview_refresh"

    UPLOAD_NONCE = "_upload_nonce"
    UPLOAD_FILES = "upload_files"  # + nonce, so the box empties after an ingest
    UPLOAD_INGEST = "upload_ingest"
    UPLOAD_REINDEX_ALL = "upload_reindex_all"
    DOC_PENDING_DELETE = "_doc_pending_delete"

    CHUNKS_DOC = "chunks_doc"
    CHUNKS_PAGE = "chunks_page"
    CHUNKS_HEADING = "chunks_heading"
    CHUNKS_TEXT = "chunks_text"
    CHUNKS_TABLE = "chunks_table"
    CHUNKS_TAB = "chunks_tab"

    RET_QUERY = "retrieval_query"
    RET_RECENT = "retrieval_recent"
    RET_RECENT_LIST = "_retrieval_recent_list"
    RET_HISTORY = "retrieval_history"
    RET_MODE = "retrieval_mode"
    RET_FUSION = "retrieval_fusion"
    RET_K = "retrieval_k"
    RET_THRESHOLD = "retrieval_threshold"
    RET_MMR = "retrieval_mmr"
    RET_DOCS = "retrieval_docs"
    RET_LLM_REWRITE = "retrieval_llm_rewrite"
    RET_LLM_RERANK = "retrieval_llm_rerank"
    RET_TAB = "retrieval_tab"
    RET_B_MODE = "retrieval_b_mode"
    RET_B_FUSION = "retrieval_b_fusion"
    RET_B_K = "retrieval_b_k"
    RET_B_THRESHOLD = "retrieval_b_threshold"
    RET_B_MMR = "retrieval_b_mmr"

    CHAT = "chat"  # bound to ?chat=
    CHAT_MODE = "chat_mode"
    CHAT_NEW = "chat_new"
    CHAT_DELETE = "chat_delete"
    CHAT_INPUT = "chat_input"
    CHAT_UNSAVED = "_chat_unsaved"  # answers the core could not store, by conversation


def lang() -> str:
    value = st.session_state.get(K.LANG)
    return value if value in LANGUAGES else "zh"


def kb_name() -> str | None:
    """The knowledge base this session works on; None before the sidebar picked one (or when there is none)."""
    value = st.session_state.get(K.KB)
    return value if isinstance(value, str) and value else None


def set_kb_name(name: str | None) -> None:
    """Only from a callback or before the sidebar picker is drawn in this run."""
    st.session_state[K.KB] = name


def mark_gone(name: str) -> None:
    """The knowledge base `name` turned out to be deleted: the picker says so on the next run and moves on."""
    st.session_state[K.KB_GONE] = name


def take_gone() -> str | None:
    return st.session_state.pop(K.KB_GONE, None)


def status_wanted() -> float | None:
    """When this session asked for a fresh Ollama status (the refresh button), until it arrived."""
    return st.session_state.get(K.STATUS_WANTED)


def set_status_wanted(at: float | None) -> None:
    st.session_state[K.STATUS_WANTED] = at


def jobs() -> dict[str, "Job"]:
    """Background jobs of this session (ingest, re-index, model setup), by kind."""
    return st.session_state.setdefault(K.JOBS, {})


def finished_jobs() -> dict[str, "Job"]:
    """The last finished job of each kind, recorded when its end is first drawn. A page may retire a
    job from `jobs()` in that same run (the model setup does, once it said "created"), and a job that
    ends before the page reaches its panel ends and is retired within the run that started it: this
    record is how a test (or a later page) still finds it."""
    return st.session_state.setdefault(K.JOBS_FINISHED, {})


def flash(kind: str, message: Any) -> None:
    """Queue a message (kind: success | info | warning | error) to show once on the next run: safe
    Markdown (made with tm()), or an exception, rendered in the session's language when shown."""
    st.session_state.setdefault(K.FLASH, []).append((kind, message))


def take_flashes() -> list[tuple[str, Any]]:
    return st.session_state.pop(K.FLASH, [])


def upload_key() -> str:
    return f"{K.UPLOAD_FILES}_{st.session_state.get(K.UPLOAD_NONCE, 0)}"


def reset_upload() -> None:
    st.session_state[K.UPLOAD_NONCE] = st.session_state.get(K.UPLOAD_NONCE, 0) + 1


def pending_doc_delete() -> str | None:
    return st.session_state.get(K.DOC_PENDING_DELETE)


def set_pending_doc_delete(file_name: str | None) -> None:
    st.session_state[K.DOC_PENDING_DELETE] = file_name


def recent_queries() -> list[str]:
    return st.session_state.setdefault(K.RET_RECENT_LIST, [])


def remember_query(query: str, keep: int = 8) -> None:
    recent = recent_queries()
    if query in recent:
        recent.remove(query)
    recent.insert(0, query)
    del recent[keep:]


def unsaved_answers(session: str) -> list[Any]:
    """Answers of `session` the core could not store (a full disk), kept for this browser session so a
    rerun does not make them vanish; they come with the core's "not saved" notice."""
    return st.session_state.setdefault(K.CHAT_UNSAVED, {}).setdefault(session, [])


def chat_session() -> str | None:
    value = st.session_state.get(K.CHAT)
    return value if isinstance(value, str) and value else None


def set_chat_session(name: str) -> None:
    st.session_state[K.CHAT] = name
