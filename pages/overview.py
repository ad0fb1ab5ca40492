"""概览 / Overview: what is in the knowledge base, and whether Ollama is ready to answer."""
from ui.navigation import use_navigation

use_navigation()  # a page run on its own must go through the entry (see ui/navigation.py)

import streamlit as st

import time

from ui import context, jobs, render, safe, sidebar, state, status as ollama_status, tables
from ui.i18n import t, tm
from ui.state import K, lang

kb = context.kb()


def _setup() -> None:
    state.jobs()["setup"] = jobs.start("setup", kb.name, kb.setup_model)


def _use_model() -> None:
    name = st.session_state.get("fit_pick")
    if name:
        state.jobs()["setup"] = jobs.start("setup", kb.name, lambda report: kb.use_model(name, report))


def _fit() -> None:
    """Which answer model fits the card, at which context length: asked only when the user clicks."""
    from kb import KBError

    with st.expander(t("overview.fit"), icon=":material/memory:"):
        a, b, c = st.columns([2, 2, 1], vertical_alignment="bottom")
        num_ctx = a.number_input(t("overview.fit_ctx"), 512, 131072, int(kb.settings.chat.num_ctx), 512, key="fit_ctx")
        vram = b.number_input(t("overview.fit_vram"), 0.0, 96.0, 0.0, 0.5, key="fit_vram")
        if c.button(t("overview.fit_run"), key="fit_run"):
            try:
                st.session_state["fit_report"] = kb.model_fit(num_ctx=int(num_ctx), vram_gib=vram or None)
            except KBError as exc:
                render.error(exc)
        report = st.session_state.get("fit_report")
        if report is None:
            return
        st.dataframe(tables.fit_frame(report), hide_index=True, key="fit_table")
        fitting = [r.model for r in report.results if r.verdict != "too_big"]
        if fitting:
            st.selectbox(t("overview.fit_pick"), fitting, key="fit_pick", format_func=render.escape_md)
            st.button(t("overview.fit_use"), key="fit_use", on_click=_use_model, icon=":material/download:")


st.title(t("overview.title"))
info = kb.info()
cols = st.columns(4)
cols[0].metric(t("overview.documents"), info.n_documents, border=True)
cols[1].metric(t("overview.chunks"), info.n_chunks, border=True)
cols[2].metric(t("overview.embedder"), render.escape_md(info.embedder.split(":")[0]),
               help=render.escape_md(f"{info.embedder} · dim {info.dim}"),
               border=True)
cols[3].metric(t("overview.index_size"), render.fmt_bytes(info.index_bytes), border=True)
if info.n_documents == 0:
    st.info(t("overview.empty"), icon=":material/info:")
    st.page_link("pages/upload.py", label=t("overview.go_upload"), icon=":material/upload_file:")

st.subheader(t("overview.ollama"))
snapshot = ollama_status.latest(kb.settings)
status = snapshot.status if snapshot else None
if status is None:
    st.info(t("status.checking"), icon=":material/hourglass_empty:")
elif not status.reachable:
    st.error(tm("overview.ollama_down", url=status.url), icon=":material/cloud_off:")
    st.markdown(t("overview.how_to_start"))
    st.code("ollama serve", language="bash")
    st.markdown(t("overview.then_setup"))
    st.code("python -m kb model setup", language="bash")
    st.caption(render.status_error_md(status))
else:
    cols = st.columns(3)
    cols[0].metric(t("overview.version"), render.escape_md(status.version or "—"), border=True)
    cols[1].metric(t("overview.model"), render.escape_md(status.model), border=True,
                   delta=t("overview.installed") if status.model_present else t("overview.missing"),
                   delta_color="normal" if status.model_present else "inverse", delta_arrow="off")
    running = status.running
    context_length = (running.context_length if running else None) or (
        status.details.num_ctx if status.details else None)
    cols[2].metric(t("overview.context"), f"{context_length:,}" if context_length else "—", border=True,
                   help=t("overview.context_help"))
    if running is not None:
        gpu = running.gpu_fraction
        layout = running.layout
        where = safe.coded(f"ollama.placement.{layout.kind}", {"gpu": layout.gpu_percent, "cpu": layout.cpu_percent},
                           lang())
        st.progress(gpu if gpu is not None else 0.0,
                    text=tm("overview.offload", placement=running.placement, size=render.fmt_bytes(running.size),
                           vram=render.fmt_bytes(running.size_vram)) + " — " + where)
        if kb.settings.ollama.num_gpu is not None:
            st.caption(tm("overview.num_gpu_set", num_gpu=kb.settings.ollama.num_gpu))
        if gpu == 0:
            st.warning(t("overview.cpu_only"), icon=":material/memory:")
    elif status.model_present:
        st.caption(t("overview.not_loaded"))
    if status.details is not None:
        st.caption(tm("overview.capabilities", capabilities=", ".join(status.details.capabilities) or "—",
                      source=t(f"overview.template.{status.details.template_source}")))
    if not status.model_present:
        st.warning(tm("overview.model_missing", model=status.model), icon=":material/warning:")
        setup = state.jobs().get("setup")
        st.button(t("overview.setup"), key=K.OVERVIEW_SETUP, type="primary", icon=":material/build:",
                  disabled=setup is not None and setup.running, on_click=_setup)
    elif status.error:
        st.warning(render.status_error_md(status))


def _setup_progress(job: jobs.Job) -> None:
    event = job.progress
    st.progress((event.fraction or 0.0) if event else 0.0,
                text=tm("overview.setup_running", status=event.status if event else "…"))


def _setup_done(job: jobs.Job) -> None:
    if job.error:
        render.error(job.error)
    else:  # said once: the status above shows the model from now on
        st.success(tm("overview.setup_done", model=kb.settings.ollama.model, s=job.seconds), icon=":material/check_circle:")
        state.jobs().pop("setup", None)


render.job_panel("setup", _setup_progress, _setup_done, on_finish=lambda: sidebar.refresh_status(kb.settings))
refresh, checked = st.columns([1, 4], vertical_alignment="center")
refresh.button(t("overview.refresh"), key=K.OVERVIEW_REFRESH, icon=":material/refresh:",
               on_click=sidebar.refresh_status, args=(kb.settings,))
if snapshot is not None:
    checked.caption(t("status.checking") if state.status_wanted() else
                    tm("status.checked_at", ago=max(time.time() - snapshot.at, 0.0)))


def _backup() -> None:
    """Download this knowledge base as one archive, or restore one (kb/curate/archive.py verifies it first)."""
    from kb import KnowledgeBase
    from kb.errors import KBError
    from ui import safe

    def L(code: str, **params: object) -> str:
        return safe.coded(code, params, state.lang())

    st.subheader(L("page.overview.backup"))
    left, right = st.columns(2)
    if left.button(L("page.overview.prepare_download"), key="overview_export", icon=":material/archive:"):
        try:
            st.session_state["overview_archive"] = kb.export_bytes()
        except KBError as exc:
            render.error(exc)
    archive = st.session_state.get("overview_archive")
    if archive:
        left.download_button(L("page.overview.download"), archive, file_name=f"{kb.name}.kbarchive.tar",
                             mime="application/x-tar", key="overview_download", icon=":material/download:")
    upload = right.file_uploader(L("page.overview.upload"), type=["tar"], key="overview_import_file")
    as_name = right.text_input(L("page.overview.as_name"), key="overview_import_as")
    rebuild = right.checkbox(L("page.overview.rebuild"), key="overview_import_rebuild")
    if upload is not None and right.button(L("page.overview.restore"), key="overview_import", icon=":material/unarchive:"):
        try:
            done = KnowledgeBase.import_bytes(kb.settings, upload.getvalue(), upload.name, as_name.strip() or None,
                                              rebuild)
            right.success(L("page.overview.restored", kb=done.kb, docs=done.n_documents, chunks=done.n_chunks))
        except KBError as exc:
            render.error(exc)


_backup()


def _latest_digest() -> None:
    """The last day's changes (no model call here: the page must not wait for Ollama)."""
    from ui import safe

    d = kb.digest("24h", use_model=False)
    st.subheader(safe.coded("page.overview.digest", {"n": len(d.entries), "edits": d.n_edits}, state.lang()))
    for e in d.entries[-20:]:
        st.markdown(safe.coded("page.overview.digest_line", {"action": e.action, "file": e.file_name,
                                                             "summary": e.summary, "at": e.at[:16]}, state.lang()))


_latest_digest()
_fit()
