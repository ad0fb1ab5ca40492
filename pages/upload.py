"""上传 / Upload: add PDFs and notes, see what happened to each file, manage the documents."""
from ui.navigation import use_navigation

use_navigation()  # a page run on its own must go through the entry (see ui/navigation.py)

import streamlit as st

from kb import KnowledgeBase

from ui import context, jobs, render, state, tables
from ui.i18n import t, tm
from ui.state import K

kb = context.kb()


def _start(kind: str, work) -> None:
    state.jobs()[kind] = jobs.start(kind, kb.name, work)


def _ingest() -> None:
    files = st.session_state.get(state.upload_key()) or []
    payload = [(f.name, f.getvalue()) for f in files]  # read now: the upload is gone after the next run
    state.reset_upload()
    import threading

    cancel = threading.Event()  # checked between files: what committed stays, the rest is "not done"
    st.session_state["upload_ingest_cancel"] = cancel
    _start("ingest", lambda report: kb.ingest_bytes(payload, progress=report, cancel=cancel))


def _ingest_cancel() -> None:
    cancel = st.session_state.get("upload_ingest_cancel")
    if cancel is not None:
        cancel.set()


def _reindex(file_name: str | None) -> None:
    _start("ingest", lambda report: kb.reindex(file_name, progress=report))


@context.guard
def _delete(file_name: str) -> None:
    state.set_pending_doc_delete(None)
    kb.delete(file_name)
    state.flash("success", tm("upload.deleted", file=file_name))


def _other_kb(job: jobs.Job) -> None:
    if job.kb != kb.name:
        st.caption(tm("upload.other_kb", kb=job.kb))


def _progress(job: jobs.Job) -> None:
    _other_kb(job)
    event = job.progress
    text = t("upload.waiting")
    if event is not None:
        text = tm("upload.progress", i=event.file_index + 1, n=event.n_files, file=event.file_name,
                 step=jobs.ingest_step(event), s=job.seconds)
    st.progress(jobs.ingest_fraction(event), text=text)


def _result(job: jobs.Job) -> None:
    _other_kb(job)
    if job.error:
        render.error(job.error)
        return
    report = job.result
    summary = tm("upload.summary", added=report.count("added"), replaced=report.count("replaced"),
                unchanged=report.count("unchanged"), failed=report.count("failed"), s=report.seconds)
    (st.success if report.ok else st.warning)(summary)
    st.dataframe(tables.file_results_frame(report), hide_index=True, key="upload_results",
                 column_config={tables.col("reason"): st.column_config.TextColumn(width="large"),
                                tables.col("seconds"): st.column_config.NumberColumn(format="%.2f")})


def L(code: str, **params: object) -> str:
    """A label of the folder-sync control (kb/messages/core.py `page.sync.*`), as safe Markdown."""
    from ui import safe

    return safe.coded(code, params, state.lang())


def _sync(dry_run: bool) -> None:
    import threading

    folder = st.session_state.get("upload_sync_folder", "").strip()
    prune = bool(st.session_state.get("upload_sync_prune"))
    cancel = threading.Event()
    st.session_state["upload_sync_cancel"] = cancel
    _start("sync", lambda report: kb.sync(folder, dry_run=dry_run, prune=prune, progress=report, cancel=cancel))


def _sync_cancel() -> None:
    cancel = st.session_state.get("upload_sync_cancel")
    if cancel is not None:
        cancel.set()


def _sync_result(job: jobs.Job) -> None:
    _other_kb(job)
    if job.error:
        render.error(job.error)
        return
    report = job.result
    counts = {a: report.count(a) for a in ("add", "replace", "unchanged", "remove", "duplicate", "skipped",
                                           "failed", "not_done")}
    (st.success if report.ok else st.warning)(
        L("page.sync.summary_dry" if report.dry_run else "page.sync.summary", seconds=report.seconds, **counts))
    rows = [{"✓": i.action, "name": i.name, "why": i.message(state.lang())} for i in report.items
            if i.action != "unchanged"]
    if rows:
        st.dataframe(rows, hide_index=True, key="upload_sync_results")


def _sync_progress(job: jobs.Job) -> None:
    _progress(job)
    st.button(L("page.sync.cancel"), key="upload_sync_stop", icon=":material/stop:", on_click=_sync_cancel)


def _sync_panel() -> None:
    st.subheader(L("page.sync.title"))
    sync_job = state.jobs().get("sync")
    running = sync_job is not None and sync_job.running
    st.text_input(L("page.sync.folder"), key="upload_sync_folder", placeholder="/home/me/notes")
    st.checkbox(L("page.sync.prune"), key="upload_sync_prune")
    left, right = st.columns(2)
    ready = bool(st.session_state.get("upload_sync_folder", "").strip())
    left.button(L("page.sync.dry_run"), key="upload_sync_dry", disabled=running or not ready,
                icon=":material/preview:", on_click=_sync, args=(True,))
    right.button(L("page.sync.run"), key="upload_sync_run", type="primary", disabled=running or busy or not ready,
                 icon=":material/sync:", on_click=_sync, args=(False,))
    render.job_panel("sync", _sync_progress, _sync_result)


st.title(t("upload.title"))
job = state.jobs().get("ingest")
busy = job is not None and job.running
files = st.file_uploader(t("upload.files"), type=KnowledgeBase.file_types(), accept_multiple_files=True, key=state.upload_key(),
                         help=tm("upload.help", mb=f"{kb.settings.storage.max_file_mb:g}"))
st.button(tm("upload.ingest", n=len(files or [])), key=K.UPLOAD_INGEST, type="primary", icon=":material/input:",
          disabled=busy or not files, on_click=_ingest)
def _ingest_progress(job: jobs.Job) -> None:
    _progress(job)
    if job.kind == "ingest" and st.session_state.get("upload_ingest_cancel") is not None:
        st.button(L("page.sync.cancel"), key="upload_ingest_stop", icon=":material/stop:", on_click=_ingest_cancel)


render.job_panel("ingest", _ingest_progress, _result)

_sync_panel()

st.subheader(tm("upload.documents", kb=kb.name))
documents = kb.documents()
if not documents:
    st.caption(t("upload.no_documents"))
for doc in documents:
    with st.container(border=True, key=f"doc_{doc.doc_id}"):
        name, actions = st.columns([3, 2], vertical_alignment="center")
        pages = t("upload.pages", n=doc.n_pages) if doc.n_pages else ""
        name.markdown(f"**{render.escape_md(doc.file_name)}**  \n" + tm(
            "upload.doc_line", kind=doc.kind, pages=pages, chunks=doc.n_chunks, size=render.fmt_bytes(doc.size_bytes),
            date=doc.ingested_at[:10]))
        for warning in doc.warnings:
            name.caption(":material/warning: " + render.escape_md(warning))
        left, right = actions.columns(2)
        if state.pending_doc_delete() == doc.file_name:
            left.button(t("upload.confirm_delete"), key=f"doc_confirm_{doc.doc_id}", type="primary",
                        on_click=_delete, args=(doc.file_name,))
            right.button(t("upload.cancel"), key=f"doc_cancel_{doc.doc_id}",
                         on_click=state.set_pending_doc_delete, args=(None,))
        else:
            left.button(t("upload.reindex"), key=f"doc_reindex_{doc.doc_id}", icon=":material/refresh:",
                        disabled=busy, on_click=_reindex, args=(doc.file_name,), width="stretch")
            right.button(t("upload.delete"), key=f"doc_delete_{doc.doc_id}", icon=":material/delete:",
                         disabled=busy, on_click=state.set_pending_doc_delete, args=(doc.file_name,),
                         width="stretch")
if documents:
    st.button(t("upload.reindex_all"), key=K.UPLOAD_REINDEX_ALL, icon=":material/autorenew:", disabled=busy,
              on_click=_reindex, args=(None,))
