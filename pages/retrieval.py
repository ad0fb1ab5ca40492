"""检索调试 / Retrieval: one query, the score of every retriever, the gate, and the prompt chat would send."""
from ui.navigation import use_navigation

use_navigation()  # a page run on its own must go through the entry (see ui/navigation.py)

import streamlit as st

from kb import KBError
from ui import context, render, safe, state, tables
from ui.i18n import t, tm
from ui.state import K

kb = context.kb()
defaults = kb.search_options()
MODES = ["hybrid", "dense", "bm25"]
FUSIONS = ["zscore", "rrf"]


def _use_recent() -> None:
    picked = st.session_state.get(K.RET_RECENT)
    if picked:
        st.session_state[K.RET_QUERY] = picked
    st.session_state[K.RET_RECENT] = None


def _options(suffix: str, keys: tuple[str, ...], base) -> dict:
    """Mode, fusion, k, threshold and MMR: the search options a person tries out."""
    mode_key, fusion_key, k_key, threshold_key, mmr_key = keys
    a, f, b, c, d = st.columns([3, 2, 3, 3, 1.4], vertical_alignment="bottom")
    mode = a.segmented_control(t("retrieval.mode") + suffix, MODES, key=mode_key, default=base.mode, required=True,
                               format_func=lambda m: t(f"mode.{m}"), persist_state="session")
    fusion = f.selectbox(t("retrieval.fusion") + suffix, FUSIONS, index=FUSIONS.index(base.fusion), key=fusion_key,
                         format_func=lambda name: t(f"fusion.{name}"), help=t("retrieval.fusion_help"),
                         disabled=mode != "hybrid", persist_state="session")
    k = b.slider(t("retrieval.k") + suffix, 1, 20, base.k, key=k_key, persist_state="session")
    threshold = c.slider(t("retrieval.threshold") + suffix, 0.0, 1.0, float(base.threshold), 0.01, key=threshold_key,
                         help=t("retrieval.threshold_help"), persist_state="session")
    mmr = d.toggle("MMR" + suffix, value=base.mmr, key=mmr_key, help=t("retrieval.mmr_help"), persist_state="session")
    return {"mode": mode, "fusion": fusion, "k": k, "threshold": threshold, "mmr": mmr}


def _results(result) -> None:
    st.dataframe(tables.results_frame(result), hide_index=True, key="retrieval_table",
                 column_config={tables.col("rank"): st.column_config.NumberColumn(width=50),
                                tables.col("passed"): st.column_config.CheckboxColumn(width=70),
                                tables.col("source"): st.column_config.TextColumn(width=300),
                                tables.col("coverage"): st.column_config.ProgressColumn(
                                    format="percent", min_value=0.0, max_value=1.0, width=110,
                                    help=t("retrieval.coverage_help"))})
    for r in result.results:
        _one_result(r)
    _explain()
    _personal()


def _explain() -> None:
    """"Why not my note?": where each retriever put the chunk the person expected, and what it lacks."""
    with st.expander(t("retrieval.explain"), icon=":material/help:", key="ret_explain_box"):
        expected = st.text_input(t("retrieval.explain_expected"), key="ret_explain_expected",
                                 placeholder=t("retrieval.explain_placeholder"))
        if not st.button(t("retrieval.explain_run"), key="ret_explain_run", disabled=not expected.strip()):
            return
        try:
            found = kb.explain(query, expected, history=history, documents=documents, **options)
        except KBError as exc:
            render.error(exc)
            return
        for e in found.targets:
            st.markdown(f"**{render.escape_md(e.chunk.locator)}**")
            st.info(safe.coded(e.verdict, e.params, state.lang()), icon=":material/manage_search:")
            st.dataframe(tables.explain_frame(e), hide_index=True, key=f"ret_explain_{e.chunk.id}")
            if e.lacking_terms:
                st.caption(tm("retrieval.explain_lacking", terms=" · ".join(
                    f"{term} ({idf:.1f}{'' if df else ', 0'})" for term, idf, df in e.lacking_terms[:10])))


def _one_result(r) -> None:
    """One result: its scores, what matched (terms and fields), its text, and "this is the right chunk"."""
    score = tm("retrieval.score_line", fused=r.fused_score,
              dense=f"{r.dense_score:.3f}" if r.dense_score is not None else "—",
              bm25=f"{r.bm25_score:.2f}" if r.bm25_score is not None else "—")
    mark = ":material/check_circle:" if r.passed else ":material/radio_button_unchecked:"
    with st.expander(f"{mark} #{r.fused_rank} {render.chunk_caption(r.chunk)} · {score}", key=f"ret_{r.chunk.id}"):
        if r.matched_terms:
            st.caption(tm("retrieval.matched", terms=" · ".join(r.matched_terms)))
        fields = r.matched_fields
        if fields:
            st.caption(tm("retrieval.fields", fields=" · ".join(t(f"field.{f}") for f in fields)))
        render.chunk_text(r.chunk, r.matched_terms)
        if st.button(t("retrieval.mark_right"), key=f"ret_mark_{r.chunk.id}", icon=":material/task_alt:",
                     help=t("retrieval.mark_right_help")):
            try:
                kb.mark_relevant(query, r.chunk.id)
            except KBError as exc:
                render.error(exc)
            else:
                st.success(t("retrieval.marked"), icon=":material/bookmark_added:")


def _personal() -> None:
    """The knowledge base's own question set, grown with "this is the right chunk"."""
    if not st.button(t("retrieval.run_personal"), key="ret_personal_eval", icon=":material/fact_check:",
                     help=t("retrieval.run_personal_help")):
        return
    try:
        report = kb.personal_eval(mode=options["mode"], k=10)
    except KBError as exc:
        render.error(exc)
        return
    st.markdown(tm("retrieval.personal_result", n=report.n_answerable, hit1=report.hit_at[1], hit5=report.hit_at[5],
                   mrr=report.mrr_at_10))


def _chart(result) -> None:
    if result.results:
        st.altair_chart(tables.score_chart(result), width="content")
        st.caption(t("retrieval.chart_help"))


def _prompt(query: str, session: str | None) -> None:
    st.caption(t("retrieval.prompt_help"))
    try:
        preview = kb.prompt_preview(query, session=session)
    except KBError as exc:
        render.error(exc)
        return
    if preview.declined:
        st.info(t("retrieval.would_decline"), icon=":material/search_off:")
    render.budget_meter(preview.budget)
    st.bar_chart(tables.budget_bar(preview.budget), horizontal=True, stack=True, color=tables.BUDGET_COLORS,
                 height=150, x_label="", y_label="token")
    for i, message in enumerate(preview.messages):
        st.markdown(f"**{render.escape_md(message['role'])}** · {tm('retrieval.chars', n=len(message['content']))}")
        st.code(message["content"], language=None, wrap_lines=True, height=240 if i else "content")


def _compare(query: str, history: list, documents: list, result) -> None:
    st.caption(t("retrieval.compare_help"))
    options_b = _options(" (B)", (K.RET_B_MODE, K.RET_B_FUSION, K.RET_B_K, K.RET_B_THRESHOLD, K.RET_B_MMR),
                         kb.search_options(mode="bm25" if defaults.mode != "bm25" else "dense"))
    try:
        result_b = kb.search(query, history=history, documents=documents, **options_b)
    except KBError as exc:
        render.error(exc)
        return
    st.dataframe(tables.compare_frame(result, result_b), hide_index=True, key="retrieval_compare_table",
                 column_config={tables.col("source"): st.column_config.TextColumn(width="large")})
    left, right = st.columns(2)
    for column, side, res in ((left, "A", result), (right, "B", result_b)):
        mode = t(f"mode.{res.options.mode}") + (f" · {t(f'fusion.{res.options.fusion}')}"
                                                if res.options.mode == "hybrid" else "")
        column.markdown(tm("retrieval.side", side=side, mode=mode, k=res.options.k, threshold=res.options.threshold,
                          n=len(res.relevant)))
        column.dataframe(tables.results_frame(res)[[tables.col(c) for c in ("rank", "source", "fused", "passed")]],
                         hide_index=True, key=f"retrieval_side_{side}")


st.title(t("retrieval.title"))
query = st.text_input(t("retrieval.query"), key=K.RET_QUERY, placeholder=t("retrieval.placeholder"),
                      persist_state="session")
recent = [q for q in state.recent_queries() if q != query]
if recent:
    st.pills(t("retrieval.recent"), recent, key=K.RET_RECENT, on_change=_use_recent, label_visibility="collapsed",
             format_func=render.escape_md)
options = _options("", (K.RET_MODE, K.RET_FUSION, K.RET_K, K.RET_THRESHOLD, K.RET_MMR), defaults)
left, right = st.columns(2)
documents = left.multiselect(t("retrieval.documents"), [d.file_name for d in kb.documents()], key=K.RET_DOCS,
                             placeholder=t("retrieval.all_documents"), persist_state="session")
sessions = {s.name: s for s in kb.sessions() if s.n_turns}
history_from = right.selectbox(t("retrieval.history"), [None, *sessions], key=K.RET_HISTORY, persist_state="session",
                               format_func=lambda n: t("retrieval.no_history") if n is None
                               else f"{sessions[n].title} ({sessions[n].n_turns})", help=t("retrieval.history_help"))
a, b, _ = st.columns([1, 1, 2])
llm_help = t("retrieval.llm_help", top=defaults.llm_rerank_top, budget=defaults.llm_budget)
options["llm_rewrite"] = a.toggle(t("retrieval.llm_rewrite"), value=defaults.llm_rewrite, key=K.RET_LLM_REWRITE,
                                  help=llm_help, persist_state="session")
options["llm_rerank"] = b.toggle(t("retrieval.llm_rerank"), value=defaults.llm_rerank, key=K.RET_LLM_RERANK,
                                 help=llm_help, persist_state="session")
if not query.strip():
    st.info(t("retrieval.hint"), icon=":material/search:")
    st.stop()

turns = kb.session_turns(history_from) if history_from else []
history = [{"role": turn.role, "content": turn.content} for turn in turns]
try:
    result = kb.search(query, history=history, documents=documents, **options)
except KBError as exc:
    render.error(exc)
    st.stop()
state.remember_query(query.strip())

if result.used_history:
    st.caption(tm("retrieval.expanded", q=result.retrieval_query))
st.caption(tm("retrieval.summary", terms=" · ".join(result.query_terms) or "—",
             best=f"{result.best_dense:.3f}" if result.best_dense is not None else "—",
             gate=t("gate.pass") if result.gate_passed else t("gate.fail"), n=len(result.relevant),
             ms=sum(result.timings_ms.values())))
if not result.gate_passed:
    if result.calibration is None:  # a threshold set by hand
        st.warning(tm("retrieval.gate_failed", threshold=options["threshold"]), icon=":material/block:")
    else:
        st.warning(t("retrieval.gate_declined"), icon=":material/block:")
    if result.gate_code:
        st.caption(safe.coded(result.gate_code, result.gate_params, state.lang()))
if result.calibration:
    st.caption(tm("retrieval.calibration", floor=result.calibration.get("floor", 0.0),
                  support=result.calibration.get("support", 0.0), n=result.calibration.get("n", 0)))
if result.missing_names:
    st.caption(tm("retrieval.missing_names", names="、".join(result.missing_names)))
for stage in result.stages:  # what the model's second stage did, or why the first stage stands
    if not stage.applied:
        st.caption(safe.coded(stage.code, stage.params, state.lang()))
    elif stage.stage == "rewrite":
        st.caption(tm("retrieval.stage_rewrite", queries=" · ".join(stage.queries), ms=round(stage.ms)))
    else:
        st.caption(tm("retrieval.stage_rerank", top=result.options.llm_rerank_top, k=result.options.k,
                      moved=stage.moved, ms=round(stage.ms)))

# Only the open tab is drawn: the prompt preview and the second search are not free.
tabs = st.tabs([t("retrieval.tab_results"), t("retrieval.tab_chart"), t("retrieval.tab_prompt"),
                t("retrieval.tab_compare")], key=K.RET_TAB, on_change="rerun")
draw = (lambda: _results(result), lambda: _chart(result), lambda: _prompt(query, history_from),
        lambda: _compare(query, history, documents, result))
for tab, draw_tab in zip(tabs, draw):
    if tab.open:
        with tab:
            draw_tab()
