"""From a file's bytes to chunks with ids, embedding inputs and keyword terms (no I/O, no embedding).

Ids are deterministic, so re-ingesting the same file yields the same ids:
- document id: sha256("kb/file name")[:16] (a file name identifies a document within a knowledge base);
- chunk id: sha256("doc id/position/content hash")[:20].
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .config import ChunkingSettings
from .errors import IngestError
from .loaders import clean_file_name, file_kind, load_bytes
from .splitter import split_blocks
from .textproc import tokenize
from .types import Chunk, Document
from .store import utc_now


@dataclass(frozen=True)
class Source:
    """A file to ingest: a name and a way to read its bytes (a path, or bytes from an upload)."""

    name: str
    size: int
    read: Callable[[], bytes]

    @staticmethod
    def from_path(path: Path) -> "Source":
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise IngestError(path.name or str(path), f"cannot read the file ({exc.strerror or exc})") from exc
        if not path.is_file():
            raise IngestError(path.name or str(path), "is not a regular file")
        return Source(path.name, size, path.read_bytes)

    @staticmethod
    def from_bytes(name: str, data: bytes) -> "Source":
        return Source(name, len(data), lambda: data)


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
        raise IngestError(name, f"the file is {source.size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit: "
                                "split it, or raise [storage] max_file_mb in config.toml")
    if source.size == 0:
        raise IngestError(name, "the file is empty (0 bytes): nothing to index")
    return name


def embed_input(chunk: Chunk) -> str:
    """What the embedder and the keyword index see of a chunk: its heading path, then its text.
    Rebuild and repair re-embed stored chunks with the same function, so they match a fresh ingest."""
    return f"{chunk.heading}\n{chunk.text}" if chunk.heading_path else chunk.text


def prepared_from_chunks(document: Document, chunks: list[Chunk]) -> Prepared:
    """A document's stored chunks as if just prepared (re-embedding without the original file)."""
    inputs = [embed_input(c) for c in chunks]
    return Prepared(document, chunks, inputs, [tokenize(t) for t in inputs])


def prepare(kb: str, name: str, data: bytes, chunking: ChunkingSettings) -> Prepared:
    """Parse and chunk one file. Raises IngestError with the reason."""
    loaded = load_bytes(name, data)
    doc_id = doc_id_for(kb, name)
    chunks: list[Chunk] = []
    inputs: list[str] = []
    terms: list[list[str]] = []
    for position, piece in enumerate(split_blocks(loaded.blocks, chunking.size, chunking.overlap, chunking.min_chars)):
        content_hash = hashlib.sha256(piece.text.encode("utf-8")).hexdigest()
        chunk_id = hashlib.sha256(f"{doc_id}/{position}/{content_hash}".encode()).hexdigest()[:20]
        chunk = Chunk(id=chunk_id, kb=kb, doc_id=doc_id, file_name=name, position=position, text=piece.text,
                      content_hash=content_hash, page=piece.page, page_end=piece.page_end,
                      heading_path=piece.heading_path, kind=piece.kind)
        chunks.append(chunk)
        text = embed_input(chunk)
        inputs.append(text)
        terms.append(tokenize(text))
    if not chunks:
        raise IngestError(name, "no text could be extracted from the file: nothing to index")
    document = Document(doc_id=doc_id, kb=kb, file_name=name, file_hash=file_hash(data), size_bytes=len(data),
                        kind=loaded.kind, n_chunks=len(chunks), n_pages=loaded.n_pages, ingested_at=utc_now(),
                        metadata=loaded.metadata, warnings=tuple(loaded.warnings))
    return Prepared(document, chunks, inputs, terms)
