"""Headings of a PDF page from the page itself: font size and weight of each text line.

PDFs printed by a browser or an office suite keep no heading markup, but they keep what the
reader sees: a heading is set larger than the body text (`第 3 章` at 18 pt, `3.1.` at 14 pt,
body at 10.5 pt), or in a bold face at body size on a short line of its own. pypdf's
`extract_text(visitor_text=...)` reports every text fragment with its font and its size; the
size the reader sees is the font size times the vertical scale of the text and transformation
matrices.

How lines are judged:
- the body size is the size that most characters of the document so far are set in;
- a line is a heading when it is short (at most `MAX_HEADING_CHARS`), does not end like a
  sentence, and is set at least `SIZE_RATIO` times larger than the body, or, at body size or
  above, is wholly in a bold face;
- nesting follows size: a heading closes every open heading of its size or smaller (a bold
  body-size heading nests under every larger one), so paths read `第 3 章 系统初始化 > 3.1. 启动过程概述`
  like Markdown ones.

Pure functions over plain data apart from `page_lines`, which reads one pypdf page.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

SIZE_RATIO = 1.15
MAX_HEADING_CHARS = 60
_SENTENCE_END = ("。", "，", "；", ",", ";", "：", ":")
_BOLD = re.compile(r"bold|heavy|black|semibold|demi", re.I)
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class Line:
    """One visual line: its text, the size most of its characters have, and how much is bold."""

    text: str
    size: float
    bold_share: float  # share of its characters set in a bold face, 0..1
    chars: int


def _is_bold(font: Any) -> bool:
    if not font:
        return False
    try:
        names = [str(font.get("/BaseFont", ""))]
        desc = font.get("/FontDescriptor")
        if desc is not None:
            desc = desc.get_object()
            names.append(str(desc.get("/FontName", "")))
            weight = desc.get("/FontWeight")
            if weight is not None and float(weight) >= 600:
                return True
    except (AttributeError, TypeError, ValueError):
        return False
    return any(_BOLD.search(n) for n in names)


def page_lines(page: Any) -> tuple[str, list[Line]]:
    """The page's text (as `extract_text` gives it) and its visual lines with font metrics."""
    rows: dict[float, list[tuple[float, bool, str]]] = {}
    order: list[float] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
        if not text or not text.strip() or not cm or not tm:
            return
        scale = abs(tm[3] * cm[3] + tm[1] * cm[2]) or 1.0
        y = round(tm[5] * cm[3] + tm[4] * cm[1] + cm[5])
        if y not in rows:
            rows[y] = []
            order.append(y)
        rows[y].append((round(float(size) * scale, 1), _is_bold(font), text))

    text = page.extract_text(visitor_text=visit) or ""
    lines = []
    for y in order:
        frags = rows[y]
        sizes: Counter[float] = Counter()
        bold = total = 0
        for size, is_bold, t in frags:
            n = len(_WS.sub("", t))
            sizes[size] += n
            total += n
            bold += n if is_bold else 0
        joined = "".join(t for _, _, t in frags).strip()
        if total:
            lines.append(Line(joined, sizes.most_common(1)[0][0], bold / total, total))
    return text, lines


def body_size(sizes: Counter[float]) -> float | None:
    """The size most characters are set in (None before any text)."""
    return sizes.most_common(1)[0][0] if sizes else None


def heading_rank(line: Line, body: float | None) -> float | None:
    """A heading's rank (its size; bold body-size headings a hair below), or None for body text."""
    text = line.text.strip()
    if body is None or not text or len(text) > MAX_HEADING_CHARS or text.endswith(_SENTENCE_END):
        return None
    if line.size >= body * SIZE_RATIO:
        return line.size
    if line.size >= body and line.bold_share >= 0.95:
        return line.size - 0.01
    return None


def page_headings(lines: list[Line], sizes: Counter[float]) -> dict[str, float]:
    """{heading text with whitespace removed: rank} for one page. `sizes` (the document's
    characters per size so far) is updated with this page's lines first."""
    for ln in lines:
        sizes[ln.size] += ln.chars
    body = body_size(sizes)
    out: dict[str, float] = {}
    for ln in lines:
        rank = heading_rank(ln, body)
        if rank is not None:
            out[_WS.sub("", ln.text)] = rank
    return out


def heading_key(line: str) -> str:
    return _WS.sub("", line)


def push_heading(path: list[tuple[float, str]], rank: float, title: str) -> None:
    """Close the open headings of this rank or lower, then open this one (in place)."""
    while path and path[-1][0] <= rank:
        path.pop()
    path.append((rank, title))
