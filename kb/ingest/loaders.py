"""Turn a file's bytes into blocks of text that keep their provenance.

A block is a paragraph, a code block or a table, with the PDF page it came from or the
Markdown heading path above it. PDFs are read page by page with pypdf (a generator, so a
1,000-page file never sits in memory as text all at once). Markdown is parsed by
markdown-it-py (CommonMark + GFM tables): headings (ATX and setext), fenced and indented code,
tables, lists and raw HTML are what a renderer would see, front matter is split off first; it
needs no network. (`unstructured` would download a spaCy model the first time it meets
narrative text, which must never happen on the default path.) Text files are decoded after
sniffing their encoding with charset-normalizer (`decode_text`).

Every problem becomes an `IngestError` naming the file and saying what to do.
"""
from __future__ import annotations

import io
import logging
import re
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from kb.errors import IngestError
from kb.ingest.pdf_layout import heading_key, page_headings, page_lines, push_heading

log = logging.getLogger(__name__)

SUPPORTED = {".pdf": "pdf", ".md": "markdown", ".markdown": "markdown", ".txt": "text",
             # issue 11: the formats of kb/ingest/formats/, loaded through FORMAT_LOADERS below
             ".docx": "docx", ".docm": "docx", ".pptx": "pptx", ".pptm": "pptx", ".xlsx": "xlsx",
             ".xlsm": "xlsx", ".csv": "csv", ".html": "html", ".htm": "html",
             ".png": "image", ".jpg": "image", ".jpeg": "image", ".webp": "image"}
# kind -> "module:function" under kb/formats, imported on first use (heavy libraries, OCR models)
FORMAT_LOADERS = {"docx": "office:load_docx", "pptx": "office:load_pptx", "xlsx": "sheets:load_xlsx",
                  "csv": "sheets:load_csv", "html": "html:load_html", "image": "images:load_image"}
PDF_SECONDS_LIMIT = 300.0  # per file: a PDF bomb must not hang an ingest


@dataclass(frozen=True)
class Block:
    text: str
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    kind: str = "text"  # text | code | table
    # provenance beyond page and heading, carried by the splitter into the chunk (see kb/types.py Chunk)
    sheet: str | None = None
    rows: tuple[int, int] | None = None  # first and last spreadsheet row
    ocr: bool = False  # the text came from OCR
    ocr_confidence: float | None = None


@dataclass(frozen=True)
class OcrControl:
    """What a long OCR job needs from whoever started it: where to report pages, when to stop, and
    which confidence counts as low. OCR is the one step of reading a file that can take minutes
    (a 40-page scan takes about 2 s a page), so it reports and checks between pages: a cancelled
    file stops within one page, before anything of it is written (the caller commits nothing)."""

    progress: Callable[[int, int], None] | None = None  # (pages read so far, pages to read)
    cancel: threading.Event | None = None
    low_confidence: float = 0.8

    def before_page(self, name: str, done: int, total: int) -> None:
        """Report `done` of `total` pages read; raise `ingest.ocr_cancelled` if the job was cancelled."""
        if self.progress is not None:
            self.progress(done, total)
        if self.cancel is not None and self.cancel.is_set():
            raise IngestError(name, CANCELLED, page=done + 1, total=total)


CANCELLED = "ingest.ocr_cancelled"  # the code of a file stopped by cancel during OCR: "not done"


@dataclass
class LoadedFile:
    """A parsed file. `blocks` is a generator for PDFs: consume it once, in order."""

    file_name: str
    kind: str
    blocks: Iterator[Block]
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    n_pages: int | None = None


# ---------------------------------------------------------------- file names

_BIDI_AND_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c",
                       "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\ufeff"}


FILE_NAME_MAX_BYTES = 200  # the stored original is named by its hash; this bounds names shown and stored


def clean_file_name(name: str) -> str:
    """Return the NFKC-normalised name, or raise if it could escape the data folder or mislead.

    NFKC first, then the checks: a name typed in full-width forms (`ｎｏｔｅｓ.md`) or decomposed
    (NFD, as macOS gives it) is the same document as its plain spelling, and a full-width
    solidus `／` that NFKC turns into `/` is caught like any other separator. Names come from
    browsers and command lines; they must never become paths, so any path separator, `..`,
    control character or bidirectional override is refused outright.
    """
    shown = repr(name)[1:-1][:120]
    if not name or not name.strip():
        raise IngestError(shown or "(empty name)", "ingest.name_empty")
    if len(name) > 4 * FILE_NAME_MAX_BYTES:  # refuse a kilobyte "name" before normalising it
        raise IngestError(shown, "ingest.name_too_long", bytes=len(name.encode("utf-8", "replace")),
                          limit=FILE_NAME_MAX_BYTES)
    if any(ch in _BIDI_AND_INVISIBLE for ch in name):
        raise IngestError(shown, "ingest.name_invisible")
    name = unicodedata.normalize("NFKC", name).strip()
    if "\x00" in name or any(unicodedata.category(ch) == "Cc" for ch in name):
        raise IngestError(shown, "ingest.name_control")
    if "/" in name or "\\" in name:
        raise IngestError(shown, "ingest.name_separator")
    if any(ch in _BIDI_AND_INVISIBLE for ch in name):
        raise IngestError(shown, "ingest.name_invisible")
    if not name or name.startswith("."):
        raise IngestError(shown, "ingest.name_dot" if name else "ingest.name_empty")
    size = len(name.encode("utf-8"))
    if size > FILE_NAME_MAX_BYTES:
        raise IngestError(shown, "ingest.name_too_long", bytes=size, limit=FILE_NAME_MAX_BYTES)
    return name


def supported_extensions() -> list[str]:
    """Extensions without the dot, for an upload widget's `type=` list (`pdf`, `docx`, `png`...)."""
    return sorted(ext.lstrip(".") for ext in SUPPORTED)


def file_kind(name: str) -> str:
    ext = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if ext not in SUPPORTED:
        raise IngestError(name, "ingest.unsupported_type", ext=ext or "(no extension)",
                          supported=", ".join(sorted(SUPPORTED)))
    return SUPPORTED[ext]


def load_bytes(name: str, data: bytes, ocr: OcrControl | None = None) -> LoadedFile:
    """Parse a file's bytes. Raises IngestError for anything that cannot be indexed.

    `ocr` reaches the loaders that may OCR (scanned PDF pages, images): progress, cancel, threshold."""
    kind = file_kind(name)
    ocr = ocr or OcrControl()
    if not data:
        raise IngestError(name, "ingest.empty_file")
    if kind == "pdf":
        return _load_pdf(name, data, ocr)
    if kind == "image":
        return _format_loader(kind)(name, data, ocr=ocr)
    if kind in FORMAT_LOADERS:
        return _format_loader(kind)(name, data)
    text = decode_text(name, data)
    if not text.strip():
        raise IngestError(name, "ingest.whitespace_only")
    if kind == "markdown":
        metadata, body, warnings = split_front_matter(text)
        return LoadedFile(name, kind, iter(parse_markdown(body)), metadata=metadata, warnings=warnings)
    return LoadedFile(name, kind, iter(_paragraph_blocks(text)))


def _ocr_hook(name: str, reader: Any, empty_pages: list[int], loaded: LoadedFile,
              ocr: OcrControl) -> Iterator[Block]:
    """Pages without a text layer go to OCR (kb/ingest/formats/ocr.py); returns how many gave text."""
    from kb.ingest.formats.ocr import scanned_pdf_pages

    return (yield from scanned_pdf_pages(name, reader, empty_pages, loaded, ocr))


def _format_loader(kind: str):
    import importlib

    module, function = FORMAT_LOADERS[kind].split(":")
    return getattr(importlib.import_module(f"kb.ingest.formats.{module}"), function)


# ---------------------------------------------------------------- text decoding

_GB = {"gb18030", "gbk", "gb2312", "hz"}
_SNIFF_BYTES = 64 * 1024  # enough to tell encodings apart; a 50 MB file is scored on its first 64 KB


def decode_text(name: str, data: bytes) -> str:
    """Decode a text file: BOM, then strict UTF-8, then the encoding `charset-normalizer` finds, then GB18030.

    UTF-8 is tried strictly first because almost any byte sequence decodes as *something* in a
    legacy encoding. For the rest, charset-normalizer proposes the encodings that decode the bytes
    with little "chaos" (Shift-JIS, EUC-JP, EUC-KR, Big5, GBK, Windows-125x...). Short CJK texts
    are ambiguous (the bytes of `中文笔记` are valid Korean too), so among the proposals the one
    whose text reads most like real text of its script wins (`_plausibility`), and a tie goes to
    GB18030: our users' legacy files are mostly GBK. GB18030 is also the last resort when
    charset-normalizer proposes nothing.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return _finish(name, _strict(name, data, "utf-8-sig"), "utf-8-sig")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _finish(name, _strict(name, data, "utf-16"), "utf-16")
    if b"\x00" in data[:4096]:
        raise IngestError(name, "ingest.binary_nul")
    try:
        return _finish(name, data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    mostly_utf8 = _mostly_utf8(data)
    if mostly_utf8 is not None:
        log.warning("decoded file=%s encoding=utf-8 with a few invalid bytes replaced by U+FFFD", name)
        return _finish(name, mostly_utf8, "utf-8")
    for encoding in _sniffed_encodings(data):
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue  # the sniff saw a sample; the whole file does not decode
        return _finish(name, text, encoding)
    try:
        return _finish(name, data.decode("gb18030"), "gb18030")
    except UnicodeDecodeError:
        raise IngestError(name, "ingest.undecodable") from None


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 text with a stray invalid byte or two (a file pasted together from sources), else None.

    Read as a legacy encoding, such a file would turn every Chinese character into mojibake; read
    as UTF-8 it loses only the stray bytes. A real GBK or Shift-JIS file is invalid UTF-8 at
    almost every non-ASCII character, far above the one in five hundred allowed here.
    """
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - data.decode("utf-8", errors="ignore").count("\ufffd")
    non_ascii = sum(1 for ch in text if ord(ch) > 0x7F)
    if non_ascii >= 20 and bad <= max(4, non_ascii // 500):  # one stray byte can cost 3 characters
        return text
    return None


def _strict(name: str, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise IngestError(name, "ingest.undecodable") from None


def _finish(name: str, text: str, encoding: str) -> str:
    if _looks_binary(text):
        raise IngestError(name, "ingest.binary")
    if encoding not in ("utf-8", "utf-8-sig"):
        log.info("decoded file=%s encoding=%s", name, encoding)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _sniffed_encodings(data: bytes) -> list[str]:
    """charset-normalizer's proposals for `data`, most plausible first (GB-family named gb18030)."""
    from charset_normalizer import from_bytes

    sample = data[:_SNIFF_BYTES]
    ranked = []
    for order, match in enumerate(from_bytes(sample)):
        encoding = "gb18030" if match.encoding in _GB else match.encoding
        if encoding.startswith(("utf_16", "utf_32")):
            continue  # without a BOM these are binary to us (the NUL check above)
        text = sample.decode(encoding, errors="ignore")[:8000]
        ranked.append((_plausibility(text) - match.chaos, encoding == "gb18030", -order, encoding))
    ranked.sort(reverse=True)
    seen: list[str] = []
    for *_, encoding in ranked:
        if encoding not in seen:
            seen.append(encoding)
    return seen


_CJK_PUNCT = set("，。、；：？！“”‘’（）《》【】…—·「」『』〈〉・ー")


def _common(ch: str, encoding: str, low: int, high: int) -> bool:
    """True when `ch` is in the first (common) level of a national character set."""
    try:
        b = ch.encode(encoding)
    except UnicodeEncodeError:
        return False
    return len(b) == 2 and low <= (b[0] << 8 | b[1]) <= high


def _plausibility(text: str) -> float:
    """How much `text` reads like real text in some script, 0..1, from the non-ASCII characters.

    A wrong decoding of CJK bytes yields rare characters, or a mix no language writes (Korean
    hangul among Chinese characters, kana-less "Japanese"). So: the share of characters that
    belong to the common level of GB2312 (simplified Chinese), Big5 (traditional), JIS X 0208
    with kana (Japanese), KS X 1001 hangul (Korean), or accented Latin letters; the best share.
    """
    n = kana = hangul = latin = simplified = traditional = japanese = 0
    for ch in text:
        o = ord(ch)
        if o < 0x80 or ch.isspace():
            continue
        n += 1
        if ch in _CJK_PUNCT or 0xFF01 <= o <= 0xFF5E:
            simplified += 1
            traditional += 1
            japanese += 1
        elif 0x3041 <= o <= 0x30FA:
            kana += 1
        elif 0xAC00 <= o <= 0xD7A3:
            hangul += _common(ch, "euc_kr", 0xB0A1, 0xC8FE)
        elif 0x4E00 <= o <= 0x9FFF:
            simplified += _common(ch, "gb2312", 0xB0A1, 0xD7F9)
            traditional += _common(ch, "big5", 0xA440, 0xC67E)
            japanese += _common(ch, "shift_jis", 0x889F, 0x9872)
        elif 0xC0 <= o <= 0x17F and ch.isalpha():
            latin += 1
    if not n:
        return 1.0
    return max(simplified, traditional, japanese + kana if kana else 0, hangul, latin) / n


def _looks_binary(text: str) -> bool:
    sample = text[:20000]
    if not sample:
        return False
    bad = sum(1 for ch in sample if (unicodedata.category(ch) in ("Cc", "Co", "Cs", "Cn") and ch not in "\n\r\t\f")
              or ch == "\ufffd")
    return bad / len(sample) > 0.05


# ---------------------------------------------------------------- Markdown

_FRONT = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)


def split_front_matter(text: str) -> tuple[dict[str, Any], str, list[str]]:
    """Split YAML front matter off; a malformed block is kept as text with a warning."""
    m = _FRONT.match(text)
    if not m:
        return {}, text, []
    import yaml  # PyYAML ships with langchain; safe_load never runs code

    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as exc:
        return {}, text, [f"front matter is not valid YAML ({exc.__class__.__name__}); kept as text"]
    if not isinstance(meta, dict):
        return {}, text, ["front matter is not a mapping; kept as text"]
    meta = {str(k): _jsonable(v) for k, v in meta.items()}
    return meta, text[m.end():], []


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


_KINDS = {"fence": "code", "code_block": "code", "table_open": "table"}
_parsers: dict[str, Any] = {}


def _markdown(part: str = "block"):
    """CommonMark with GFM tables, from markdown-it-py. The "block" parser skips inline parsing
    (paragraphs keep their source text); the "inline" one reads heading titles."""
    if part not in _parsers:
        from markdown_it import MarkdownIt

        md = MarkdownIt("commonmark", {"maxNesting": 20}).enable("table")
        if part == "block":
            md.core.ruler.disable("inline")
        _parsers[part] = md
    return _parsers[part]


def parse_markdown(text: str) -> list[Block]:
    """Blocks of a Markdown body, each with the heading path above it.

    markdown-it-py decides what is a heading, a code fence, a table, a list or raw HTML, the way a
    CommonMark renderer would: a `#` line inside a fence or an HTML comment is not a heading, an
    unclosed fence runs to the end. Each top-level block keeps its source lines as its text (the
    author's Markdown, as the chunk should show it); a heading's title is its inline text with the
    markup removed. Thematic breaks carry no text and are dropped; any other line the parser did
    not place in a block (nesting deeper than the parser follows) is kept as text, so nothing of the
    file is lost.
    """
    lines = text.split("\n")
    tokens = _markdown().parse(text)
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    covered = 0  # source lines before this index are accounted for

    def add(start: int, end: int, kind: str) -> None:
        body = "\n".join(ln.rstrip() for ln in lines[start:end]).strip()
        if body:
            blocks.append(Block(body, heading_path=tuple(t for _, t in path), kind=kind))

    for i, token in enumerate(tokens):
        if token.level != 0 or token.map is None or token.nesting == -1:
            continue
        start, end = token.map
        if start > covered:
            add(covered, start, "text")  # lines the parser left out of every block
        covered = max(covered, end)
        if token.type == "heading_open":
            level = int(token.tag[1])
            while path and path[-1][0] >= level:
                path.pop()
            title = _inline_text(tokens[i + 1].content if i + 1 < len(tokens) else "")
            if title:
                path.append((level, title))
        elif token.type != "hr":
            add(start, end, _KINDS.get(token.type, "text"))
    if covered < len(lines):
        add(covered, len(lines), "text")
    return blocks


def _inline_text(source: str) -> str:
    """A heading's title: its inline Markdown with link targets, emphasis and code marks removed.

    Raw inline HTML stays, as the author typed it (`# 安全 <script>` keeps `<script>`): the title
    is provenance, and what it shows is rendered as text by every page."""
    parsed = _markdown("inline").parseInline(source)
    children = (parsed[0].children or []) if parsed else []
    out: list[str] = []
    for token in children:
        if token.type in ("text", "code_inline", "html_inline"):
            out.append(token.content)
        elif token.type == "image":
            out.append("".join(c.content for c in token.children or []))
        elif token.type in ("softbreak", "hardbreak"):
            out.append(" ")
    return " ".join("".join(out).split())


def _paragraph_blocks(text: str) -> list[Block]:
    return [Block(p.strip()) for p in re.split(r"\n\s*\n", text) if p.strip()]


# ---------------------------------------------------------------- PDF

_TERMINAL = "。！？；：!?;:）)”」"


def _load_pdf(name: str, data: bytes, ocr: OcrControl | None = None) -> LoadedFile:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except (DependencyError, NotImplementedError) as exc:
                raise IngestError(name, "pdf.encrypted_method", reason=str(exc)) from exc
            if not ok:
                raise IngestError(name, "pdf.password")
        n_pages = len(reader.pages)
        metadata = _pdf_metadata(reader)
    except IngestError:
        raise
    except (PdfReadError, FileNotDecryptedError, ValueError, KeyError, TypeError, AttributeError,
            IndexError, RecursionError, OSError, AssertionError) as exc:
        raise IngestError(name, "pdf.unreadable", error=f"{exc.__class__.__name__}: {str(exc)[:160]}") from exc
    if n_pages == 0:
        raise IngestError(name, "pdf.no_pages")
    loaded = LoadedFile(name, "pdf", iter(()), metadata=metadata, n_pages=n_pages)
    loaded.blocks = _pdf_blocks(name, reader, loaded, ocr or OcrControl())
    return loaded


def _pdf_metadata(reader: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        info = reader.metadata or {}
        for key in ("/Title", "/Author", "/Subject", "/Producer", "/CreationDate"):
            if info.get(key):
                out[key.strip("/").lower()] = str(info.get(key))[:300]
    except Exception as exc:  # noqa: BLE001 - metadata is optional; a broken info dict must not fail the file
        log.warning("pdf metadata unreadable error=%s", exc)
    return out


def _pdf_blocks(name: str, reader: Any, loaded: LoadedFile, ocr: OcrControl) -> Iterator[Block]:
    """Yield the paragraphs of each page; report garbage pages; fail a file with no text layer."""
    started = time.monotonic()
    pages_with_text = 0
    empty_pages: list[int] = []
    garbage_pages: list[int] = []
    failed: list[str] = []  # pages pypdf could not read (limits, broken content streams)
    headings: list[tuple[float, str]] = []  # the open heading path, carried across pages
    sizes: Counter[float] = Counter()  # characters per font size so far: the body size is the commonest
    by_font = False  # once a page shows headings by font size or weight, the markers are not used
    for index in range(loaded.n_pages or 0):
        if time.monotonic() - started > PDF_SECONDS_LIMIT:
            raise IngestError(name, "pdf.too_slow", limit=round(PDF_SECONDS_LIMIT), page=index + 1,
                              pages=loaded.n_pages)
        page_no = index + 1
        try:
            raw, lines = page_lines(reader.pages[index])
        except Exception as exc:  # noqa: BLE001 - pypdf raises many types on broken content streams
            loaded.warnings.append(f"page {page_no} could not be read ({exc.__class__.__name__}); skipped")
            failed.append(f"{exc.__class__.__name__}: {str(exc)[:80]}")
            continue
        found = page_headings(lines, sizes)
        if found and not by_font:
            by_font = True
            headings.clear()  # marker levels and font ranks do not mix
        text = clean_pdf_text(raw, found.keys())
        if not text:
            empty_pages.append(page_no)
            continue
        problem = garbage_reason(text)
        if problem:
            loaded.warnings.append(f"page {page_no} extracts as garbage ({problem}); read with OCR instead. The PDF "
                                   "may use fonts without a text map")
            garbage_pages.append(page_no)
            continue
        pages_with_text += 1
        yield from _pdf_page_blocks(text, page_no, headings, found if by_font else None)
    if garbage_pages:  # pages whose text layer is garbage are read from their image instead
        empty_pages.extend(garbage_pages)
    pages_with_text += yield from _ocr_hook(name, reader, empty_pages, loaded, ocr)  # OCR: pages without usable text
    if pages_with_text == 0 and failed:  # unreadable is not the same as scanned: OCR would not help
        raise IngestError(name, "pdf.over_limits", pages=loaded.n_pages, failed=len(failed), error=failed[0])
    if pages_with_text == 0:
        raise IngestError(name, "pdf.scanned")
    if empty_pages:
        shown = ", ".join(map(str, empty_pages[:10])) + (" ..." if len(empty_pages) > 10 else "")
        loaded.warnings.append(f"{len(empty_pages)} page(s) have no text (scanned or blank): {shown}")


_PDF_HEADINGS = (
    (1, re.compile(r"^(?:[一二三四五六七八九十]+、|第[一二三四五六七八九十\d]+[章节部分篇]\s*)\S")),
    (2, re.compile(r"^[\U0001F300-\U0001FAFF\u2600-\u27BF\u25A0-\u25FF]\ufe0f?\s*\S")),
    (3, re.compile(r"^第[一二三四五六七八九十\d]+步")),
)
_SYMBOL_LEVEL = 2  # the emoji/symbol-bullet pattern above


def pdf_heading_level(line: str) -> int | None:
    """Heading level of a PDF line that looks like a section title, else None.

    PDFs carry no structure, but notes exported to PDF keep their markers: `一、…`, `第三步…`,
    or an emoji/symbol bullet such as `🔹 文件 4：ingest.py`. Short lines only, never sentences.
    """
    line = line.strip()
    if not line or len(line) > 40 or line.endswith(("。", "，", "；", ",")):
        return None
    for level, pattern in _PDF_HEADINGS:
        if pattern.match(line):
            return level
    return None


def _marker(line: str) -> str:
    """The leading symbol of a symbol-bullet line (variation selector dropped)."""
    return line.strip()[:1]


def _pdf_heading_levels(lines: list[str]) -> list[int | None]:
    """`pdf_heading_level` of each line, with symbol bullets that form a list demoted to text.

    An emoji/symbol line is a title when it introduces content, and a title may directly
    follow another (`🔹 最推荐你的部署方式：` then `🔹 llama.cpp + …`). But three or more
    lines in a row that start with the same symbol (`🔍 无需训练…`, `🔍 支持私有部署…`) are
    a list or the rows of a table: cutting a section at every row would leave one-line chunks.
    """
    levels = [pdf_heading_level(ln) for ln in lines]
    out = list(levels)
    rows = [i for i, ln in enumerate(lines) if ln.strip()]
    start = 0
    while start < len(rows):
        end = start
        first = rows[start]
        if levels[first] == _SYMBOL_LEVEL:
            while (end + 1 < len(rows) and levels[rows[end + 1]] == _SYMBOL_LEVEL
                   and _marker(lines[rows[end + 1]]) == _marker(lines[first])):
                end += 1
            if end - start >= 2:
                for j in rows[start:end + 1]:
                    out[j] = None
        start = end + 1
    return out


def _pdf_page_blocks(text: str, page_no: int, headings: list[tuple[float, str]],
                     font: dict[str, float] | None = None) -> Iterator[Block]:
    """Paragraph blocks of one page, with the heading path of heading-like lines seen so far.

    The heading line stays in the block text: it is what the reader sees. A heading with no
    text of its own before the next heading (`🔹 最推荐你的部署方式：` directly followed by
    `🔹 llama.cpp + …`) is not emitted as a block of its own (a chunk holding only a title
    matches many questions and answers none); its line is carried into the next block. A title
    that ends the page stays a block: the next page's text shares its heading path, so the
    splitter packs the two into one chunk anyway.

    `font` ({line without whitespace: rank}, see kb/ingest/pdf_layout.py) gives the headings by font
    size and weight, nested like Markdown; without it, marker lines give one level.
    """
    paras = [para.split("\n") for para in text.split("\n\n")]
    flat = [line for para in paras for line in para]
    if font is not None:
        levels = iter([font.get(heading_key(ln)) for ln in flat])
    else:
        levels = iter(_pdf_heading_levels(flat))  # over the whole page: a list may span paragraphs
    pending: list[str] = []
    for para_lines in paras:
        lines: list[str] = list(pending)
        pending.clear()
        only_headings = bool(lines)
        for line in para_lines:
            level = next(levels)
            if level is None:
                lines.append(line)
                if line.strip():
                    only_headings = False
                continue
            if lines and not only_headings:
                yield Block("\n".join(lines).strip(), page=page_no, heading_path=tuple(t for _, t in headings))
                lines = []
            lines.append(line)
            only_headings = True
            if font is not None:
                push_heading(headings, level, line.strip())
            else:
                # One level only: PDF markers are too irregular to nest reliably, and a stale
                # outer heading would mislabel every later section.
                headings[:] = [(level, line.strip())]
        if only_headings:
            pending.extend(ln for ln in lines if ln.strip())
        elif lines and "\n".join(lines).strip():
            yield Block("\n".join(lines).strip(), page=page_no, heading_path=tuple(t for _, t in headings))
    if pending:
        yield Block("\n".join(pending).strip(), page=page_no, heading_path=tuple(t for _, t in headings))


# Look-alike code points that PDFs printed with CJK fonts put in their text maps: Kangxi radicals
# (U+2F00-2FDF, `⽂` for `文`), CJK radicals supplement (U+2E80-2EFF), compatibility ideographs
# (U+F900-FAFF, U+2F800-2FA1F). NFKC maps each to the ordinary ideograph.
_CJK_COMPAT = re.compile("[\u2e80-\u2eff\u2f00-\u2fdf\uf900-\ufaff\U0002f800-\U0002fa1f]")


def fold_cjk_compat(text: str) -> str:
    """NFKC for the CJK look-alikes only, so stored text reads (and matches) as normal characters.

    Not NFKC of the whole text: that would also turn the full-width punctuation of Chinese
    prose (，？（）) into ASCII and change what the user wrote.
    """
    return _CJK_COMPAT.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


def clean_pdf_text(raw: str, heading_keys: Collection[str] = ()) -> str:
    """Undo visual line wrapping: rejoin wrapped lines into paragraphs (blank line between paragraphs).

    pypdf breaks a line at every visual wrap. A line that fills most of the page width and
    does not end in sentence punctuation continues on the next line; CJK joins without a space.
    CJK look-alike code points are folded to the ordinary characters first (`fold_cjk_compat`).
    A line in `heading_keys` (headings by font, whitespace removed) always stands alone.
    """
    lines = [ln.rstrip() for ln in fold_cjk_compat(raw).replace("\r", "\n").split("\n")]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        return ""
    widths = sorted(len(ln) for ln in lines)
    full = widths[int(len(widths) * 0.9)] if len(widths) >= 5 else widths[-1]
    paras: list[str] = []
    current = ""
    for ln in lines:
        is_heading = heading_key(ln) in heading_keys
        if current and (is_heading or pdf_heading_level(ln) is not None or ln.lstrip().startswith(("•", "- "))):
            paras.append(current)  # a heading or bullet starts a new line even after a full-width one
            current = ""
        if not current:
            current = ln.strip()
        else:
            current = _join(current, ln.strip())
        wrapped = (len(ln) >= 0.8 * full and full >= 20 and not ln.rstrip().endswith(tuple(_TERMINAL))
                   and not is_heading)
        if not wrapped:
            paras.append(current)
            current = ""
    if current:
        paras.append(current)
    # Short consecutive lines (lists, table rows) stay as lines of one paragraph.
    merged: list[str] = []
    for p in paras:
        if merged and len(p) < 0.8 * full and len(merged[-1].split("\n")[-1]) < 0.8 * full:
            merged[-1] += "\n" + p
        else:
            merged.append(p)
    return "\n\n".join(merged)


def _join(left: str, right: str) -> str:
    if left and right and _is_cjk(left[-1]) and _is_cjk(right[0]):
        return left + right
    if left.endswith("-") and right[:1].islower():
        return left[:-1] + right
    return left + ("" if not left or left[-1] in "（(“「《" else " ") + right


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x3000 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFFEF


def garbage_reason(text: str) -> str | None:
    """Why a page's text is unusable, or None. Mostly U+FFFD, or no letters of any script."""
    visible = [ch for ch in text if not ch.isspace()]
    if len(visible) < 8:
        return None
    replacement = sum(1 for ch in visible if ch == "\ufffd" or unicodedata.category(ch) in ("Co", "Cs"))
    if replacement / len(visible) > 0.3:
        return f"{replacement} of {len(visible)} characters are replacement characters"
    letters = sum(1 for ch in visible if ch.isalpha())
    if letters / len(visible) < 0.1:
        return "almost no letters of any script"
    return None
