"""The one way text from outside reaches the screen: as Markdown that renders literally.

Every Streamlit text element (`st.markdown`, `st.error`, `st.caption`, labels, `help=` tooltips,
badges, progress texts) interprets Markdown, and Streamlit's Markdown adds directives of its own
(`:red[...]`, `:material/...:`, `$math$`). Document text, file names, heading paths, Ollama's
error bodies and errors stored with earlier conversations come from outside: rendered as Markdown,
an image link in them is fetched by the browser. So such text goes through `text()`, which
backslash-escapes every ASCII punctuation character (CommonMark lets any of them be escaped, and
only they can start Markdown or HTML), defuses autolinks (`defuse_autolinks`: escapes cannot), keeps
line breaks and drops leading spaces (which would make a code block).

Messages we write (the `kb.messages` catalog, `ui.i18n` labels) are trusted templates; the values
formatted into them are not. `fill()` escapes each value before it goes into the template, and
`message()` turns the template's backtick spans (`python -m kb rebuild --kb notes`) into code
spans whose content is left as it is, so a command copies exactly as shown. A code span is
literal in Markdown: nothing inside it can become a link, image or tag.
"""
from __future__ import annotations

import re
import string
from typing import Any, Iterable, Mapping

class Markdown(str):
    """Text that is already safe Markdown (made by this module or a trusted label): `fill` inserts it as is."""


_ESCAPES = str.maketrans({ch: "\\" + ch for ch in string.punctuation})
_FORMATTER = string.Formatter()
WORD_JOINER = "\u2060"  # invisible, no line break: splits a pattern without changing what one sees
_WWW = re.compile(r"(?i)(www)(?=\.)")


def defuse_autolinks(value: str) -> str:
    """Streamlit's Markdown (GitHub's autolink literals) turns `http://...`, `www.` and `a@b.c` into links
    after escapes are resolved, so escaping cannot stop it; an invisible word joiner inside each
    pattern does (`:⁠//`, `www⁠.`, `@⁠`)."""
    return _WWW.sub(r"\1" + WORD_JOINER, value.replace("://", ":" + WORD_JOINER + "//")).replace(
        "@", "@" + WORD_JOINER)


def text(value: Any) -> str:
    """Any text as Markdown that shows exactly these characters: no link, image, tag, heading or emphasis."""
    lines = defuse_autolinks(str(value)).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return Markdown("  \n".join(line.strip().translate(_ESCAPES) for line in lines))


def code(value: Any) -> str:
    """An inline code span holding `value` verbatim (fenced with more backticks than it contains)."""
    content = " ".join(str(value).replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    run = longest = 0
    for ch in content:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    return f"{fence} {content} {fence}"  # CommonMark strips one space each side


def _escape_lines(piece: str, at_line_start: bool) -> str:
    lines = defuse_autolinks(piece).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = lines[0].lstrip() if at_line_start else lines[0]
    return "  \n".join([first.translate(_ESCAPES)] + [line.lstrip().translate(_ESCAPES) for line in lines[1:]])


def _join(segments: Iterable[tuple[str, str]]) -> str:
    """(kind, text) pieces as Markdown. kind "code": a code span; "text": escaped; "md": as it is (ours)."""
    out: list[str] = []
    for kind, piece in segments:
        if not piece:
            continue
        if kind == "code":
            out.append(code(piece))
        elif kind == "text":
            out.append(_escape_lines(piece, not out or out[-1].endswith("\n")))
        else:
            out.append(piece)
    return Markdown("".join(out).strip())


def message(value: Any) -> str:
    """A finished message (e.g. an error's text) whose backtick pairs mark commands: those show as code,
    everything else literally. An unpaired backtick is shown as a backtick."""
    parts = str(value).split("`")
    if len(parts) % 2 == 0:  # an odd number of backticks: the last one has no partner
        parts[-2:] = [parts[-2] + "`" + parts[-1]]
    return _join(("code" if i % 2 else "text", part) for i, part in enumerate(parts))


def _format_field(value: Any, conversion: str | None, spec: str) -> str:
    if conversion == "r":
        value = repr(value)
    elif conversion == "s":
        value = str(value)
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def fill(template: str, values: Mapping[str, Any], *, template_is_markdown: bool = True) -> str:
    """A trusted template with untrusted values, as Markdown. A value is escaped where it lands in
    text and kept verbatim where it lands inside one of the template's backtick spans (which become
    code spans). The template's own text is kept as Markdown (our labels use **bold**) unless
    `template_is_markdown` is False (the kb catalog: plain sentences). A missing value shows as
    `{name}`, so a message never fails to render."""
    literal_kind = "md" if template_is_markdown else "text"
    segments: list[tuple[str, str]] = []
    in_code, code_buf = False, []
    for literal, field, spec, conversion in _FORMATTER.parse(template):
        pieces = literal.split("`")
        for i, piece in enumerate(pieces):
            if i:
                if in_code:
                    segments.append(("code", "".join(code_buf)))
                    code_buf = []
                in_code = not in_code
            if in_code:
                code_buf.append(piece)
            else:
                segments.append((literal_kind, piece))
        if field is not None:
            value = values.get(field)
            if isinstance(value, Markdown) and not in_code:
                segments.append(("md", value))
                continue
            shown = _format_field(value, conversion, spec or "") if field in values else "{" + field + "}"
            if in_code:
                code_buf.append(shown)
            else:
                segments.append(("text", shown))
    if in_code:  # an unclosed span in a template: show the rest as text
        segments.append(("text", "`" + "".join(code_buf)))
    return _join(segments)


def kb_message(exc: BaseException, lang: str) -> str:
    """A `kb` error in `lang` as safe Markdown, built from its catalog template and parameters (so the
    parameters, which quote file names and Ollama's text, are escaped and the commands are code)."""
    code_name = getattr(exc, "code", None)
    params = getattr(exc, "params", None)
    if isinstance(code_name, str) and isinstance(params, Mapping):
        return coded(code_name, params, lang)
    return message(exc)


def coded(code_name: str, params: Mapping[str, Any], lang: str) -> str:
    """Message `code_name` of the kb catalog in `lang`, with `params`, as safe Markdown."""
    from kb.messages import CATALOG

    if code_name not in CATALOG:  # a code from a newer core than this UI knows: show what we have
        return message(f"{code_name} {dict(params)}")
    zh, en = CATALOG[code_name]
    if code_name == "legacy.text":  # TRANSITION: the whole sentence is the parameter; its backticks are commands
        return message(params.get("text", ""))
    return fill(en if lang == "en" else zh, params, template_is_markdown=False)
