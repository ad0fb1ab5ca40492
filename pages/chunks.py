"""分块 / Chunks: every chunk with its provenance, filterable, with a detail view and statistics."""
from ui.navigation import use_navigation

use_navigation()  # a page run on its own must go through the entry (see ui/navigation.py)

import streamlit as st

from kb.errors import KBError
from ui import context, render, safe, tables
from ui.i18n import t, tm
from ui.state import K, lang


def L(code: str, **params: object) -> str:
    """A label of the curation controls (kb/messages/core.py `page.chunks.*`), as safe Markdown."""
    return safe.coded(code, params, lang())


kb = context.kb()
st.title(t("chunks.title"))
documents = kb.documents()
if not documents:
    st.info(t("chunks.empty"), icon=":material/info:")
    st.page_link("pages/upload.py", label=t("overview.go_upload"), icon=":material/upload_file:")
    st.stop()
states = {s.chunk.id: s for s in kb.chunk_states()}
ocr = kb.ocr_marks()  # chunks read by OCR: confidence, their page's, low against [ocr] low_confidence
all_chunks = [s.chunk for s in states.values()]

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
    frame = tables.chunk_rows(shown)
    frame.insert(0, "✎", [_flags(states[c.id]) for c in shown])
    frame.insert(3, tables.col("ocr"), tables.ocr_labels(shown, ocr))
    styled = frame.style.apply(lambda row: ["color: #9e9e9e" if states[shown[row.name].id].disabled else ""
                                            for _ in row], axis=1)
    event = st.dataframe(
        styled, hide_index=True, key=K.CHUNKS_TABLE, on_select="rerun",
        selection_mode="single-row", height=360,
        column_order=["✎", *(tables.col(c) for c in ("position", "file", "page", "ocr", "heading", "text", "chars", "kind",
                                                     "id"))],
        column_config={tables.col("position"): st.column_config.NumberColumn(width=60),
                       tables.col("file"): st.column_config.TextColumn(width=150),
                       tables.col("page"): st.column_config.TextColumn(width=50),
                       tables.col("ocr"): st.column_config.TextColumn(width=80),
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
    state = states[chosen.id]
    st.markdown(render.chunk_caption(chosen))
    mark = ocr.get(chosen.id)
    if mark is None:
        _body(state)
    else:  # OCR text beside the page it was read from
        left, right = st.columns([3, 2])
        with left:
            render.ocr_mark(mark)
            _body(state)
        with right:
            _page_image(chosen)
    if state.review:
        st.warning(L("page.chunks.review_note"), icon=":material/rate_review:")
    st.caption(tm("chunks.meta", position=chosen.position, kind=chosen.kind, chars=len(chosen.text), id=chosen.id,
                 hash=chosen.content_hash[:12]))
    _curate(state)


def _body(state) -> None:
    chunk = state.chunk
    if state.disabled:
        st.caption(L("page.chunks.disabled_note"))
        st.markdown(f":gray[{render.escape_md(chunk.text)}]")
    else:
        render.chunk_text(chunk, [text] if text.strip() else ())


def _page_image(chunk) -> None:
    try:
        png = kb.page_thumbnail(chunk.file_name, chunk.page)
    except KBError as exc:
        render.warning(exc)
        return
    st.image(png, width="stretch")
    st.caption(L("page.chunks.thumbnail", file=chunk.file_name, page=chunk.page or 1))


def _flags(state) -> str:
    return "".join(mark for on, mark in ((state.disabled, "⊘"), (state.edited, "✎"), (state.manual, "+"),
                                         (state.review, "!")) if on)


def _curate(state) -> None:
    """Edit, disable or enable the chosen chunk, or add one to its document: one kb call each."""
    chunk = state.chunk
    with st.form(f"chunk_edit_{chunk.id}", border=False):
        new_text = st.text_area(L("page.chunks.edit_label"), value=chunk.text, height=160, key=f"chunks_edit_{chunk.id}_{chunk.content_hash[:8]}")
        left, right = st.columns(2)
        save = left.form_submit_button(L("page.chunks.save"), icon=":material/save:")
        toggle = right.form_submit_button(L("page.chunks.enable" if state.disabled else "page.chunks.disable"),
                                          icon=":material/block:")
    try:
        if save:
            kb.edit_chunk(chunk.id, new_text)
            st.toast(L("page.chunks.saved"))
            st.rerun()
        if toggle:
            kb.disable_chunk(chunk.id, not state.disabled)
            st.rerun()
    except KBError as exc:
        render.error(exc)
    with st.expander(L("page.chunks.add_title", file=chunk.file_name)):
        with st.form(f"chunk_add_{chunk.doc_id}", border=False):
            added = st.text_area(L("page.chunks.add_label"), key=f"chunks_add_{chunk.doc_id}")
            add = st.form_submit_button(L("page.chunks.add"), icon=":material/add:")
        if add:
            try:
                kb.add_chunk(chunk.file_name, added)
                st.rerun()
            except KBError as exc:
                render.error(exc)


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
