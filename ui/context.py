"""What every page starts from: the settings and the knowledge base the user picked.

A knowledge base can disappear under a session (another session or the CLI deleted it) and can be
damaged. Neither may break the app: a deleted one is dropped from the cache, the user is told and
the sidebar moves to another one (`gone`); a damaged one shows its message and advice in place of
the page (`kb`). Callbacks that call the core are wrapped in `guard`, so their errors become
messages too.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable

import streamlit as st

from ui import render, resources, state
from ui.i18n import t, tm
from ui.state import K

if TYPE_CHECKING:
    from kb import KBInfo, KnowledgeBase, Settings


def settings() -> "Settings":
    """The settings, or an error on the page and a stop (a bad config.toml or KB_* variable)."""
    from kb import KBError

    try:
        return resources.settings()
    except KBError as exc:
        render.error(exc)
        st.stop()
        raise  # unreachable: st.stop() raises


def problem(info: "KBInfo | None") -> str | None:
    """The damage of a listed knowledge base as safe Markdown in the session's language, None when healthy."""
    if info is None or not info.damaged:
        return None
    from ui import safe

    return safe.coded(info.problem_code, info.problem_params, state.lang())


def gone(current: "Settings", name: str) -> None:
    """`name` was deleted: drop our instance, and let the next run's picker say so and move on."""
    resources.forget(current, name)
    state.mark_gone(name)


def kb() -> "KnowledgeBase":
    """The open, shared knowledge base of this session's choice; otherwise the empty state, the damage
    or the error on the page, and a stop."""
    from kb import KBError, KnowledgeBaseNotFound

    current = settings()
    name = state.kb_name()
    if name is None:
        empty_state(current)
        st.stop()
    infos = st.session_state.get(K.KB_INFOS)
    if infos is None:
        infos = resources.list_all(current)
    info = next((i for i in infos if i.name == name), None)
    damage = problem(info)
    if damage is not None:
        show_damage(name, damage)
        st.stop()
    try:
        return resources.knowledge_base(current, name)
    except KnowledgeBaseNotFound:
        gone(current, name)
        st.rerun()
    except KBError as exc:
        render.error(exc)
        st.stop()
    raise AssertionError("unreachable: st.stop() and st.rerun() raise")


def show_damage(name: str, damage: str) -> None:
    st.error(tm("kb.damaged", name=name), icon=":material/report:")
    st.markdown(damage)


def empty_state(current: "Settings") -> None:
    """No knowledge base at all: say how to make one, with a button for the usual first one."""
    st.info(t("kb.none"), icon=":material/library_add:")
    st.button(tm("kb.create_default", name=current.storage.default_kb), key=K.KB_CREATE_DEFAULT, type="primary",
              icon=":material/add:", on_click=create, args=(current, current.storage.default_kb))


def create(current: "Settings", name: str) -> bool:
    """The one place a knowledge base is created: the sidebar's "new" and the empty state's button."""
    from kb import KBError

    try:
        resources.create(current, name)
    except KBError as exc:
        state.flash("error", exc)
        return False
    state.set_kb_name(name)
    state.flash("success", tm("sidebar.created", name=name))
    return True


def run_page(navigation: Any) -> None:
    """Run the chosen page. Its knowledge base deleted meanwhile (the core raises KnowledgeBaseNotFound
    from a verb): move on as `kb()` does. Any other kb error a page did not catch: its message, not a
    traceback."""
    from kb import KBError, KnowledgeBaseNotFound

    try:
        navigation.run()
    except KnowledgeBaseNotFound:
        name = state.kb_name()
        if name:
            gone(settings(), name)
        st.rerun()
    except KBError as exc:
        render.error(exc)


def guard(callback: Callable[..., Any]) -> Callable[..., Any]:
    """For on_click/on_change callbacks that call the core: a KBError becomes a message on the page
    (a deleted knowledge base: the sidebar moves on) instead of a traceback."""

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        from kb import KBError, KnowledgeBaseNotFound

        try:
            return callback(*args, **kwargs)
        except KnowledgeBaseNotFound:
            name = state.kb_name()
            if name:
                gone(settings(), name)
        except KBError as exc:
            state.flash("error", exc)
        return None

    return run
