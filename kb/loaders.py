"""Turn a file's bytes into blocks of text that keep their provenance.

A block is a paragraph, a code block or a table, with the PDF page it came from or the
Markdown heading path above it. PDFs are read page by page with pypdf (a generator, so a
1,000-page file never sits in memory as text all at once). Markdown is parsed here with a
small line-based parser: it keeps headings (ATX and setext), front matter, fenced code and
tables, and needs no network. (`unstructured` would download a spaCy model the first time
it meets narrative text, which must never happen on the default path.)

Every problem becomes an `IngestError` naming the file and saying what to do.
"""
from __future__ import annotations

import io
import logging
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Iterator

from .errors import IngestError
from .pdf_layout import heading_key, page_headings, page_lines, push_heading

log = logging.getLogger(__name__)

SUPPORTED = {".pdf": "pdf", ".md": "markdown", ".markdown": "markdown", ".txt": "text"}
PDF_SECONDS_LIMIT = 300.0  # per file: a PDF bomb must not hang an ingest


@dataclass(frozen=True)
class Block:
    text: str
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    kind: str = "text"  # text | code | table


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


def clean_file_name(name: str) -> str:
    """Return the NFC-normalised name, or raise if it could escape the data folder or mislead.

    Names come from browsers and command lines; they must never become paths, so any path
    separator, `..`, control character or bidirectional override is refused outright.
    """
    shown = repr(name)[1:-1][:120]
    if not name or not name.strip():
        raise IngestError(shown or "(empty name)", "the file name is empty: give the file a name")
    if "\x00" in name or any(unicodedata.category(ch) == "Cc" for ch in name):
        raise IngestError(shown, "the file name contains control characters: rename the file")
    if "/" in name or "\\" in name:
        raise IngestError(shown, "the file name contains a path separator (/ or \\): upload the file itself, "
                                 "not a path")
    if any(ch in _BIDI_AND_INVISIBLE for ch in name):
        raise IngestError(shown, "the file name contains invisible or right-to-left override characters "
                                 "that can disguise its type: rename the file")
    name = unicodedata.normalize("NFC", name.strip())
    if name in (".", "..") or name.startswith("."):
        raise IngestError(shown, "the file name starts with a dot: rename the file")
    if len(name.encode("utf-8")) > 200:
        raise IngestError(shown, "the file name is longer than 200 bytes: shorten it")
    return name


def file_kind(name: str) -> str:
    ext = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if ext not in SUPPORTED:
        raise IngestError(name, f"unsupported file type {ext or '(no extension)'!r}: "
                                f"KB Studio reads {', '.join(sorted(SUPPORTED))}")
    return SUPPORTED[ext]


def load_bytes(name: str, data: bytes) -> LoadedFile:
    """Parse a file's bytes. Raises IngestError for anything that cannot be indexed."""
    kind = file_kind(name)
    if not data:
        raise IngestError(name, "the file is empty (0 bytes): nothing to index")
    if kind == "pdf":
        return _load_pdf(name, data)
    text = decode_text(name, data)
    if not text.strip():
        raise IngestError(name, "the file has no text (only whitespace): nothing to index")
    if kind == "markdown":
        metadata, body, warnings = split_front_matter(text)
        return LoadedFile(name, kind, iter(parse_markdown(body)), metadata=metadata, warnings=warnings)
    return LoadedFile(name, kind, iter(_paragraph_blocks(text)))


# ---------------------------------------------------------------- text decoding

def decode_text(name: str, data: bytes) -> str:
    """Decode UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030 (a superset of GBK/GB2312).

    Chinese users often have GBK files from Windows tools; UTF-8 is tried strictly first
    because GB18030 accepts almost any byte sequence.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        if b"\x00" in data[:4096]:
            raise IngestError(name, "the file looks like binary data, not text (it contains NUL bytes): "
                                    "check that it really is a text or Markdown file")
        candidates = ["utf-8", "gb18030"]
    for enc in candidates:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if _looks_binary(text):
            raise IngestError(name, "the file looks like binary data, not text: check that it really is a "
                                    "text or Markdown file")
        if enc == "gb18030":
            log.info("decoded file=%s encoding=gb18030", name)
        return text.replace("\r\n", "\n").replace("\r", "\n")
    raise IngestError(name, "the text cannot be decoded as UTF-8, UTF-16 or GB18030/GBK: save it as UTF-8 "
                            "and try again")


def _looks_binary(text: str) -> bool:
    sample = text[:20000]
    if not sample:
        return False
    bad = sum(1 for ch in sample if (unicodedata.category(ch) in ("Cc", "Co", "Cs", "Cn") and ch not in "\n\r\t\f")
              or ch == "\ufffd")
    return bad / len(sample) > 0.05


# ---------------------------------------------------------------- Markdown

_FRONT = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_TABLE_ROW = re.compile(r"^\s*\|")


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


def parse_markdown(text: str) -> list[Block]:
    """Blocks of a Markdown body, each with the heading path above it."""
    lines = text.split("\n")
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    para: list[str] = []

    def heading_path() -> tuple[str, ...]:
        return tuple(t for _, t in path)

    def flush() -> None:
        if para:
            body = "\n".join(para).strip()
            if body:
                blocks.append(Block(body, heading_path=heading_path()))
            para.clear()

    def set_heading(level: int, title: str) -> None:
        flush()
        while path and path[-1][0] >= level:
            path.pop()
        title = _strip_inline(title)
        if title:
            path.append((level, title))

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush()
            marker = fence.group(1)
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(marker[0] * len(marker)):
                j += 1
            code = "\n".join(lines[i:j + 1]).strip()
            blocks.append(Block(code, heading_path=heading_path(), kind="code"))
            i = j + 1
            continue
        atx = _ATX.match(line)
        if atx:
            set_heading(len(atx.group(1)), atx.group(2))
            i += 1
            continue
        if (line.strip() and not para and i + 1 < len(lines) and _SETEXT.match(lines[i + 1])
                and not _TABLE_ROW.match(line) and not line.lstrip().startswith(("-", "*", "+", ">"))):
            set_heading(1 if lines[i + 1].strip().startswith("=") else 2, line.strip())
            i += 2
            continue
        if _TABLE_ROW.match(line):
            flush()
            j = i
            while j < len(lines) and _TABLE_ROW.match(lines[j]):
                j += 1
            blocks.append(Block("\n".join(lines[i:j]).strip(), heading_path=heading_path(), kind="table"))
            i = j
            continue
        if not line.strip():
            flush()
        else:
            para.append(line.rstrip())
        i += 1
    flush()
    return blocks


def _strip_inline(title: str) -> str:
    title = re.sub(r"[*_`]+", "", title)
    title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
    return title.strip()


def _paragraph_blocks(text: str) -> list[Block]:
    return [Block(p.strip()) for p in re.split(r"\n\s*\n", text) if p.strip()]


# ---------------------------------------------------------------- PDF

_TERMINAL = "。！？；：!?;:）)”」"


def _load_pdf(name: str, data: bytes) -> LoadedFile:
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
    loaded.blocks = _pdf_blocks(name, reader, loaded)
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


def _pdf_blocks(name: str, reader: Any, loaded: LoadedFile) -> Iterator[Block]:
    """Yield the paragraphs of each page; report garbage pages; fail a file with no text layer."""
    started = time.monotonic()
    pages_with_text = 0
    empty_pages: list[int] = []
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
            loaded.warnings.append(f"page {page_no} extracts as garbage ({problem}); skipped. The PDF may use "
                                   "fonts without a text map")
            continue
        pages_with_text += 1
        yield from _pdf_page_blocks(text, page_no, headings, found if by_font else None)
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

    `font` ({line without whitespace: rank}, see kb/pdf_layout.py) gives the headings by font
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
