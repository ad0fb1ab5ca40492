"""From a file's bytes to chunks with ids, embedding inputs and keyword terms (no I/O, no embedding).

Ids are deterministic, so re-ingesting the same file yields the same ids:
- document id: sha256("kb/file name")[:16] (a file name identifies a document within a knowledge base);
- chunk id: sha256("doc id/position/content hash")[:20].
"""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kb.config import ChunkingSettings
from kb.errors import IngestError
from kb.ingest.loaders import OcrControl, clean_file_name, file_kind, load_bytes
from kb.ingest.splitter import split_blocks
from kb.search.textproc import FIELD_PREFIX, tokenize
from kb.types import Chunk, Document
from kb.store import utc_now


@dataclass(frozen=True)
class Source:
    """A file to ingest: a name and a way to read its bytes (a path, or bytes from an upload)."""

    name: str
    size: int
    read: Callable[[], bytes]

    @staticmethod
    def from_path(path: Path) -> "Source":
        """A file on disk, looked at now (name, type, size) and read later, when its turn comes.

        A batch can take minutes, and the file can change in that time: it is checked again when
        it is read (`_read_regular_file`), so a file swapped for a FIFO is refused instead of
        blocking the batch. Every problem is an `IngestError` naming the file: the batch reports
        it and goes on with the others.
        """
        shown = path.name or str(path)
        try:
            st = path.stat()
        except (OSError, ValueError) as exc:
            raise IngestError(shown, "ingest.cannot_read", path=str(path), reason=_reason(exc)) from exc
        _require_regular(shown, str(path), st.st_mode)
        return Source(path.name, st.st_size, lambda: _read_regular_file(path, st.st_size))

    @staticmethod
    def from_bytes(name: str, data: bytes) -> "Source":
        return Source(name, len(data), lambda: data)


def _read_regular_file(path: Path, expected: int) -> bytes:
    """The bytes of `path`, refused unless the file opened is a regular file of the size seen before.

    Opened with O_NONBLOCK, so that opening a FIFO or a device returns at once instead of waiting
    for a writer; the type is then checked on the opened descriptor (`fstat`), not on the path,
    so nothing can be swapped in between the check and the read. The size must still be the one
    the batch checked against the size limit: a file that grew meanwhile is not read into memory.
    """
    shown = path.name or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError) as exc:
        raise IngestError(shown, "ingest.cannot_read", path=str(path), reason=_reason(exc)) from exc
    try:
        st = os.fstat(fd)
        _require_regular(shown, str(path), st.st_mode)
        if st.st_size != expected:
            raise IngestError(shown, "ingest.file_changed", path=str(path), before=expected, after=st.st_size)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(st.st_size + 1)
    except OSError as exc:
        raise IngestError(shown, "ingest.cannot_read", path=str(path), reason=_reason(exc)) from exc
    finally:
        os.close(fd)
    if len(data) != expected:
        raise IngestError(shown, "ingest.file_changed", path=str(path), before=expected,
                          after=f"{expected}+" if len(data) > expected else len(data))
    return data


def _require_regular(shown: str, path: str, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        code = "ingest.not_regular_file.directory"
    elif stat.S_ISFIFO(mode):
        code = "ingest.not_regular_file.fifo"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        code = "ingest.not_regular_file.device"
    elif stat.S_ISSOCK(mode):
        code = "ingest.not_regular_file.socket"
    else:
        code = "ingest.not_regular_file"
    raise IngestError(shown, code, path=path)


def _reason(exc: BaseException) -> str:
    """The OS's reason without the path (the message names the file itself)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


@dataclass(frozen=True)
class Prepared:
    document: Document
    chunks: list[Chunk]
    embed_inputs: list[str]  # what the embedder sees: heading path + chunk text
    terms: list[list[str]]  # keyword-index tokens of the same text


def doc_id_for(kb: str, file_name: str) -> str:
    return hashlib.sha256(f"{kb}/{file_name}".encode("utf-8")).hexdigest()[:16]


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_source(source: Source, max_bytes: int) -> str:
    """Validate name, type and size before reading a byte. Returns the clean file name."""
    name = clean_file_name(source.name)
    file_kind(name)
    if source.size > max_bytes:
        raise IngestError(name, "ingest.too_large", size_mb=f"{source.size / 1e6:.1f}",
                          limit_mb=f"{max_bytes / 1e6:.0f}")
    if source.size == 0:
        raise IngestError(name, "ingest.empty_file")
    return name


def document_title(kind: str, metadata: dict, first_heading: str | None) -> str:
    """What the document says it is.

    A note's front-matter title first (its author wrote it), then its first heading. A PDF's
    first heading first: its info title is often whatever the producing program put there (the
    file name, a template name, "untitled").
    """
    meta = str(metadata.get("title") or "").strip()
    first = (first_heading or "").strip()
    return (first or meta)[:120] if kind == "pdf" else (meta or first)[:120]


def context_header(heading_path: tuple[str, ...]) -> str:
    """The short header the embedder reads before a chunk: its heading path, outermost first.

    The path starts with the document's own title when it has one (`# ...` in a note, the
    largest line of a PDF). Prefixing the title or file name again was measured and dropped:
    it cost a question on one public set and gained none on the other.
    """
    return " > ".join(heading_path)


def field_terms(file_name: str, title: str) -> list[str]:
    """Keyword terms of a document's fields, each prefixed with its field (kb.search.textproc.FIELD_PREFIX).

    They sit in the same BM25 index as the body terms, so each field term gets its own document
    frequency (a file name word is common within its document, rare across the knowledge base):
    a per-field BM25 summed with the body's, the "most fields" form of BM25F.

    The heading path is not a separate field: it stays in the body terms, as the chunk's first
    line. Measured on both public sets, a separate heading field gained one question on one
    set and lost two first places on the other (`kb eval --ablate fields`, see the README).
    """
    stem = file_name.rsplit(".", 1)[0]
    out = [f"{FIELD_PREFIX['file']}{t}" for t in tokenize(stem)]
    out += [f"{FIELD_PREFIX['title']}{t}" for t in tokenize(title)] if title else []
    return out


def embed_input(chunk: Chunk) -> str:
    """What the embedder sees of a chunk: its context header, then its text. Rebuild and repair re-embed
    stored chunks with the same function, so they match a fresh ingest."""
    header = context_header(chunk.heading_path)
    return f"{header}\n{chunk.text}" if header else chunk.text


def chunk_terms(chunk: Chunk, title: str | None) -> list[str]:
    """Keyword terms of a chunk: its heading path and text, and the field terms of its file name and title."""
    body = f"{chunk.heading}\n{chunk.text}" if chunk.heading_path else chunk.text
    return tokenize(body) + field_terms(chunk.file_name, title or "")


def prepared_from_chunks(document: Document, chunks: list[Chunk]) -> Prepared:
    """A document's stored chunks as if just prepared (re-embedding without the original file)."""
    first = chunks[0].heading_path[0] if chunks and chunks[0].heading_path else None
    title = document_title(document.kind, document.metadata, first)
    return Prepared(document, chunks, [embed_input(c) for c in chunks], [chunk_terms(c, title) for c in chunks])


def prepare(kb: str, name: str, data: bytes, chunking: ChunkingSettings, ocr: OcrControl | None = None) -> Prepared:
    """Parse and chunk one file. Raises IngestError with the reason.

    Embedding input: a context header (the heading path) and the text. Keyword terms: those of
    the heading path and the text, and the field terms of file name and title. `ocr`: progress,
    cancel and threshold for the pages read by OCR (kb/ingest/loaders.py OcrControl).
    """
    loaded = load_bytes(name, data, ocr)
    doc_id = doc_id_for(kb, name)
    chunks: list[Chunk] = []
    inputs: list[str] = []
    terms: list[list[str]] = []
    title: str | None = None
    for position, piece in enumerate(split_blocks(loaded.blocks, chunking.size, chunking.overlap, chunking.min_chars)):
        if title is None:  # the first chunk decides (a PDF's title is in its metadata, a note's in its # line)
            title = document_title(loaded.kind, loaded.metadata, piece.heading_path[0] if piece.heading_path else None)
        content_hash = hashlib.sha256(piece.text.encode("utf-8")).hexdigest()
        chunk_id = hashlib.sha256(f"{doc_id}/{position}/{content_hash}".encode()).hexdigest()[:20]
        chunk = Chunk(id=chunk_id, kb=kb, doc_id=doc_id, file_name=name, position=position, text=piece.text,
                      content_hash=content_hash, page=piece.page, page_end=piece.page_end,
                      heading_path=piece.heading_path, kind=piece.kind, sheet=piece.sheet, rows=piece.rows,
                      ocr=piece.ocr, ocr_confidence=piece.ocr_confidence)
        chunks.append(chunk)
        inputs.append(embed_input(chunk))
        terms.append(chunk_terms(chunk, title))
    if not chunks:
        raise IngestError(name, "ingest.nothing_extracted")
    document = Document(doc_id=doc_id, kb=kb, file_name=name, file_hash=file_hash(data), size_bytes=len(data),
                        kind=loaded.kind, n_chunks=len(chunks), n_pages=loaded.n_pages, ingested_at=utc_now(),
                        metadata=loaded.metadata, warnings=tuple(loaded.warnings))
    return Prepared(document, chunks, inputs, terms)
