"""Make Streamlit use our `st.navigation` even though the page files live in `pages/`.

Streamlit 1.x keeps a class-wide flag, `PagesManager.uses_pages_directory`, set when a `pages/`
folder sits next to the entry script. While it is set, a run does not execute the entry at all:
Streamlit builds its old file-name menu and runs the page file on its own (no sidebar, no
knowledge base picker). `st.navigation` clears the flag, but only once the entry has run. So the
entry and every page call `use_navigation()` first: if the old mode is on, clear it and rerun,
and the rerun goes through the entry and our navigation to the same page.
"""
from __future__ import annotations

import streamlit as st


def use_navigation() -> None:
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
