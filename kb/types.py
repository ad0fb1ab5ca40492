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
    from kb.errors import KBError


def rows_label(first: int, last: int) -> str:
    """`第 12–20 行` (one row: `第 12 行`): how citations name a spreadsheet's rows."""
    return f"第 {first} 行" if first == last else f"第 {first}–{last} 行"


def slide_label(number: int) -> str:
    return f"第 {number} 张幻灯片"


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
    # Where in its file a chunk came from, beyond page and heading (stored as one JSON `origin`):
    # a spreadsheet's sheet and its (first, last) row, Excel's own numbers; OCR origin and confidence.
    sheet: str | None = None
    rows: tuple[int, int] | None = None
    ocr: bool = False
    ocr_confidence: float | None = None  # mean recognition score in [0, 1], higher is better

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)

    @property
    def is_slide(self) -> bool:
        """A PowerPoint chunk: its `page` is the slide number."""
        return self.file_name.lower().endswith((".pptx", ".pptm"))

    @property
    def locator(self) -> str:
        """Short human reference: `file p.3`, `file / 部署 > 第三步`, `数据.xlsx · Sheet1 · 第 12–20 行`,
        `报告.pptx · 第 3 张幻灯片 · 标题`; text read by OCR says so (`scan.pdf p.2 · OCR`)."""
        if self.sheet is not None:
            parts = [self.file_name, self.sheet] + ([rows_label(*self.rows)] if self.rows else [])
            return " · ".join(parts + (["OCR"] if self.ocr else []))
        if self.is_slide and self.page is not None:
            title = [h for h in self.heading_path if h != slide_label(self.page)]
            return " · ".join([self.file_name, slide_label(self.page)] + title)
        parts = [self.file_name]
        if self.page is not None:
            pages = f"p.{self.page}" if not self.page_end or self.page_end == self.page else f"p.{self.page}-{self.page_end}"
            parts.append(pages)
        if self.heading_path:
            parts.append("/ " + self.heading)
        return " ".join(parts) + (" · OCR" if self.ocr else "")

    def origin(self) -> dict[str, Any] | None:
        """The `origin` column: {"sheet", "rows": [a, b], "ocr": true, "ocr_confidence"}, absent keys
        omitted, None when there is nothing to say (PostgreSQL mirrors it as `origin jsonb`)."""
        out: dict[str, Any] = {}
        if self.sheet is not None:
            out["sheet"] = self.sheet
        if self.rows is not None:
            out["rows"] = [int(self.rows[0]), int(self.rows[1])]
        if self.ocr:
            out["ocr"] = True
        if self.ocr_confidence is not None:
            out["ocr_confidence"] = float(self.ocr_confidence)
        return out or None

    @staticmethod
    def origin_fields(origin: Mapping[str, Any] | None) -> dict[str, Any]:
        """Chunk keyword arguments from a stored `origin` (the inverse of `origin()`); unknown keys ignored."""
        if not origin:
            return {}
        out: dict[str, Any] = {}
        if origin.get("sheet") is not None:
            out["sheet"] = str(origin["sheet"])
        rows = origin.get("rows")
        if isinstance(rows, (list, tuple)) and len(rows) == 2:
            out["rows"] = (int(rows[0]), int(rows[1]))
        if origin.get("ocr"):
            out["ocr"] = True
        if origin.get("ocr_confidence") is not None:
            out["ocr_confidence"] = float(origin["ocr_confidence"])
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["heading_path"] = list(self.heading_path)
        d["rows"] = list(self.rows) if self.rows else None
        d["locator"] = self.locator
        return d

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "Chunk":
        """A chunk from `to_dict` output (a saved answer's citations); keys it does not know are ignored."""
        fields = {k: v for k, v in d.items() if k in Chunk.__dataclass_fields__}
        fields["heading_path"] = tuple(fields.get("heading_path") or ())
        rows = fields.get("rows")
        fields["rows"] = (int(rows[0]), int(rows[1])) if rows else None
        return Chunk(**fields)


@dataclass(frozen=True)
class OcrMark:
    """How a chunk read by OCR is shown on the Chunks page: its own confidence, its page's (both in
    [0, 1], higher is better, None when unknown) and the `[ocr] low_confidence` they are held against."""

    chunk_id: str
    file_name: str
    page: int | None
    confidence: float | None
    page_confidence: float | None
    threshold: float

    @property
    def lowest(self) -> float | None:
        known = [c for c in (self.confidence, self.page_confidence) if c is not None]
        return min(known) if known else None

    @property
    def low(self) -> bool:
        """The chunk or its page reads below the threshold: check its text against the page image."""
        return self.lowest is not None and self.lowest < self.threshold


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
    status: str  # added | unchanged | replaced | kept (original missing: left as it was) | failed
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
        from kb.messages import render

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


def _render(code: str, params: Mapping[str, Any], lang: str | None) -> str:
    from kb.messages import render

    return render(code, params, lang)


@dataclass(frozen=True)
class Problem:
    """One thing `check` found wrong: what (a message code), in which file, and what to do about it."""

    code: str
    params: Mapping[str, Any]
    file: str  # the file of the knowledge base it concerns, relative to its folder (e.g. "kb.sqlite")
    advice: str  # a message code: the action that fixes it (a command the user can run)
    advice_params: Mapping[str, Any] = field(default_factory=dict)

    def message(self, lang: str | None = None) -> str:
        return _render(self.code, self.params, lang)

    def advice_message(self, lang: str | None = None) -> str:
        return _render(self.advice, self.advice_params, lang)

    def __str__(self) -> str:
        return f"{self.file}: {self.message()} → {self.advice_message()}"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params), "file": self.file, "message": self.message(),
                "advice": self.advice, "advice_params": dict(self.advice_params),
                "advice_message": self.advice_message()}


@dataclass(frozen=True)
class CheckReport:
    """`ok` with no documents is an empty knowledge base; a damaged one is never `ok`."""

    kb: str
    ok: bool
    problems: tuple[Problem, ...]
    n_documents: int
    n_chunks: int
    n_vectors: int
    notes: tuple[Problem, ...] = ()  # not damage: e.g. index files behind after a crash (rebuilt on open)

    @property
    def empty(self) -> bool:
        return self.ok and self.n_documents == 0

    def to_dict(self) -> dict[str, Any]:
        return {"kb": self.kb, "ok": self.ok, "empty": self.empty, "n_documents": self.n_documents,
                "n_chunks": self.n_chunks, "n_vectors": self.n_vectors,
                "problems": [p.to_dict() for p in self.problems], "notes": [p.to_dict() for p in self.notes]}


@dataclass(frozen=True)
class RepairReport:
    """What `repair` did (each a message), and what `check` still finds afterwards."""

    kb: str
    actions: tuple[tuple[str, Mapping[str, Any]], ...]
    after: CheckReport

    def action_messages(self, lang: str | None = None) -> list[str]:
        return [_render(code, params, lang) for code, params in self.actions]

    def to_dict(self) -> dict[str, Any]:
        return {"kb": self.kb, "actions": self.action_messages(), "after": self.after.to_dict()}


@dataclass(frozen=True)
class KBInfo:
    """A knowledge base in the list. A damaged one is listed too, with what is wrong (`problem_code`)."""

    name: str
    n_documents: int
    n_chunks: int
    embedder: str
    dim: int
    index_bytes: int
    created_at: str
    problem_code: str | None = None
    problem_params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def damaged(self) -> bool:
        return self.problem_code is not None

    def problem_message(self, lang: str | None = None) -> str | None:
        return None if self.problem_code is None else _render(self.problem_code, self.problem_params, lang)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["problem_params"] = dict(self.problem_params)
        d["problem"] = self.problem_message()
        return d
