"""What every page starts from: the settings and the knowledge base the user picked."""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from ui import render, resources, state

if TYPE_CHECKING:
    from kb import KnowledgeBase, Settings


def settings() -> "Settings":
    """The settings, or an error on the page and a stop (a bad config.toml or KB_* variable)."""
    from kb import KBError

    try:
        return resources.settings()
    except KBError as exc:
        render.error(exc)
        st.stop()
        raise  # unreachable: st.stop() raises


def kb() -> "KnowledgeBase":
    """The open, shared knowledge base of this session's choice, or an error on the page and a stop."""
    from kb import KBError

    current = settings()
    try:
        return resources.knowledge_base(current, state.kb_name(current.storage.default_kb))
    except KBError as exc:
        render.error(exc)
        st.stop()
        raise
