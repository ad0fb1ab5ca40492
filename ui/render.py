"""Rendering helpers shared by pages. Document and model text is untrusted: it is escaped here.

Rules: document text never reaches `unsafe_allow_html`; Markdown built from it escapes every ASCII
punctuation character first, so it can carry no HTML, link, image, directive or formatting of its
own. Answers keep the model's Markdown (lists, emphasis, code) but lose the means to inject or fetch
anything: `<` (HTML), `!` and `[` (images, links) are escaped character by character, which also
works on streamed pieces.
"""
from __future__ import annotations

import re
import string
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import streamlit as st

from ui.i18n import t

if TYPE_CHECKING:
    from kb import Chunk
    from kb.chat import Answer
    from kb.prompting import Budget

_MD_ESCAPES = str.maketrans({ch: "\\" + ch for ch in string.punctuation})
_ANSWER_ESCAPES = str.maketrans({"\\": "\\\\", "<": "\\<", "!": "\\!", "[": "\\["})
_MESSAGE_ESCAPES = str.maketrans({ch: "\\" + ch for ch in string.punctuation if ch != "`"})
HIGHLIGHT = "orange-background"


def escape_md(text: str) -> str:
    """Plain text as Markdown that renders literally: punctuation escaped, line breaks kept."""
    lines = [line.strip().translate(_MD_ESCAPES) for line in str(text).splitlines()]
    return "  \n".join(lines)


def message_md(text: str) -> str:
    """A message (e.g. a KBError) that may quote file names: escaped, but `code` spans still show as code."""
    return "  \n".join(line.strip().translate(_MESSAGE_ESCAPES) for line in str(text).splitlines())


def error(exc: BaseException | str) -> None:
    st.error(message_md(str(exc)), icon=":material/error:")


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
            out.append(line[last:match.start()].translate(_MD_ESCAPES))
            out.append(f":{HIGHLIGHT}[**{match.group(0).translate(_MD_ESCAPES)}**]")
            last = match.end()
        out.append(line[last:].translate(_MD_ESCAPES))
        lines.append("".join(out))
    return "  \n".join(lines)


def answer_md(text: str) -> str:
    """A model answer as Markdown without HTML, images or links. Per character, so streamed pieces can be
    escaped one by one."""
    return str(text).translate(_ANSWER_ESCAPES)


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
    """File, page and heading of a chunk, escaped for a caption or an expander label."""
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


def budget_meter(budget: "Budget | None") -> None:
    """How full the model's context is: one bar and the tokens per part."""
    if budget is None:
        return
    available = max(budget.num_ctx - budget.reserve, 1)
    st.progress(min(budget.total / available, 1.0),
                text=t("budget.meter", total=budget.total, available=available, num_ctx=budget.num_ctx))
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
    st.caption(t("chat.sources", used=len(used), total=len(answer.citations)))
    for c in used:
        with st.expander(f"\\[{c.n}\\] {chunk_caption(c.chunk)}", key=f"{key}_cite_{c.n}"):
            chunk_text(c.chunk)
            st.caption(t("chat.chunk_meta", position=c.chunk.position, kind=c.chunk.kind, id=c.chunk.id))
    if unused:
        with st.expander(t("chat.uncited", n=len(unused)), key=f"{key}_uncited"):
            for c in unused:
                st.markdown(f"\\[{c.n}\\] {chunk_caption(c.chunk)}")
                chunk_text(c.chunk)


def answer_notes(answer: "Answer") -> None:
    """What a person needs to know about how the answer came about, above its text."""
    if answer.rewritten_question:
        st.caption(t("chat.rewritten", q=escape_md(answer.rewritten_question)))
    if answer.fallback:
        st.warning(t("chat.fallback_note"), icon=":material/cloud_off:")
    elif answer.declined:
        st.info(t("chat.declined_note"), icon=":material/search_off:")
    elif answer.general_knowledge:
        st.info(t("chat.general_note"), icon=":material/public:")


def answer_footer(answer: "Answer", key: str) -> None:
    """Below the text: error, citations, context budget and speed."""
    if answer.error and not answer.fallback:
        st.error(t("chat.error", error=answer.error))
    citations(answer, key)
    with st.container(key=f"{key}_meta"):
        budget_meter(answer.budget)
        usage = usage_caption(answer)
        if usage:
            st.caption(usage)


def answer_body_md(answer: "Answer") -> str:
    """The model's words keep their Markdown; a fallback or a decline is kb's text quoting documents,
    so it is shown literally, line by line."""
    return escape_md(answer.text) if answer.fallback or answer.declined else answer_md(answer.text)


def show_answer(answer: "Answer", key: str) -> None:
    answer_notes(answer)
    st.markdown(answer_body_md(answer))
    answer_footer(answer, key)


def flashes(messages: list[tuple[str, str]]) -> None:
    show: dict[str, Any] = {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}
    for kind, message in messages:
        show.get(kind, st.info)(message)


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
