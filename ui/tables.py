"""`kb` results as pandas tables and Altair charts for the pages. Pure: data in, frame or chart out.

Column names are the translated labels, so the column_config a page passes uses `col(...)` too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ui.i18n import t
from ui.render import pages_label

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

    from kb import Chunk, Document, IngestReport, OcrMark, SearchResult
    from kb.search.retrieval import MissExplanation


def col(name: str) -> str:
    return t(f"col.{name}")


def file_results_frame(report: "IngestReport") -> "pd.DataFrame":
    import pandas as pd

    from ui.state import lang

    rows = [{col("file"): f.file_name, col("status"): t(f"status.{f.status}"), col("chunks"): f.n_chunks,
             col("embedded"): f.n_embedded, col("seconds"): f.seconds,
             col("reason"): _reason(f, lang()) or "; ".join(f.warnings)} for f in report.files]
    return pd.DataFrame(rows)


def _reason(result: Any, lang: str) -> str | None:
    """Why a file failed, in the session's language (a plain table cell: never read as Markdown)."""
    message = getattr(result, "error_message", None)
    return message(lang) if callable(message) else result.error


def chunk_rows(chunks: Sequence["Chunk"]) -> "pd.DataFrame":
    import pandas as pd

    rows = [{col("position"): c.position, col("file"): c.file_name, col("page"): pages_label(c.page, c.page_end),
             col("heading"): " › ".join(c.heading_path), col("kind"): c.kind, col("chars"): len(c.text),
             col("text"): c.text[:160].replace("\n", " "), col("id"): c.id} for c in chunks]
    return pd.DataFrame(rows, columns=[col(n) for n in ("position", "file", "page", "heading", "kind", "chars",
                                                         "text", "id")])


def ocr_labels(chunks: Sequence["Chunk"], marks: dict[str, "OcrMark"]) -> list[str]:
    """The OCR column: `OCR 0.97` for a chunk read by OCR, `⚠ OCR 0.62` when it or its page is low."""
    out = []
    for c in chunks:
        mark = marks.get(c.id)
        if mark is None:
            out.append("")
            continue
        shown = "OCR" if mark.confidence is None else f"OCR {mark.confidence:.2f}"
        out.append(("⚠ " if mark.low else "") + shown)
    return out


def filter_chunks(chunks: Sequence["Chunk"], document: str | None = None, page: int | None = None,
                  heading: str = "", text: str = "") -> list["Chunk"]:
    """Chunks of one document, on one page (a chunk spanning pages counts for each), whose heading path
    and text contain the given strings (case-insensitive)."""
    heading, text = heading.strip().lower(), text.strip().lower()
    out = []
    for c in chunks:
        if document and c.file_name != document:
            continue
        if page is not None and (c.page is None or not c.page <= page <= (c.page_end or c.page)):
            continue
        if heading and heading not in " > ".join(c.heading_path).lower():
            continue
        if text and text not in c.text.lower():
            continue
        out.append(c)
    return out


def pages_of(chunks: Sequence["Chunk"]) -> list[int]:
    pages: set[int] = set()
    for c in chunks:
        if c.page is not None:
            pages.update(range(c.page, (c.page_end or c.page) + 1))
    return sorted(pages)


def document_stats(documents: Sequence["Document"], chunks: Sequence["Chunk"]) -> "pd.DataFrame":
    import pandas as pd

    lengths: dict[str, list[int]] = {}
    for c in chunks:
        lengths.setdefault(c.file_name, []).append(len(c.text))
    rows = []
    for d in documents:
        sizes = lengths.get(d.file_name, [])
        rows.append({col("file"): d.file_name, col("kind"): d.kind, col("pages"): d.n_pages,
                     col("chunks"): d.n_chunks, col("mean_chars"): round(sum(sizes) / len(sizes)) if sizes else 0,
                     col("min_chars"): min(sizes, default=0), col("max_chars"): max(sizes, default=0),
                     col("warnings"): "; ".join(d.warnings)})
    return pd.DataFrame(rows)


def length_histogram(chunks: Sequence["Chunk"]) -> "alt.Chart":
    import altair as alt
    import pandas as pd

    frame = pd.DataFrame({"chars": [len(c.text) for c in chunks], "file": [c.file_name for c in chunks]})
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("chars:Q", bin=alt.Bin(maxbins=30), title=col("chars")),
        y=alt.Y("count():Q", title=col("count")),
        color=alt.Color("file:N", title=col("file"), legend=alt.Legend(orient="bottom", columns=1, labelLimit=400)),
        tooltip=[alt.Tooltip("count():Q", title=col("count")), alt.Tooltip("file:N", title=col("file"))],
    ).properties(height=240)


def _maybe(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def results_frame(result: "SearchResult") -> "pd.DataFrame":
    import pandas as pd

    rows = [{col("rank"): r.fused_rank, col("source"): r.chunk.locator, col("fused"): _maybe(r.fused_score, 5),
             col("dense"): _maybe(r.dense_score), col("dense_rank"): r.dense_rank, col("bm25"): _maybe(r.bm25_score),
             col("bm25_rank"): r.bm25_rank, col("coverage"): round(r.keyword_coverage, 3),
             col("matched"): " ".join(r.matched_terms), col("passed"): r.passed,
             col("first_stage"): r.first_stage_rank}
            for r in result.results]
    names = ["rank", "passed", "source", "fused", "dense", "dense_rank", "bm25", "bm25_rank", "coverage", "matched"]
    if any(r.first_stage_rank is not None for r in result.results):  # the model reranked: where each was
        names.insert(1, "first_stage")
    frame = pd.DataFrame(rows, columns=[col(n) for n in names])
    for name in [n for n in ("dense_rank", "bm25_rank", "first_stage") if n in names]:
        frame[col(name)] = frame[col(name)].astype("Int64")
    return frame


def explain_frame(e: "MissExplanation") -> "pd.DataFrame":
    """One row a retriever: the expected chunk's score and rank there (ranks counted 1000 deep)."""
    import pandas as pd

    rows = [{col("retriever"): col("dense"), col("score"): _maybe(e.dense_score), col("rank"): e.dense_rank},
            {col("retriever"): col("bm25"), col("score"): _maybe(e.bm25_score), col("rank"): e.bm25_rank},
            {col("retriever"): col("fused"), col("score"): _maybe(e.fused_score, 5), col("rank"): e.fused_rank}]
    frame = pd.DataFrame(rows)
    frame[col("rank")] = frame[col("rank")].astype("Int64")
    return frame


def score_chart(result: "SearchResult") -> "alt.Chart":
    """One small bar chart per retriever (each on its own scale: they are not comparable), gate in colour."""
    import altair as alt
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for r in result.results:
        label = f"#{r.fused_rank}"
        for name, score in (("dense", r.dense_score), ("bm25", r.bm25_score), ("fused", r.fused_score)):
            rows.append({"result": label, "retriever": col(name), "score": score, "source": r.chunk.locator,
                         "gate": t("gate.pass") if r.passed else t("gate.fail")})
    frame = pd.DataFrame(rows)
    order = [f"#{r.fused_rank}" for r in result.results]
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("result:N", sort=order, title=None),
        y=alt.Y("score:Q", title=None),
        color=alt.Color("gate:N", title=col("passed"),
                        scale=alt.Scale(domain=[t("gate.pass"), t("gate.fail")], range=["#2e7d32", "#9e9e9e"])),
        column=alt.Column("retriever:N", title=None, sort=[col("dense"), col("bm25"), col("fused")]),
        tooltip=["result", "source", "retriever", alt.Tooltip("score:Q", format=".4f"), "gate"],
    ).properties(width=180, height=200).resolve_scale(y="independent")


BUDGET_PARTS = ("system", "sources", "history", "question", "framing", "reserve", "free")


def budget_frame(budget: Any) -> "pd.DataFrame":
    """Tokens per part of the context window, in prompt order, ending with what is left."""
    import pandas as pd

    framing = max(budget.total - budget.system - budget.sources - budget.history - budget.question, 0)
    free = max(budget.num_ctx - budget.reserve - budget.total, 0)
    tokens = dict(system=budget.system, sources=budget.sources, history=budget.history, question=budget.question,
                  framing=framing, reserve=budget.reserve, free=free)
    return pd.DataFrame([{"part": t(f"budget.{name}"), "tokens": tokens[name], "order": i}
                         for i, name in enumerate(BUDGET_PARTS)])


BUDGET_COLORS = ["#6366f1", "#2563eb", "#0ea5e9", "#14b8a6", "#94a3b8", "#f59e0b", "#e5e7eb"]


def budget_bar(budget: Any) -> "pd.DataFrame":
    """The budget as one row (the context window) with a column per part, for a stacked bar."""
    import pandas as pd

    frame = budget_frame(budget)
    return pd.DataFrame([dict(zip(frame["part"], frame["tokens"]))], index=[""])


def compare_frame(a: "SearchResult", b: "SearchResult") -> "pd.DataFrame":
    """Where each chunk landed under settings A and B (rank, or empty when that setting missed it)."""
    import pandas as pd

    rank_a = {r.chunk.id: r for r in a.results}
    rank_b = {r.chunk.id: r for r in b.results}
    ids = list(rank_a) + [i for i in rank_b if i not in rank_a]
    rows = []
    for i in ids:
        ra, rb = rank_a.get(i), rank_b.get(i)
        chunk = (ra or rb).chunk
        rows.append({col("source"): chunk.locator, col("rank_a"): ra.fused_rank if ra else None,
                     col("rank_b"): rb.fused_rank if rb else None,
                     col("passed_a"): ra.passed if ra else None, col("passed_b"): rb.passed if rb else None})
    frame = pd.DataFrame(rows, columns=[col(n) for n in ("source", "rank_a", "rank_b", "passed_a", "passed_b")])
    for name in ("rank_a", "rank_b"):
        frame[col(name)] = frame[col(name)].astype("Int64")
    return frame


def fit_frame(report) -> "pd.DataFrame":
    """The fit check: each model's memory need at the context length, the verdict, the largest context."""
    import pandas as pd

    rows = []
    for r in report.results:
        rows.append({col("model"): r.model, col("needed_gib"): round(r.estimate.total / 2**30, 2),
                     col("verdict"): t(f"fit.{r.verdict}"), col("gpu_layers"): f"{r.gpu_layers}/{r.layers}",
                     col("max_context"): r.max_context or 0, col("installed"): r.installed})
    return pd.DataFrame(rows)
