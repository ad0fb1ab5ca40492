"""The sidebar on every page: the knowledge-base picker (create / switch / delete), Ollama's state and
the UI language."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import streamlit as st

from ui import context, render, resources, state, status
from ui.i18n import t, tm
from ui.state import K

if TYPE_CHECKING:
    from kb import KnowledgeBase, Settings


def language() -> None:
    st.segmented_control(t("sidebar.language"), list(state.LANGUAGES), key=K.LANG, default="zh", required=True,
                         format_func=lambda code: {"zh": "中文", "en": "English"}[code], bind="query-params")


def _create(settings: "Settings") -> None:
    name = (st.session_state.get(K.KB_NEW_NAME) or "").strip()
    if name and context.create(settings, name):
        st.session_state[K.KB_NEW_NAME] = ""


def _delete(settings: "Settings", name: str) -> None:
    """Delete through the core (it takes the writer lock); other sessions learn it from the listing."""
    from kb import KBError, KnowledgeBase, KnowledgeBaseNotFound

    try:
        KnowledgeBase.remove(settings, name)
    except KnowledgeBaseNotFound:
        pass  # already gone (another session or the CLI was first): the same outcome
    except KBError as exc:
        state.flash("error", exc)
        return
    resources.forget(settings, name)
    remaining = [n for n in resources.list_names(settings) if n != name]
    state.set_kb_name(_fallback(settings, remaining))
    st.session_state[K.KB_DELETE_CONFIRM] = False
    state.flash("success", tm("sidebar.deleted", name=name))


def _fallback(settings: "Settings", names: list[str]) -> str | None:
    """Where a session goes when its knowledge base is gone: the default one, else the first, else none."""
    if settings.storage.default_kb in names:
        return settings.storage.default_kb
    return names[0] if names else None


def knowledge_base_picker(settings: "Settings") -> str | None:
    """Draws the picker and returns the chosen knowledge base's name (None: there is none yet).

    Only existing knowledge bases are offered. One this session had chosen that is no longer there
    (deleted elsewhere, or a stale ?kb= link) is said to be gone, never created again."""
    infos = resources.list_all(settings)
    st.session_state[K.KB_INFOS] = infos  # for context.kb() in this run: the listing is not free
    gone = state.take_gone()
    names = [i.name for i in infos if i.name != gone]
    current = state.kb_name()
    if current is None and K.KB not in st.session_state:  # a new session: the link may name one (?kb=)
        current = st.query_params.get(K.KB) or None
    if current is not None and current not in names:
        resources.forget(settings, current)
        state.flash("warning", tm("sidebar.gone", name=current))
        current = None
    if current is None:
        current = _fallback(settings, names)
        state.set_kb_name(current)
    damaged = {i.name for i in infos if context.problem(i)}
    if names:
        st.selectbox(t("sidebar.kb"), names, key=K.KB, bind="query-params",
                     format_func=lambda n: f"⚠ {n}" if n in damaged else n)
    else:
        st.caption(t("sidebar.no_kb"))
    left, right = st.columns(2)
    with left.popover(t("sidebar.new"), icon=":material/add:", width="stretch"):
        st.text_input(t("sidebar.new_name"), key=K.KB_NEW_NAME, placeholder="notes-2", help=t("sidebar.name_rule"))
        st.button(t("sidebar.create"), key=K.KB_CREATE, on_click=_create, args=(settings,), type="primary")
    if current is not None:
        with right.popover(t("sidebar.delete"), icon=":material/delete:", width="stretch"):
            st.checkbox(tm("sidebar.delete_confirm", name=current), key=K.KB_DELETE_CONFIRM)
            st.button(t("sidebar.delete_now"), key=K.KB_DELETE, on_click=_delete, args=(settings, current),
                      disabled=not st.session_state.get(K.KB_DELETE_CONFIRM), type="primary")
    return current


def ollama_badge(settings: "Settings") -> None:
    """Ollama's last known state (never asked here: ui.status asks in the background)."""
    snapshot = status.latest(settings)
    if snapshot is None:
        st.badge(t("status.checking"), icon=":material/hourglass_empty:", color="gray")
    else:
        current = snapshot.status
        if not current.reachable:
            st.badge(t("sidebar.ollama_down"), icon=":material/cloud_off:", color="red")
        elif not current.model_present:
            st.badge(tm("sidebar.model_missing", model=current.model), icon=":material/warning:", color="orange")
        else:
            st.badge(render.escape_md(f"Ollama {current.version} · {current.model}"), icon=":material/check_circle:",
                     color="green")
            where = current.running.placement if current.running else t("sidebar.not_loaded")
            st.caption(tm("sidebar.placement", where=where))
    if snapshot is None or state.status_wanted() is not None:
        _await_status(settings, snapshot.at if snapshot else 0.0)


def _await_status(settings: "Settings", drawn_at: float) -> None:
    """While there is no answer yet, or a refresh was asked for: look twice a second (reading memory,
    not Ollama) and redraw the app once a newer answer is there."""

    @st.fragment(run_every=0.5)
    def poll() -> None:
        snapshot = status.latest(settings)
        wanted = state.status_wanted()
        if snapshot is not None and snapshot.at > max(drawn_at, wanted or 0.0):
            state.set_status_wanted(None)
            st.rerun(scope="app")

    poll()


def refresh_status(settings: "Settings") -> None:
    """The refresh button: ask Ollama again in the background; the poller redraws when it answered."""
    state.set_status_wanted(time.time())
    status.refresh(settings)
