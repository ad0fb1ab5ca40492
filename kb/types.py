"""Typed data passed between the core and its callers (pages, CLI, tests).

Scores: every score here is "higher is better". Dense scores are cosine similarities
in [-1, 1] (vectors are L2-normalised); BM25 scores are >= 0 and unbounded; the fused
score is a reciprocal-rank-fusion sum (or, in single-retriever modes, that retriever's score).
Ranks are 1-based; ``None`` means the retriever did not return the chunk.
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from .errors import KBError


@dataclass(frozen=True)
class Chunk:
    """One retrievable piece of a document, with full provenance."""

    id: str  # deterministic: hash of (kb, doc_id, position, content hash)
    kb: str
    doc_id: str
    file_name: str
    position: int  # 0-based order within the document
    text: str
    content_hash: str  # sha256 of text
    page: int | None = None  # 1-based PDF page of the chunk's first character
    page_end: int | None = None  # last page, when a chunk spans pages
    heading_path: tuple[str, ...] = ()  # Markdown headings, outermost first
    kind: str = "text"  # text | code | table

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)

    @property
    def locator(self) -> str:
        """Short human reference: `file p.3` or `file / 部署 > 第三步`."""
        parts = [self.file_name]
        if self.page is not None:
            pages = f"p.{self.page}" if not self.page_end or self.page_end == self.page else f"p.{self.page}-{self.page_end}"
            parts.append(pages)
        if self.heading_path:
            parts.append("/ " + self.heading)
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["heading_path"] = list(self.heading_path)
        return d


@dataclass(frozen=True)
class Document:
    doc_id: str
    kb: str
    file_name: str
    file_hash: str  # sha256 of the file bytes
    size_bytes: int
    kind: str  # pdf | markdown | text
    n_chunks: int
    n_pages: int | None
    ingested_at: str  # ISO 8601, UTC
    metadata: dict[str, Any] = field(default_factory=dict)  # front matter, PDF info
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["warnings"] = list(self.warnings)
        return d


@dataclass(frozen=True)
class FileResult:
    """What happened to one file in an ingest: added, unchanged, replaced or failed."""

    file_name: str
    status: str  # added | unchanged | replaced | failed
    doc_id: str | None = None
    n_chunks: int = 0
    n_embedded: int = 0  # texts actually sent to the embedder (cache misses)
    seconds: float = 0.0
    error: str | None = None  # the reason in the process language (see error_message for another)
    warnings: tuple[str, ...] = ()
    error_code: str | None = None  # kb.messages code of the reason, with its parameters
    error_params: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def failed(file_name: str, exc: "KBError", doc_id: str | None = None, seconds: float = 0.0) -> "FileResult":
        return FileResult(file_name, "failed", doc_id, seconds=seconds, error=exc.message(), error_code=exc.code,
                          error_params=dict(exc.params))

    def error_message(self, lang: str | None = None) -> str | None:
        """The reason in `lang` (zh / en); None when the file did not fail."""
        if self.error_code is None:
            return self.error
        from .messages import render

        return render(self.error_code, self.error_params, lang)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["warnings"] = list(self.warnings)
        d["error_params"] = dict(self.error_params)
        return d


@dataclass(frozen=True)
class IngestReport:
    kb: str
    files: tuple[FileResult, ...]
    seconds: float

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def ok(self) -> bool:
        return all(f.status != "failed" for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {"kb": self.kb, "seconds": self.seconds, "files": [f.to_dict() for f in self.files]}


@dataclass(frozen=True)
class CheckReport:
    kb: str
    ok: bool
    problems: tuple[str, ...]
    n_documents: int
    n_chunks: int
    n_vectors: int

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["problems"] = list(self.problems)
        return d


@dataclass(frozen=True)
class KBInfo:
    name: str
    n_documents: int
    n_chunks: int
    embedder: str
    dim: int
    index_bytes: int
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
