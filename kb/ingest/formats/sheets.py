"""Spreadsheets (.xlsx/.xlsm through openpyxl, .csv through the csv module), chunked by rows.

A question about one row must find that row, so every row is written as `列名: 值` pairs with
the header repeated, and rows are grouped into blocks that fit one chunk (`ROW_BLOCK_CHARS`,
under the default chunk size of 480): a block never ends mid-row. Each block carries its sheet
(also its heading path) and its row range (Excel's own row numbers) as provenance: the splitter
keeps blocks of different rows apart, and citations say `数据.xlsx · Sheet1 · 第 12–20 行`.

Limits are checked before and while reading: a sheet declaring more than `MAX_ROWS` rows or a
workbook of more than `MAX_CELLS` cells is refused with a message saying how to split it.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any, Iterable, Iterator

from kb.errors import IngestError
from kb.messages import render
from kb.ingest.formats.ooxml import open_package

ROW_BLOCK_CHARS = 400
MAX_ROWS = 50_000  # per sheet
MAX_CELLS = 500_000  # per workbook (non-empty cells)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and not (value.hour or value.minute or value.second):
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return " ".join(str(value).split())


def row_blocks(name: str, sheet: str, rows: Iterable[tuple[int, list[str]]], cells: list[int]) -> Iterator[Any]:
    """Blocks of `列名: 值` rows. `rows` yields (row number, cells); the first non-empty row is the header.

    `cells` is a one-element counter shared across the sheets of a workbook (the cell limit).
    """
    from kb.ingest.loaders import Block

    header: list[str] | None = None
    group: list[str] = []
    first = last = 0
    size = 0

    def flush():
        return Block("\n".join(group), heading_path=(sheet,), kind="table", sheet=sheet, rows=(first, last))

    for number, values in rows:
        if number > MAX_ROWS + 1:
            raise IngestError(name, "ingest.sheet_too_many_rows", sheet=sheet, limit=MAX_ROWS)
        if not any(values):
            continue
        cells[0] += sum(1 for v in values if v)
        if cells[0] > MAX_CELLS:
            raise IngestError(name, "ingest.sheet_too_many_cells", sheet=sheet, row=number, limit=MAX_CELLS)
        if header is None:
            header = [v or f"列{i + 1}" for i, v in enumerate(values)]
            continue
        pairs = [f"{header[i] if i < len(header) else f'列{i + 1}'}: {v}" for i, v in enumerate(values) if v]
        line = "；".join(pairs)
        if group and size + len(line) + 1 > ROW_BLOCK_CHARS:
            yield flush()
            group, size = [], 0
        if not group:
            first = number
        group.append(line)
        last = number
        size += len(line) + 1
    if group:
        yield flush()
    elif header is not None:  # a sheet holding only its header row still says what it is about
        yield Block("；".join(header), heading_path=(sheet,), kind="table", sheet=sheet, rows=(1, 1))


def load_xlsx(name: str, data: bytes):
    from openpyxl import load_workbook

    from kb.ingest.loaders import LoadedFile

    package = open_package(name, data)  # bomb checks first; openpyxl ignores VBA (keep_vba=False)
    had_macros = any(n.lower().endswith("vbaproject.bin") for n in package.namelist())
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (KeyError, ValueError, TypeError, IndexError, OSError, SyntaxError, AttributeError) as exc:
        raise IngestError(name, "ingest.office_corrupt", reason=f"{exc.__class__.__name__}: {str(exc)[:120]}") from None
    blocks: list[Any] = []
    cells = [0]
    try:
        for sheet in book.worksheets:
            if getattr(sheet, "sheet_state", "visible") != "visible":
                continue
            declared = sheet.max_row or 0  # from the sheet's <dimension>; refuse before reading a row
            if declared > MAX_ROWS + 1:
                raise IngestError(name, "ingest.sheet_too_many_rows", sheet=sheet.title, limit=MAX_ROWS)
            start = sheet.min_row or 1  # read-only iter_rows fills gaps, so numbers follow Excel's
            numbered = ((i, [_cell(v) for v in row])
                        for i, row in enumerate(sheet.iter_rows(values_only=True), start))
            blocks.extend(row_blocks(name, sheet.title, numbered, cells))
    finally:
        book.close()
    if not blocks:
        raise IngestError(name, "ingest.no_text", kind="Excel")
    warnings = [render("ingest.macros_ignored", {"kind": "Excel"})] if had_macros else []
    return LoadedFile(name, "xlsx", iter(blocks), warnings=warnings, n_pages=None)


def load_csv(name: str, data: bytes):
    from kb.ingest.loaders import LoadedFile, decode_text

    text = decode_text(name, data)
    if not text.strip():
        raise IngestError(name, "ingest.whitespace_only")
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    sheet = name.rsplit(".", 1)[0]
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        numbered = ((i, [" ".join(v.split()) for v in row]) for i, row in enumerate(reader, 1))
        blocks = list(row_blocks(name, sheet, numbered, [0]))
    except csv.Error as exc:
        raise IngestError(name, "ingest.csv_malformed", line=reader.line_num, reason=str(exc)[:120]) from None
    if not blocks:
        raise IngestError(name, "ingest.no_text", kind="CSV")
    return LoadedFile(name, "csv", iter(blocks))
