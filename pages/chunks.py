"""分块 / Chunks: every chunk with its provenance, filterable, with a detail view and statistics."""
from ui.navigation import use_navigation

use_navigation()  # a page run on its own must go through the entry (see ui/navigation.py)

import streamlit as st

from ui import context, render, tables
from ui.i18n import t, tm
from ui.state import K

kb = context.kb()
st.title(t("chunks.title"))
documents = kb.documents()
if not documents:
    st.info(t("chunks.empty"), icon=":material/info:")
    st.page_link("pages/upload.py", label=t("overview.go_upload"), icon=":material/upload_file:")
    st.stop()
all_chunks = kb.chunks()

by_name = {d.file_name: d for d in documents}
f_doc, f_page, f_heading, f_text = st.columns([3, 1, 2, 2])
document = f_doc.selectbox(t("chunks.document"), [None, *by_name], key=K.CHUNKS_DOC, persist_state="session",
                           format_func=lambda name: t("chunks.all_documents") if name is None else name)
in_doc = tables.filter_chunks(all_chunks, document)
page = f_page.selectbox(t("chunks.page"), [None, *tables.pages_of(in_doc)], key=K.CHUNKS_PAGE,
                        format_func=lambda p: t("chunks.all_pages") if p is None else str(p), persist_state="session")
heading = f_heading.text_input(t("chunks.heading"), key=K.CHUNKS_HEADING, persist_state="session")
text = f_text.text_input(t("chunks.text"), key=K.CHUNKS_TEXT, persist_state="session")
shown = tables.filter_chunks(in_doc, None, page, heading, text)


def _table() -> None:
    st.caption(tm("chunks.count", n=len(shown), total=len(all_chunks)))
    event = st.dataframe(
        tables.chunk_rows(shown), hide_index=True, key=K.CHUNKS_TABLE, on_select="rerun",
        selection_mode="single-row", height=360,
        column_order=[tables.col(c) for c in ("position", "file", "page", "heading", "text", "chars", "kind", "id")],
        column_config={tables.col("position"): st.column_config.NumberColumn(width=60),
                       tables.col("file"): st.column_config.TextColumn(width=150),
                       tables.col("page"): st.column_config.TextColumn(width=50),
                       tables.col("heading"): st.column_config.TextColumn(width=200),
                       tables.col("text"): st.column_config.TextColumn(width=420),
                       tables.col("chars"): st.column_config.ProgressColumn(
                           format="%d", min_value=0, max_value=max((len(c.text) for c in all_chunks), default=1),
                           width=110),
                       tables.col("kind"): st.column_config.TextColumn(width=60)})
    rows = event.selection.rows if event is not None else []
    if not shown:
        st.caption(t("chunks.none_match"))
        return
    chosen = shown[rows[0]] if rows and rows[0] < len(shown) else shown[0]
    st.subheader(t("chunks.detail"))
    if not rows:
        st.caption(t("chunks.pick_row"))
    st.markdown(render.chunk_caption(chosen))
    render.chunk_text(chosen, [text] if text.strip() else ())
    st.caption(tm("chunks.meta", position=chosen.position, kind=chosen.kind, chars=len(chosen.text), id=chosen.id,
                 hash=chosen.content_hash[:12]))


def _stats() -> None:
    st.altair_chart(tables.length_histogram(shown or all_chunks), width="stretch")
    st.caption(tm("chunks.size_setting", size=kb.settings.chunking.size, overlap=kb.settings.chunking.overlap))
    st.dataframe(tables.document_stats(documents, all_chunks), hide_index=True, key="chunks_stats",
                 column_config={tables.col("warnings"): st.column_config.TextColumn(width="large")})
    for doc in documents:
        for warning in doc.warnings:
            st.warning(f"{render.escape_md(doc.file_name)}: {render.escape_md(warning)}", icon=":material/warning:")


# Only the open tab is drawn.
for tab, draw in zip(st.tabs([t("chunks.tab_table"), t("chunks.tab_stats")], key=K.CHUNKS_TAB, on_change="rerun"),
                     (_table, _stats)):
    if tab.open:
        with tab:
            draw()
