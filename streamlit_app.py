"""KB Studio: `streamlit run streamlit_app.py`.

The entry draws the sidebar (knowledge base, Ollama, language), then runs the chosen page from
pages/. It imports nothing heavy itself: `kb` (numpy, FAISS, jieba) loads on first use, and the
chat stack warms up in the background after the first page has been drawn.

Streamlit treats a `pages/` folder next to the entry with its old (v1) multipage convention
until `st.navigation` has run once in the process (and AppTest on every run): the first visitor
would get a page without the sidebar, or lose the first click. `ui.navigation.use_navigation()`
switches that off before anything is drawn, here and at the top of every page.
"""
from __future__ import annotations

import logging

import streamlit as st

from ui.navigation import use_navigation

use_navigation()  # before anything is drawn: see the module docstring

from ui import context, render, resources, sidebar, state  # noqa: E402
from ui.i18n import t  # noqa: E402

PAGES = (
    ("pages/overview.py", "page.overview", ":material/dashboard:", "overview"),
    ("pages/upload.py", "page.upload", ":material/upload_file:", "upload"),
    ("pages/chunks.py", "page.chunks", ":material/view_list:", "chunks"),
    ("pages/retrieval.py", "page.retrieval", ":material/manage_search:", "retrieval"),
    ("pages/chat.py", "page.chat", ":material/forum:", "chat"),
)

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
for noisy in ("httpx", "faiss", "jieba"):
    logging.getLogger(noisy).setLevel(logging.WARNING)

st.set_page_config(page_title="KB Studio", page_icon="📚", layout="wide")
with st.sidebar:
    picker, status, bottom = st.container(), st.container(), st.container()
with bottom:
    sidebar.language()  # first: the page titles below depend on it
navigation = st.navigation([st.Page(path, title=t(title), icon=icon, url_path=url, default=i == 0)
                            for i, (path, title, icon, url) in enumerate(PAGES)])
settings = context.settings()
with picker:
    sidebar.knowledge_base_picker(settings)
with status:
    sidebar.ollama_badge(settings)  # the last known state: no page waits on Ollama (ui/status.py)
render.flashes(state.take_flashes())
kb = context.kb()  # the empty state, a damaged or a deleted knowledge base stop (or redirect) here
context.run_page(navigation)
resources.warm_up(kb)
