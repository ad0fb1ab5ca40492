"""KB Studio: `streamlit run streamlit_app.py`.

The entry draws the sidebar (knowledge base, Ollama, language), then runs the chosen page from
app_pages/. It imports nothing heavy itself: `kb` (numpy, FAISS, jieba) loads on first use, and the
chat stack warms up in the background after the first page has been drawn.

The folder is not called `pages/` on purpose: Streamlit treats a `pages/` folder next to the entry
with its old convention until `st.navigation` has run once in the process (and AppTest on every
run). The first visitor then gets a page without the sidebar, or loses the first click.
"""
from __future__ import annotations

import logging

import streamlit as st

from ui import context, render, resources, sidebar, state
from ui.i18n import t

PAGES = (
    ("app_pages/overview.py", "page.overview", ":material/dashboard:", "overview"),
    ("app_pages/upload.py", "page.upload", ":material/upload_file:", "upload"),
    ("app_pages/chunks.py", "page.chunks", ":material/view_list:", "chunks"),
    ("app_pages/retrieval.py", "page.retrieval", ":material/manage_search:", "retrieval"),
    ("app_pages/chat.py", "page.chat", ":material/forum:", "chat"),
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
render.flashes(state.take_flashes())
kb = context.kb()
with status:
    sidebar.ollama_badge(kb)
navigation.run()
resources.warm_up(kb)
