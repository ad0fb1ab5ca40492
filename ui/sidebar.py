"""The sidebar on every page: the knowledge-base picker (create / switch / delete), Ollama's state and
the UI language."""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from ui import render, resources, state
from ui.i18n import t, tm
from ui.state import K

if TYPE_CHECKING:
    from kb import KnowledgeBase, Settings


def language() -> None:
    st.segmented_control(t("sidebar.language"), list(state.LANGUAGES), key=K.LANG, default="zh", required=True,
                         format_func=lambda code: {"zh": "中文", "en": "English"}[code], bind="query-params")


def _create(settings: "Settings") -> None:
    from kb import KBError

    name = (st.session_state.get(K.KB_NEW_NAME) or "").strip()
    if not name:
        return
    try:
        resources.knowledge_base(settings, name)
    except KBError as exc:
        state.flash("error", render.message_md(str(exc)))
        return
    state.set_kb_name(name)
    st.session_state[K.KB_NEW_NAME] = ""
    state.flash("success", t("sidebar.created", name=render.escape_md(name)))


def _delete(settings: "Settings", name: str) -> None:
    from kb import KBError, KnowledgeBase

    resources.forget(settings, name)
    try:
        KnowledgeBase.remove(settings, name)
    except KBError as exc:
        state.flash("error", render.message_md(str(exc)))
        return
    remaining = [n for n in resources.list_names(settings) if n != name]
    state.set_kb_name(remaining[0] if remaining else settings.storage.default_kb)
    st.session_state[K.KB_DELETE_CONFIRM] = False
    state.flash("success", t("sidebar.deleted", name=render.escape_md(name)))


def knowledge_base_picker(settings: "Settings") -> str:
    """Draws the picker and returns the chosen knowledge base's name."""
    current = state.kb_name(settings.storage.default_kb)
    names = resources.list_names(settings)
    if current not in names:
        names = sorted([*names, current])  # opened (and so created) below, on first use
    if K.KB not in st.session_state:
        state.set_kb_name(current)
    st.selectbox(t("sidebar.kb"), names, key=K.KB, bind="query-params")
    left, right = st.columns(2)
    with left.popover(t("sidebar.new"), icon=":material/add:", width="stretch"):
        st.text_input(t("sidebar.new_name"), key=K.KB_NEW_NAME, placeholder="notes-2", help=t("sidebar.name_rule"))
        st.button(t("sidebar.create"), key=K.KB_CREATE, on_click=_create, args=(settings,), type="primary")
    with right.popover(t("sidebar.delete"), icon=":material/delete:", width="stretch"):
        st.checkbox(tm("sidebar.delete_confirm", name=current), key=K.KB_DELETE_CONFIRM)
        st.button(t("sidebar.delete_now"), key=K.KB_DELETE, on_click=_delete, args=(settings, current),
                  disabled=not st.session_state.get(K.KB_DELETE_CONFIRM), type="primary")
    return current


def ollama_badge(kb: "KnowledgeBase") -> None:
    status = resources.ollama_status(kb)
    if not status.reachable:
        st.badge(t("sidebar.ollama_down"), icon=":material/cloud_off:", color="red")
    elif not status.model_present:
        st.badge(tm("sidebar.model_missing", model=status.model), icon=":material/warning:", color="orange")
    else:
        st.badge(render.escape_md(f"Ollama {status.version} · {status.model}"), icon=":material/check_circle:", color="green")
        where = status.running.placement if status.running else t("sidebar.not_loaded")
        st.caption(tm("sidebar.placement", where=where))
