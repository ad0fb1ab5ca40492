"""Chunking that suits Chinese: paragraph, then line, then 。！？；, then ，, then characters.

Blocks (paragraphs, code, tables) are cut into "units" no longer than the chunk size,
preferring the strongest boundary available; units are then packed greedily into chunks.
A new chunk starts with the last whole sentences of the previous one, up to `overlap`
characters, so a fact that straddles a boundary is still found in one piece.
Chunks never mix Markdown sections (the heading path is provenance), spreadsheet row blocks, or
OCR text with a text layer's; PDF chunks may run over a page break and record both pages (not
OCR chunks: one page each). An OCR
chunk's confidence is the mean of its pieces' confidences, weighted by characters.

Pure functions: text in, pieces out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from kb.ingest.loaders import Block

_SENTENCE = re.compile(r"[^。！？；!?;\n]*(?:[。！？；!?;]+[”’」』）)\"']*|\n|$)")
_CLAUSE = re.compile(r"[^，,、：:]*(?:[，,、：:]+|$)")


@dataclass(frozen=True)
class Piece:
    """A chunk's text before ids are assigned."""

    text: str
    page: int | None
    page_end: int | None
    heading_path: tuple[str, ...]
    kind: str
    sheet: str | None = None
    rows: tuple[int, int] | None = None
    ocr: bool = False
    ocr_confidence: float | None = None


@dataclass(frozen=True)
class _Unit:
    text: str
    page: int | None
    kind: str
    starts_block: bool
    confidence: float | None = None


def _section_key(block: Block) -> tuple:
    """Blocks with different keys never share a chunk: each chunk has one heading path and one origin.
    OCR text never runs over a page: a chunk then shows one page image and one page's confidence."""
    return block.heading_path, block.sheet, block.rows, block.ocr, block.page if block.ocr else None


def _mean_confidence(units: list[_Unit]) -> float | None:
    scored = [(len(u.text), u.confidence) for u in units if u.confidence is not None]
    chars = sum(n for n, _ in scored)
    return round(sum(n * c for n, c in scored) / chars, 3) if chars else None


def split_blocks(blocks: Iterable[Block], size: int, overlap: int, min_chars: int = 0) -> Iterator[Piece]:
    """Pack blocks into chunks of at most `size` characters (streaming: one section at a time)."""
    section: list[Block] = []
    for block in blocks:
        if section and _section_key(block) != _section_key(section[-1]):
            yield from _pack(section, size, overlap, min_chars)
            section = []
        section.append(block)
    if section:
        yield from _pack(section, size, overlap, min_chars)


def split_text(text: str, size: int) -> list[str]:
    """Cut one text into pieces of at most `size` characters at the strongest boundary available."""
    if len(text) <= size:
        return [text]
    for pattern in (None, _SENTENCE, _CLAUSE):
        parts = text.split("\n") if pattern is None else [m.group(0) for m in pattern.finditer(text) if m.group(0)]
        if pattern is None:
            parts = [p + "\n" for p in parts[:-1]] + [parts[-1]]
        parts = [p for p in parts if p]
        if len(parts) > 1:
            out: list[str] = []
            for part in parts:
                out.extend(split_text(part, size) if len(part) > size else [part])
            return _merge_small(out, size)
    return [text[i:i + size] for i in range(0, len(text), size)]


def _merge_small(parts: list[str], size: int) -> list[str]:
    out: list[str] = []
    for part in parts:
        if out and len(out[-1]) + len(part) <= size:
            out[-1] += part
        else:
            out.append(part)
    return out


def _units(block: Block, size: int) -> list[_Unit]:
    """Sentence-level units of a block; code and tables stay whole when they fit a chunk."""
    if block.kind in ("code", "table"):
        parts = split_text(block.text, size) if len(block.text) > size else [block.text]
    elif len(block.text) <= size:
        parts = [m.group(0) for m in _SENTENCE.finditer(block.text) if m.group(0)]
        parts = [p for p in parts if p.strip()] or [block.text]
    else:
        parts = []
        for sentence in (m.group(0) for m in _SENTENCE.finditer(block.text) if m.group(0)):
            parts.extend(split_text(sentence, size))
    return [_Unit(p, block.page, block.kind, i == 0, block.ocr_confidence) for i, p in enumerate(parts) if p.strip()]


def _pack(section: list[Block], size: int, overlap: int, min_chars: int) -> Iterator[Piece]:
    units = [u for block in section for u in _units(block, size)]
    first = section[0]
    heading = first.heading_path
    origin = {"sheet": first.sheet, "rows": first.rows, "ocr": first.ocr}
    current: list[_Unit] = []
    length = 0
    fresh = 0  # units in `current` that are not overlap from the previous chunk

    def text_of(us: list[_Unit]) -> str:
        out = ""
        for i, u in enumerate(us):
            sep = "\n" if i and u.starts_block and not out.endswith("\n") else ""
            out += sep + u.text
        return out.strip()

    def emit(us: list[_Unit]) -> Piece:
        pages = [u.page for u in us if u.page is not None]
        kinds = {u.kind for u in us}
        kind = kinds.pop() if len(kinds) == 1 else "text"
        return Piece(text_of(us), min(pages) if pages else None, max(pages) if pages else None, heading, kind,
                     ocr_confidence=_mean_confidence(us), **origin)

    pieces: list[Piece] = []
    piece_units: list[list[_Unit]] = []  # the units of each piece, for the fold below
    for unit in units:
        add = len(unit.text) + (1 if unit.starts_block else 0)
        if current and fresh and length + add > size:
            pieces.append(emit(current))
            piece_units.append(list(current))
            current = _tail(current, overlap) if unit.kind == "text" else []
            if current and sum(len(u.text) for u in current) + add > size:
                current = []
            length = sum(len(u.text) + 1 for u in current)
            fresh = 0
        current.append(unit)
        length += add
        fresh += 1
    if current and fresh:
        pieces.append(emit(current))
        piece_units.append(list(current))
    # A tiny trailing piece is folded into its predecessor when that still fits.
    if len(pieces) >= 2 and len(pieces[-1].text) < min_chars and len(pieces[-2].text) + len(pieces[-1].text) < size * 1.2:
        last, prev = pieces.pop(), pieces.pop()
        both = piece_units[-2] + piece_units[-1]
        pieces.append(Piece(prev.text + "\n" + last.text, prev.page, last.page_end or prev.page_end, heading, "text",
                            ocr_confidence=_mean_confidence(both), **origin))
    yield from (p for p in pieces if p.text.strip())


def _tail(units: list[_Unit], overlap: int) -> list[_Unit]:
    """The last whole text units whose length adds up to at most `overlap` characters."""
    out: list[_Unit] = []
    total = 0
    for u in reversed(units):
        if u.kind != "text" or total + len(u.text) > overlap:
            break
        out.insert(0, u)
        total += len(u.text)
    return out
