"""Rendering helpers shared by pages. Text from outside is made safe by one mechanism, ui.safe.

Document text never reaches `unsafe_allow_html`; text from documents, file names, heading paths,
Ollama and stored errors goes through `safe.text` (every ASCII punctuation escaped) or, for messages
with commands, `safe.message` / `safe.kb_message` (commands as code spans, the rest escaped).
Answers keep the model's Markdown (lists, emphasis, code) but lose the means to inject or fetch
anything: HTML, images, links, autolinks, math and Streamlit directives are escaped character by
character (`answer_md`), which also works on streamed pieces.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import streamlit as st

from ui import safe
from ui.i18n import t, tm

if TYPE_CHECKING:
    from kb import Chunk, OcrMark
    from kb.llm.chat import Answer, Notice
    from kb.llm.prompting import Budget

_MD_ESCAPES = safe._ESCAPES
# `<` HTML and autolinks, `!` `[` images and links and :directives[...], `:` and `@` autolink literals
# (http://, mailto), `$` math, `\` so none of these can be un-escaped by the model.
_ANSWER_ESCAPES = str.maketrans({**{ch: "\\" + ch for ch in "\\<>![]$&"},
                                 ":": "\\:" + safe.WORD_JOINER, "@": "\\@" + safe.WORD_JOINER})
HIGHLIGHT = "orange-background"

escape_md = safe.text  # plain text as Markdown that renders literally
message_md = safe.message  # a finished message whose backtick spans are commands


def error_md(exc: BaseException | str | None) -> str:
    """An error as safe Markdown in the session's language: a kb error from its code and parameters,
    anything else (a stored text) literally, with backtick spans as code."""
    from ui.state import lang

    if isinstance(exc, BaseException):
        return safe.kb_message(exc, lang())
    return safe.message(exc or "")


def status_error_md(status: Any) -> str:
    """Ollama's status error in the session's language when it carries a code (newer kb.llm.ollama), else
    as it came; safe either way."""
    from ui.state import lang

    code_name = getattr(status, "error_code", None)
    if code_name:
        return safe.coded(code_name, getattr(status, "error_params", None) or {}, lang())
    return safe.message(status.error or "")


def error(exc: BaseException | str | None) -> None:
    st.error(error_md(exc), icon=":material/error:")


def warning(exc: BaseException | str | None) -> None:
    st.warning(error_md(exc), icon=":material/warning:")


def highlight_md(text: str, terms: Iterable[str]) -> str:
    """Escaped text with each occurrence of a term (case-insensitive) on a coloured background."""
    wanted = sorted({term for term in terms if term and term.strip()}, key=len, reverse=True)
    if not wanted:
        return escape_md(text)
    pattern = re.compile("|".join(re.escape(term) for term in wanted), re.IGNORECASE)
    lines = []
    for line in str(text).splitlines():
        line = line.strip()
        out, last = [], 0
        for match in pattern.finditer(line):
            out.append(safe.defuse_autolinks(line[last:match.start()]).translate(_MD_ESCAPES))
            out.append(f":{HIGHLIGHT}[**{safe.defuse_autolinks(match.group(0)).translate(_MD_ESCAPES)}**]")
            last = match.end()
        out.append(safe.defuse_autolinks(line[last:]).translate(_MD_ESCAPES))
        lines.append("".join(out))
    return "  \n".join(lines)


def answer_md(text: str) -> str:
    """A model answer as Markdown without HTML, images, links or math. Per character, so streamed pieces
    can be escaped one by one. `:` and `@` get an invisible word joiner, which keeps Streamlit from turning
    `http://` and `a@b.c` into links (`www.` needs the whole text: `stored_answer_md`)."""
    return str(text).translate(_ANSWER_ESCAPES)


def stored_answer_md(text: str) -> str:
    """A whole answer (redrawn from the conversation): as `answer_md`, and `www.` cannot become a link."""
    return answer_md(safe._WWW.sub(r"\1" + safe.WORD_JOINER, str(text)))


def escaped_pieces(pieces: Iterable[str]) -> Iterator[str]:
    for piece in pieces:
        yield answer_md(piece)


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def pages_label(page: int | None, page_end: int | None) -> str:
    if page is None:
        return ""
    return f"{page}" if not page_end or page_end == page else f"{page}–{page_end}"


def chunk_caption(chunk: "Chunk") -> str:
    """File, page and heading of a chunk, escaped for a caption or an expander label. A sheet's chunk
    says its sheet and rows, a slide's its number and title (`报告.pptx · 第 3 张幻灯片 · 标题`)."""
    if chunk.sheet is not None or (chunk.is_slide and chunk.page is not None):
        return escape_md(chunk.locator)
    parts = [escape_md(chunk.file_name)]
    if chunk.page is not None:
        parts.append(t("chunk.page", page=pages_label(chunk.page, chunk.page_end)))
    if chunk.heading_path:
        parts.append(escape_md(" › ".join(chunk.heading_path)))
    return " · ".join(parts)


def chunk_text(chunk: "Chunk", terms: Iterable[str] = ()) -> None:
    """The chunk's full text in a bordered box: escaped with matched terms highlighted, or, for code,
    as a code block (which keeps indentation and is never interpreted)."""
    if chunk.kind == "code":
        st.code(chunk.text, language=None, wrap_lines=True)
        return
    with st.container(border=True):
        st.markdown(highlight_md(chunk.text, terms))


def ocr_mark(mark: "OcrMark") -> None:
    """The OCR badge of a chunk with its confidence (orange when low), and the flag of a low page."""
    from ui.state import lang

    if mark.confidence is None:
        label = safe.coded("page.chunks.ocr_badge_none", {}, lang())
    else:
        label = safe.coded("page.chunks.ocr_badge", {"confidence": f"{mark.confidence:.2f}"}, lang())
    st.badge(label, icon=":material/document_scanner:", color="orange" if mark.low else "blue")
    if mark.low:
        st.warning(safe.coded("page.chunks.ocr_low", {"page": mark.page or 1, "confidence": f"{mark.lowest:.2f}",
                                                      "threshold": f"{mark.threshold:g}"}, lang()),
                   icon=":material/flag:")


def budget_meter(budget: "Budget | None") -> None:
    """How full the model's context is: one bar and the tokens per part."""
    if budget is None:
        return
    available = max(budget.num_ctx - budget.reserve, 1)
    st.progress(min(budget.total / available, 1.0),
                text=tm("budget.meter", total=budget.total, available=available, num_ctx=budget.num_ctx))
    parts = t("budget.parts", system=budget.system, sources=budget.sources, history=budget.history,
              question=budget.question, reserve=budget.reserve)
    dropped = ""
    if budget.dropped_history_turns or budget.dropped_sources:
        dropped = " · " + t("budget.dropped", turns=budget.dropped_history_turns, sources=budget.dropped_sources)
    st.caption(parts + dropped)


def usage_caption(answer: "Answer") -> str:
    usage = answer.usage
    if usage is None:
        return ""
    bits = []
    if usage.ttft_s is not None:
        bits.append(t("usage.ttft", s=usage.ttft_s))
    if usage.tokens_per_s is not None:
        bits.append(t("usage.tps", tps=usage.tokens_per_s))
    if usage.answer_tokens is not None:
        bits.append(t("usage.tokens", prompt=usage.prompt_tokens or 0, answer=usage.answer_tokens))
    return " · ".join(bits)


def citations(answer: "Answer", key: str) -> None:
    """The answer's sources: each cited one expands to its chunk (file, page, heading, text); the ones
    in the prompt but not cited share one expander, to keep long conversations light."""
    if not answer.citations:
        return
    used = [c for c in answer.citations if c.used]
    unused = [c for c in answer.citations if not c.used]
    st.caption(tm("chat.sources", used=len(used), total=len(answer.citations)))
    for c in used:
        with st.expander(f"\\[{c.n}\\] {chunk_caption(c.chunk)}", key=f"{key}_cite_{c.n}"):
            chunk_text(c.chunk)
            st.caption(tm("chat.chunk_meta", position=c.chunk.position, kind=c.chunk.kind, id=c.chunk.id))
    if unused:
        with st.expander(t("chat.uncited", n=len(unused)), key=f"{key}_uncited"):
            for c in unused:
                st.markdown(f"\\[{c.n}\\] {chunk_caption(c.chunk)}")
                chunk_text(c.chunk)


def answer_notes(answer: "Answer") -> None:
    """What a person needs to know about how the answer came about, above its text."""
    if answer.rewritten_question:
        st.caption(tm("chat.rewritten", q=answer.rewritten_question))
    if answer.fallback:
        st.warning(t("chat.fallback_note"), icon=":material/cloud_off:")
    elif answer.declined:
        st.info(t("chat.declined_note"), icon=":material/search_off:")
    elif answer.general_knowledge:
        st.info(t("chat.general_note"), icon=":material/public:")


def answer_footer(answer: "Answer", key: str) -> None:
    """Below the text: error, citations, context budget and speed."""
    if answer.error and not answer.fallback:
        st.error(tm("chat.error", error=answer_error_md(answer)), icon=":material/error:")
    citations(answer, key)
    with st.container(key=f"{key}_meta"):
        budget_meter(answer.budget)
        usage = usage_caption(answer)
        if usage:
            st.caption(usage)


def answer_error_md(answer: "Answer") -> str:
    """The error of an answer (stored with the conversation, so maybe from an earlier session) as safe
    Markdown in the session's language: from its code and parameters (Ollama's text in them escaped,
    commands as code), said to be incomplete when part of the answer came; a stored answer from before
    codes shows its text (`error_message`) literally."""
    from kb.messages import CATALOG
    from ui.state import lang

    code_name = answer.error_code
    if code_name and code_name in CATALOG:
        shown = safe.coded(code_name, answer.error_params, lang())
        if answer.partial:
            shown = safe.coded("chat.answer_incomplete", {"error": safe.Markdown(shown)}, lang())
        return shown
    return safe.message(answer.error_message(lang()) or "")


def notice_md(notice: "Notice") -> str:
    """A chat notice (question cut, answer capped, history not saved) as safe Markdown in the session's
    language: its parameters (a path, an OS error) escaped, its commands as code."""
    from ui.state import lang

    return safe.coded(notice.code, notice.params, lang())


def notice(notice: "Notice") -> None:
    st.warning(notice_md(notice), icon=":material/info:")


def thinking(text: str, key: str | None = None) -> None:
    """A thinking model's reasoning, collapsed and apart from the answer, shown literally (it is the
    model's text, and never part of the answer, its citations or the history)."""
    if not text or not text.strip():
        return
    with st.expander(t("chat.thinking"), expanded=False, icon=":material/psychology:",
                     key=f"{key}_thinking" if key else None):
        st.markdown(safe.text(text))


def answer_body_md(answer: "Answer") -> str:
    """The model's words keep their Markdown; a fallback, a decline or a failed answer is kb's text
    quoting documents or Ollama's error, so it is shown literally, line by line."""
    if answer.fallback or answer.declined or answer.error:
        return escape_md(answer.text)
    return stored_answer_md(answer.text)


def show_answer(answer: "Answer", key: str) -> None:
    answer_notes(answer)
    for item in answer.notices:
        notice(item)
    thinking(answer.thinking, key)
    st.markdown(answer_body_md(answer))
    answer_footer(answer, key)


def flashes(messages: list[tuple[str, Any]]) -> None:
    """One-shot messages queued by callbacks: safe Markdown made with tm(), or an error (shown in the
    language of the session now, not of the moment it was queued)."""
    show: dict[str, Any] = {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}
    for kind, message in messages:
        body = error_md(message) if isinstance(message, BaseException) else message
        show.get(kind, st.info)(body)


def job_panel(kind: str, progress: Callable[[Any], None], done: Callable[[Any], None],
              on_finish: Callable[[], None] | None = None) -> None:
    """A background job of this session: its progress, polled twice a second while it runs (only this
    fragment re-runs, so the page stays usable), then its result. The first time a finished job is
    seen, `on_finish` runs and the whole page is drawn again, so everything on it is up to date."""
    from ui import state

    job = state.jobs().get(kind)
    if job is None:
        return
    if not job.running:
        if not job.announced:
            job.announced = True
            state.finished_jobs()[kind] = job
            if on_finish is not None:
                on_finish()
            st.rerun()
        done(job)
        return

    @st.fragment(run_every=0.5)
    def poll() -> None:
        if job.running:
            progress(job)
        else:
            st.rerun(scope="app")

    poll()
