"""Format 3 → 4: fill the new `chunks.origin` column from what format 3 wrote into the heading path.

Before format 4 the loaders had nowhere to put a chunk's sheet, rows and OCR origin but its heading
path: a spreadsheet chunk had `["Sheet1", "第 12–20 行"]`, a chunk read by OCR ended with
`"OCR 识别（置信度 0.93）"`. The migration moves that into `origin` and takes the labels off the
heading path, so a migrated chunk reads exactly as a fresh ingest writes it (the citation says
`数据.xlsx · Sheet1 · 第 12–20 行` once, not twice). Only those exact labels, and only in the documents
that could have them (sheets; PDFs and images for OCR), are touched. The chunk's text, vector and
keyword terms stay as they are (the labels' few words remain in its terms until the next reindex).
"""
from __future__ import annotations

import json
import re
import sqlite3

_ROWS = re.compile(r"^第 (\d+)(?:–(\d+))? 行$")
_OCR = re.compile(r"^OCR 识别(?:（置信度 ([0-9]+(?:\.[0-9]+)?)(?:，置信度低)?）)?$")
_SHEET_KINDS = ("xlsx", "csv")
_OCR_KINDS = ("pdf", "image")


def origin_from_heading(kind: str, heading_path: list[str]) -> tuple[dict, list[str]] | None:
    """(origin, heading path without the labels) for a format-3 chunk, or None when it has no labels."""
    path = list(heading_path)
    origin: dict = {}
    if kind in _OCR_KINDS and path:
        found = _OCR.match(path[-1])
        if found:
            path.pop()
            origin["ocr"] = True
            if found.group(1) is not None:
                origin["ocr_confidence"] = float(found.group(1))
    if kind in _SHEET_KINDS and len(path) == 2:
        found = _ROWS.match(path[1])
        if found:
            first = int(found.group(1))
            last = int(found.group(2) or first)
            origin = {"sheet": path[0], "rows": [first, last], **origin}
            path = path[:1]
    return (origin, path) if origin else None


def backfill(conn: sqlite3.Connection) -> int:
    """Fill `origin` (and clean the heading path) of every chunk format 3 labelled; inside the caller's
    transaction. Returns how many chunks changed."""
    rows = conn.execute("SELECT c.rowid, d.kind, c.heading_path FROM chunks c JOIN documents d USING (doc_id) "
                        f"WHERE d.kind IN ({','.join('?' * len(_SHEET_KINDS + _OCR_KINDS))})",
                        _SHEET_KINDS + _OCR_KINDS).fetchall()
    changed = 0
    for rowid, kind, heading in rows:
        try:
            path = json.loads(heading)
        except ValueError:
            continue  # `check` reports a damaged row; the migration leaves it as it is
        if not isinstance(path, list):
            continue
        found = origin_from_heading(kind, [str(p) for p in path])
        if found is None:
            continue
        origin, path = found
        conn.execute("UPDATE chunks SET origin=?, heading_path=? WHERE rowid=?",
                     (json.dumps(origin, ensure_ascii=False), json.dumps(path, ensure_ascii=False), rowid))
        changed += 1
    return changed
