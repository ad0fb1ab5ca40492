"""Word (.docx/.docm) and PowerPoint (.pptx/.pptm) through python-docx and python-pptx.

Why not `unstructured`'s partitioners: they classify every paragraph with a spaCy sentence
counter that downloads `en_core_web_sm` on first use (no setting turns that off) and they send
telemetry unless told not to. The libraries they wrap read the same XML with no network, and
give us what provenance needs directly: Word heading styles for the heading path, slide numbers
and slide titles for PowerPoint.
"""
from __future__ import annotations

import io
import re
from typing import Any, Iterator

from kb.errors import IngestError
from kb.messages import render
from kb.types import slide_label
from kb.ingest.formats.ooxml import without_macros

_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.IGNORECASE)


def _open(name: str, data: bytes, opener: Any, what: str) -> tuple[Any, list[str]]:
    clean, had_macros = without_macros(name, data)
    try:
        document = opener(io.BytesIO(clean))
    except (KeyError, ValueError, TypeError, AttributeError, IndexError, OSError, SyntaxError) as exc:
        # lxml's XMLSyntaxError is a SyntaxError; a missing part is a KeyError
        raise IngestError(name, "ingest.office_corrupt", reason=f"{exc.__class__.__name__}: {str(exc)[:120]}") from None
    warnings = [render("ingest.macros_ignored", {"kind": what})] if had_macros else []
    return document, warnings


def load_docx(name: str, data: bytes):
    from docx import Document as open_docx

    from kb.ingest.loaders import LoadedFile

    document, warnings = _open(name, data, open_docx, "Word")
    blocks = list(_docx_blocks(document))
    if not blocks:
        raise IngestError(name, "ingest.no_text", kind="Word")
    metadata = {k: v for k, v in (("title", document.core_properties.title),
                                  ("author", document.core_properties.author)) if v}
    return LoadedFile(name, "docx", iter(blocks), metadata=metadata, warnings=warnings)


def heading_level(paragraph: Any) -> int | None:
    """1-9 for a Word heading (by style name, English or Chinese UI, or Title), else None."""
    style = getattr(paragraph.style, "name", "") or ""
    if style.lower() == "title" or style == "标题":
        return 1
    match = _HEADING_STYLE.match(style.strip())
    return int(match.group(1)) if match else None


def _docx_blocks(document: Any) -> Iterator[Any]:
    from docx.table import Table

    from kb.ingest.loaders import Block

    path: list[tuple[int, str]] = []
    for item in document.iter_inner_content():  # body order: paragraphs and tables interleaved
        if isinstance(item, Table):
            text = table_text([[cell.text for cell in row.cells] for row in item.rows])
            if text:
                yield Block(text, heading_path=tuple(t for _, t in path), kind="table")
            continue
        text = item.text.strip()
        if not text:
            continue
        level = heading_level(item)
        if level is not None:
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, text))
            continue  # the heading is in every chunk's heading path; a title-only chunk answers nothing
        yield Block(text, heading_path=tuple(t for _, t in path))


def table_text(rows: list[list[str]]) -> str:
    """A table as `列名: 值` lines under its first row (merged cells repeat; repeats collapse)."""
    rows = [[" ".join(c.split()) for c in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if not rows:
        return ""
    header, body = rows[0], rows[1:]
    if not body:
        return " | ".join(_dedupe(header))
    lines = []
    for row in body:
        pairs = [f"{h}: {v}" if h else v for h, v in zip(header, row) if v]
        lines.append("；".join(_dedupe(pairs)))
    return "\n".join(line for line in lines if line)


def _dedupe(items: list[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if not out or out[-1] != item:
            out.append(item)
    return out


def load_pptx(name: str, data: bytes):
    from pptx import Presentation

    from kb.ingest.loaders import LoadedFile

    deck, warnings = _open(name, data, Presentation, "PowerPoint")
    blocks = []
    for number, slide in enumerate(deck.slides, 1):
        blocks.extend(_slide_blocks(slide, number))
    if not blocks:
        raise IngestError(name, "ingest.no_text", kind="PowerPoint")
    return LoadedFile(name, "pptx", iter(blocks), warnings=warnings, n_pages=len(deck.slides))


def _slide_blocks(slide: Any, number: int) -> list[Any]:
    """A slide's text in reading order (top to bottom, left to right), tables and notes included."""
    from kb.ingest.loaders import Block

    title_shape = slide.shapes.title
    title = " ".join(title_shape.text.split()) if title_shape is not None and title_shape.has_text_frame else ""
    heading = (slide_label(number), title) if title else (slide_label(number),)
    blocks = []
    for shape in sorted(_shapes(slide.shapes), key=lambda s: ((s.top or 0), (s.left or 0))):
        if title_shape is not None and shape.shape_id == title_shape.shape_id:
            continue
        if getattr(shape, "has_table", False) and shape.has_table:
            text = table_text([[cell.text for cell in row.cells] for row in shape.table.rows])
            if text:
                blocks.append(Block(text, page=number, heading_path=heading, kind="table"))
        elif shape.has_text_frame:
            text = "\n".join(p for p in ("".join(r.text for r in para.runs).strip()
                                         for para in shape.text_frame.paragraphs) if p)
            if text:
                blocks.append(Block(text, page=number, heading_path=heading))
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        notes = slide.notes_slide.notes_text_frame.text.strip()
        if notes:
            blocks.append(Block("备注：" + notes, page=number, heading_path=heading))
    if not blocks and title:
        blocks.append(Block(title, page=number, heading_path=heading))  # a title-only slide still says something
    return blocks


def _shapes(shapes: Any) -> Iterator[Any]:
    """Shapes of a slide, with groups flattened."""
    for shape in shapes:
        if shape.shape_type == 6:  # MSO_SHAPE_TYPE.GROUP
            yield from _shapes(shape.shapes)
        else:
            yield shape
